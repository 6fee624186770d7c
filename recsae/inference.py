"""Predictions for big data: scores at (user, item) pairs and top-k lists, in user batches.

:func:`recsae.training.predict` returns every output ``[n_users, n_columns]`` at once; on
MovieLens-25M that is 38 GB. Here a batch of users at a time goes through the network:

* the first layer reads only the non-zero inputs of the batch's rows (a weighted
  ``torch.nn.functional.embedding_bag`` over the input columns: the product of a CSR row
  with the weight), the small hidden layers are the model's own;
* :func:`predict_pairs` evaluates the output layer only at the requested columns (a gather
  of its weight rows), so its cost is O(inputs + pairs);
* :func:`top_k` computes one block of outputs ``[batch, n_items]``, and
  :func:`recsae.ranking.rank_top_k` ranks it with the seen items excluded.

Inputs are the users' *full* training rows, dense or a SciPy CSR matrix (the same rows give
the same results, bit for bit). The outputs equal :func:`recsae.training.predict`'s to float
rounding (only the order of a sum differs), which ``tests/test_inference.py`` checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsae.model import StackedAutoencoder
from recsae.ranking import rank_top_k
from recsae.splits import canonical_csr


def input_rows(inputs: Any, users: np.ndarray) -> sp.csr_matrix:
    """Rows ``users`` of a user matrix (dense array, torch tensor or SciPy sparse) as a
    canonical float32 CSR (:func:`recsae.splits.canonical_csr`)."""
    if sp.issparse(inputs):
        return canonical_csr(sp.csr_matrix(inputs)[users])
    if isinstance(inputs, torch.Tensor):
        return canonical_csr(inputs[torch.as_tensor(users)].detach().cpu().numpy())
    return canonical_csr(np.asarray(inputs)[users])


def csr_first_layer(rows: sp.csr_matrix, weight_t: torch.Tensor, bias: torch.Tensor,
                    sparse_grad: bool = False) -> torch.Tensor:
    """The first linear layer of CSR rows ``[batch, n_columns]``: ``rows @ weight_t + bias``
    from the non-zero entries only, ``[batch, n_out]`` on ``weight_t``'s device.

    Args:
        weight_t: the layer's weight, transposed: ``[n_columns, n_out]`` (one row per
            input column, as an ``EmbeddingBag`` holds it).
        sparse_grad: give ``weight_t`` a sparse gradient (its rows of the present columns).
    """
    device = weight_t.device
    cols = torch.as_tensor(rows.indices, dtype=torch.int64, device=device)
    offsets = torch.as_tensor(rows.indptr[:-1], dtype=torch.int64, device=device)
    vals = torch.as_tensor(rows.data, dtype=torch.float32, device=device)
    return F.embedding_bag(cols, weight_t, offsets, mode="sum", per_sample_weights=vals,
                           sparse=sparse_grad) + bias


def last_hidden(model: StackedAutoencoder, z_first: torch.Tensor) -> torch.Tensor:
    """The last hidden layer's output ``[batch, hidden[-1]]`` from the first layer's
    pre-activation (dropout as the model's mode says)."""
    h = model.dropout(model.activation(z_first))
    for i in range(1, len(model.layers) - 1):
        h = model._hidden_layer(i, h)
    return h


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, not {batch_size!r}.")


@torch.no_grad()
def predict_pairs(model: StackedAutoencoder, inputs: Any, rows: np.ndarray, cols: np.ndarray,
                  batch_size: int = 1024) -> np.ndarray:
    """The model's outputs (eval mode) at the pairs ``(rows[q], cols[q])``.

    Args:
        model: a :class:`StackedAutoencoder` (on any device).
        inputs: the users' input rows ``[n_users, n_columns]``: dense, torch or SciPy CSR.
        rows, cols: int ``[m]``: the user row and output column of each pair, any order.
        batch_size: users per batch.

    Returns:
        float32 ``[m]``, raw outputs (clip them to the rating scale yourself).
    """
    _check_batch_size(batch_size)
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    if rows.ndim != 1 or rows.shape != cols.shape:
        raise ValueError(f"rows {rows.shape} and cols {cols.shape} must be 1-D of one length.")
    if rows.size and not 0 <= rows.min() <= rows.max() < inputs.shape[0]:
        raise ValueError(f"rows must index the {inputs.shape[0]} input rows.")
    if cols.size and not 0 <= cols.min() <= cols.max() < model.n_inputs:
        raise ValueError(f"cols must be output columns in [0, {model.n_inputs}).")
    model.eval()
    first, last = model.layers[0], model.layers[-1]
    weight_t, device = first.weight.t().contiguous(), first.weight.device
    out = np.empty(rows.size, dtype=np.float32)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    users = np.unique(sorted_rows)
    for start in range(0, users.size, batch_size):
        chunk = users[start:start + batch_size]
        h = last_hidden(model, csr_first_layer(input_rows(inputs, chunk), weight_t, first.bias))
        lo = np.searchsorted(sorted_rows, chunk[0], side="left")
        hi = np.searchsorted(sorted_rows, chunk[-1], side="right")
        sel = order[lo:hi]
        local = torch.as_tensor(np.searchsorted(chunk, rows[sel]), device=device)
        c = torch.as_tensor(cols[sel], device=device)
        out[sel] = ((h[local] * last.weight[c]).sum(dim=1) + last.bias[c]).cpu().numpy()
    return out


def _exclusion_block(exclude: Any, start: int, stop: int, n_items: int) -> np.ndarray:
    """Rows ``start:stop`` of ``exclude`` (SciPy sparse: its non-zero entries; dense: its
    truth values) as a dense boolean ``[stop - start, n_items]``."""
    if exclude is None:
        return np.zeros((stop - start, n_items), dtype=bool)
    if sp.issparse(exclude):
        block = sp.csr_matrix(exclude[start:stop])
        mask = np.zeros((stop - start, n_items), dtype=bool)
        keep = (block.indices < n_items) & (block.data != 0)
        row_of = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        mask[row_of[keep], block.indices[keep]] = True
        return mask
    return np.asarray(exclude[start:stop])[:, :n_items].astype(bool)


@torch.no_grad()
def top_k(model: StackedAutoencoder, inputs: Any, n_rating_columns: int, k: int = 10,
          exclude: Any = None, batch_size: int = 1024) -> np.ndarray:
    """Each user's ``k`` best-scored items, seen items excluded, a batch of users at a time.

    Args:
        model, inputs, batch_size: as in :func:`predict_pairs`.
        n_rating_columns: the items are the first ``n_rating_columns`` output columns.
        k: the cut-off, ``1 <= k <= n_rating_columns``.
        exclude: ``[n_users, >= n_rating_columns]`` items never returned (seen items):
            a SciPy sparse matrix (its non-zero entries) or a dense boolean array; None:
            nothing excluded.

    Returns:
        int64 ``[n_users, k]`` item columns, best first, padded with
        :data:`recsae.ranking.NO_ITEM`: :func:`recsae.ranking.rank_top_k` of the outputs.
    """
    _check_batch_size(batch_size)
    n_users = inputs.shape[0]
    if not 1 <= n_rating_columns <= model.n_inputs:
        raise ValueError(f"n_rating_columns must be in [1, {model.n_inputs}], "
                         f"not {n_rating_columns}.")
    if exclude is not None and (exclude.shape[0] != n_users
                                or exclude.shape[1] < n_rating_columns):
        raise ValueError(f"exclude {exclude.shape} must be [{n_users}, >= {n_rating_columns}].")
    model.eval()
    first, last = model.layers[0], model.layers[-1]
    weight_t = first.weight.t().contiguous()
    w_items, b_items = last.weight[:n_rating_columns], last.bias[:n_rating_columns]
    result = np.empty((n_users, k), dtype=np.int64)
    for start in range(0, n_users, batch_size):
        stop = min(start + batch_size, n_users)
        h = last_hidden(model, csr_first_layer(input_rows(inputs, np.arange(start, stop)),
                                               weight_t, first.bias))
        scores = torch.addmm(b_items, h, w_items.t()).cpu().numpy()
        result[start:stop] = rank_top_k(scores, _exclusion_block(exclude, start, stop,
                                                                 n_rating_columns), k)
    return result
