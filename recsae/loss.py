r"""The masked loss: score a reconstruction only where a rating was observed.

A user's row is mostly zeros, and a zero means "not rated", not "rated zero". So the
reconstruction error is summed over the observed entries only (mask :math:`m_{ui} = 1`):

.. math::

    \mathrm{SSE} = \sum_{u, i} m_{ui} \, (\hat r_{ui} - r_{ui})^2, \qquad
    n = \sum_{u, i} m_{ui}, \qquad \mathrm{MSE} = \mathrm{SSE} / n.

Returning the pair ``(sse, n)`` rather than the mean lets an epoch's RMSE be summed exactly
over minibatches (not a mean of per-batch RMSEs). Every trainer in recsae uses this one
function: the user autoencoder (:mod:`recsae.training`) and I-AutoRec (:mod:`recsae.autorec`).
"""

from __future__ import annotations

import torch


def masked_sse(pred: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squared errors over the masked entries, and how many there are.

    Args:
        pred, target: ``[batch, n]``; mask: ``[batch, n]``, boolean or 0/1 float
            (1 = observed). Entries outside the mask contribute nothing, whatever they hold.

    Returns:
        ``(sse, n)``: 0-d tensors; ``sse / n`` is the batch MSE.
    """
    m = mask.to(pred.dtype)
    diff = (pred - target) * m
    return (diff * diff).sum(), m.sum()
