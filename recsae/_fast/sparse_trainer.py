"""The corrected trainer's CPU path: :class:`SparseTrainer` equals
:class:`recsae.training.DenseTrainer` (the plain PyTorch epoch, :func:`recsae.training.train_epoch`)
up to float rounding; ``tests/test_sparse.py`` proves it. With ``optimizer="sparse_adam"``
it equals :class:`recsae.sparse_torch.SparseTorchTrainer` (lazy Adam,
:mod:`recsae._fast.lazy_adam`; ``tests/test_lazy_adam.py``), its gradients computed with the
minibatch's entries grouped by column (:mod:`recsae._fast.grouped`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from recsae._fast import flat_optim, grouped, lazy_adam, sparse
from recsae.model import StackedAutoencoder


class SparseTrainer:
    """The same training computed on the CPU from the non-zero entries only, on one flat
    parameter array (:mod:`recsae._fast.sparse`, :mod:`recsae._fast.flat_optim`): ~20x fewer
    operations than the dense step on ML-100K, in two numba calls per minibatch. The
    model's parameters are written back by :meth:`restore`; the learning rate and the
    batch order are the caller's, as on the dense path."""

    def __init__(self, model: StackedAutoencoder, fit_input: Any, n_rating_columns: int,
                 queries: tuple[np.ndarray, np.ndarray], config: Any) -> None:
        """``fit_input``: dense ``[n_users, n_columns]`` or a canonical SciPy CSR
        (:func:`recsae.splits.canonical_csr`); the same arrays, the same results."""
        self.model, self.batch_size = model, config.batch_size
        self.data = sparse.SparseRows(fit_input, n_rating_columns)
        # Work buffers for one batch, never more rows than there are (batch_size may be huge).
        self.net = sparse.FlatNet(model, max_rows=max(1, min(config.batch_size,
                                                               self.data.n_rows)))
        self.lazy = config.optimizer == "sparse_adam"
        self.grouper = grouped.ColumnGrouper(self.net) if self.lazy else None
        self.optimizer: Any = (
            lazy_adam.LazyAdam(self.net, config.weight_decay) if self.lazy
            else flat_optim.FlatOptimizer(config.optimizer, self.net.theta.size,
                                          config.weight_decay, config.momentum))
        rows, cols = queries
        self.query_indptr = np.zeros(self.data.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.data.n_rows), out=self.query_indptr[1:])
        if rows.size and np.any(np.diff(rows) < 0):
            raise ValueError("queries must be sorted by row.")
        self.query_cols = np.ascontiguousarray(cols, dtype=np.int64)

    def train_epoch(self, order: torch.Tensor, lr: float) -> float:
        """See :meth:`recsae.training.DenseTrainer.train_epoch`."""
        order_np = order.numpy()
        total_sse, total_count = 0.0, 0
        for start in range(0, self.data.n_rows, self.batch_size):
            rows = order_np[start:start + self.batch_size]
            if self.lazy:  # zero only what the batch touches; read each touched row once
                self.optimizer.use_rows(*self.grouper.group(self.data, rows))
                sse, count = self.grouper.gradients()
            else:
                sse, count = self.net.minibatch_gradients(self.data, rows)
            self.optimizer.step(self.net.theta, self.net.grad, lr)
            total_sse, total_count = total_sse + sse, total_count + count
        return math.sqrt(total_sse / max(total_count, 1))

    def outputs(self) -> np.ndarray:
        """See :meth:`recsae.training.DenseTrainer.outputs`."""
        if self.lazy:
            return self.grouper.outputs_at(self.data, self.query_indptr, self.query_cols)
        return self.net.outputs_at(self.data, self.query_indptr, self.query_cols)

    def snapshot(self) -> np.ndarray:
        """A copy of the flat parameters."""
        return self.net.theta.copy()

    def restore(self, snapshot: np.ndarray | None) -> None:
        """Write a snapshot (None: the current parameters) into the model."""
        self.net.store(self.model, snapshot)
