"""The corrected trainer on sparse data in plain PyTorch, on any device (``fit(sparse="torch")``).

:func:`recsae.training.train_epoch` multiplies full-width rows ``[batch, n_columns]``: on
MovieLens-25M a batch of 64 users is 15 MB of mostly zeros, and the output layer scores
every column although the loss reads ~1% of them. Here, from the user matrix as CSR:

* the first layer reads only the non-zero inputs: a weighted ``EmbeddingBag`` over the
  input columns (:func:`recsae.inference.csr_first_layer`);
* the small hidden layers are the model's own;
* the output layer is evaluated only at the scored entries, a gather of its weight rows
  (``F.embedding``): the loss is :func:`recsae.loss.masked_sse`'s, over those entries.

Same loss and gradients as :class:`recsae.training.DenseTrainer` up to float rounding (the
tests compare them). With ``optimizer="sparse_adam"`` the first layer's and the output
layer's weights get *sparse* gradients (their touched rows) and ``torch.optim.SparseAdam``
updates them; ``torch.optim.Adam`` the rest. This is the reference of the CPU engine's
lazy Adam (:mod:`recsae._fast.lazy_adam`), and the GPU path for big data.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from recsae.inference import csr_first_layer, last_hidden, predict_pairs
from recsae.model import StackedAutoencoder
from recsae.splits import canonical_csr
from recsae.trainconfig import TrainConfig, build_optimizer


def _segments(indptr: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions in a CSR's entry arrays of the entries of ``rows`` (row by row), and the
    batch row of each."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    batch_row = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), lengths)
    first = torch.cumsum(lengths, 0) - lengths  # where each row's entries start in the batch
    pos = torch.arange(batch_row.numel(), device=rows.device) + (starts - first)[batch_row]
    return pos, batch_row


class SparseTorchTrainer:
    """:class:`recsae.training.DenseTrainer`'s four methods from a CSR, see the module
    docstring. The first layer's weight (transposed, one row per input column) and the
    output layer's bias (one row per column) are held here while training and written
    into the model by :meth:`snapshot`, :meth:`restore` and :meth:`outputs`.

    Args:
        fit_input: ``[n_users, n_columns]``, dense or SciPy CSR; each row is its own target,
            scored on its non-zero rating columns (``< n_rating_columns``).
        queries: ``(rows, cols)`` int64 ``[m]``: the entries :meth:`outputs` predicts.
    """

    def __init__(self, model: StackedAutoencoder, fit_input: Any, n_rating_columns: int,
                 queries: tuple[np.ndarray, np.ndarray], config: TrainConfig) -> None:
        first, last = model.layers[0], model.layers[-1]
        self.device = first.weight.device
        self.model, self.batch_size, self.queries = model, config.batch_size, queries
        self.csr = fit_input if sp.issparse(fit_input) else canonical_csr(fit_input)
        self.n_rows = self.csr.shape[0]
        scored = self.csr.indices < n_rating_columns
        row_of = np.repeat(np.arange(self.n_rows), np.diff(self.csr.indptr))
        scored_indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of[scored], minlength=self.n_rows), out=scored_indptr[1:])

        def on_device(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=self.device)

        self.indptr = on_device(self.csr.indptr, torch.int64)
        self.scored_indptr = on_device(scored_indptr, torch.int64)
        self.scored_cols = on_device(self.csr.indices[scored], torch.int64)
        self.scored_vals = on_device(self.csr.data[scored], torch.float32)
        self.w_in = nn.Parameter(first.weight.detach().t().contiguous())  # [n_columns, h1]
        self.b_out = nn.Parameter(last.bias.detach().clone().unsqueeze(1))  # [n_columns, 1]
        self.lazy = config.optimizer == "sparse_adam"
        self.weight_decay = config.weight_decay
        dense = [first.bias, *(p for layer in model.layers[1:-1] for p in layer.parameters())]
        rows = [self.w_in, last.weight, self.b_out]
        if self.lazy:  # SparseAdam has no weight decay: added to the sparse gradients below
            self.optimizers = [torch.optim.SparseAdam(rows, lr=config.lr),
                               build_optimizer(dense, replace(config, optimizer="adam"))]
        else:
            self.optimizers = [build_optimizer(dense + rows, config)]

    def _store(self) -> None:
        """Write the held weights into the model."""
        with torch.no_grad():
            self.model.layers[0].weight.copy_(self.w_in.t())
            self.model.layers[-1].bias.copy_(self.b_out[:, 0])

    def minibatch_loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sse, count)`` of the batch ``rows`` (int64 on the device), with autograd:
        :func:`recsae.loss.masked_sse` of the full-width forward pass, from the non-zeros."""
        csr_rows = self.csr[rows.cpu().numpy()]
        h = last_hidden(self.model, csr_first_layer(csr_rows, self.w_in,
                                                    self.model.layers[0].bias, self.lazy))
        pos, batch_row = _segments(self.scored_indptr, rows)
        cols = self.scored_cols[pos]
        weight = F.embedding(cols, self.model.layers[-1].weight, sparse=self.lazy)
        bias = F.embedding(cols, self.b_out, sparse=self.lazy)[:, 0]
        diff = (h[batch_row] * weight).sum(dim=1) + bias - self.scored_vals[pos]
        return (diff * diff).sum(), torch.tensor(float(cols.numel()), device=self.device)

    def _add_lazy_weight_decay(self) -> None:
        """``weight_decay * param`` added to the touched rows' sparse gradients."""
        for p in (self.w_in, self.model.layers[-1].weight, self.b_out):
            if p.grad is None:
                continue
            g = p.grad.coalesce()
            values = g.values() + self.weight_decay * p.detach()[g.indices()[0]]
            p.grad = torch.sparse_coo_tensor(g.indices(), values, p.shape, is_coalesced=True,
                                             check_invariants=False)

    def train_epoch(self, order: torch.Tensor, lr: float) -> float:
        """See :meth:`recsae.training.DenseTrainer.train_epoch`."""
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr
        self.model.train()
        order = order.to(self.device)
        total_sse, total_count = torch.zeros((), device=self.device), 0.0
        for start in range(0, self.n_rows, self.batch_size):
            for optimizer in self.optimizers:
                optimizer.zero_grad(set_to_none=True)
            sse, count = self.minibatch_loss(order[start:start + self.batch_size])
            (sse / count.clamp(min=1.0)).backward()
            if self.lazy and self.weight_decay:
                self._add_lazy_weight_decay()
            for optimizer in self.optimizers:
                optimizer.step()
            total_sse, total_count = total_sse + sse.detach(), total_count + count
        return math.sqrt(float(total_sse) / max(float(total_count), 1.0))

    def outputs(self) -> np.ndarray:
        """The model's outputs (eval mode) at the queried entries, ``[m]``."""
        self._store()
        return predict_pairs(self.model, self.csr, *self.queries,
                             batch_size=max(self.batch_size, 1024))

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights, for :meth:`restore`."""
        self._store()
        return copy.deepcopy(self.model.state_dict())

    def restore(self, snapshot: dict[str, torch.Tensor] | None) -> None:
        """Put a :meth:`snapshot` back into the model (None: the current weights)."""
        if snapshot is None:
            self._store()
        else:
            self.model.load_state_dict(snapshot)
