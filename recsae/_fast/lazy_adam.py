"""Lazy (row-sparse) Adam on a :class:`recsae._fast.sparse.FlatNet`: ``optimizer="sparse_adam"``.

It equals :class:`recsae.sparse_torch.SparseTorchTrainer`'s optimizer, which is torch's own:
``torch.optim.SparseAdam`` on the rows of the first layer's weight (one row per input
column, as an ``EmbeddingBag`` holds it) and of the output layer's weight and bias (one
row per output column), ``torch.optim.Adam`` on the rest (the first layer's bias and the
small hidden layers). ``tests/test_lazy_adam.py`` proves it to float rounding.

SparseAdam's rule: only the rows a minibatch touched (input columns present in it; output
columns scored in it) change, their moments included; the bias correction uses the
global step count. ``weight_decay`` is added to the gradient of those rows (and, as in
``torch.optim.Adam``, to every dense parameter's). Per minibatch the work is O(entries of
the batch x hidden width + columns + the hidden layers): one pass over the columns' counts
(:func:`recsae._fast.grouped._group`), never over the whole first or output layer
(columns x hidden width). An epoch costs
O(ratings x hidden width + minibatches x columns). The trainer lists the touched rows while
it sorts the minibatch by column (:meth:`recsae._fast.grouped.ColumnGrouper.group`) and
passes them to :meth:`LazyAdam.use_rows`.
"""

from __future__ import annotations

import math

import numpy as np

from recsae._fast.flat_optim import ADAM_BETAS, ADAM_EPS, _adam
from recsae._fast.kernels import jit_kernel
from recsae._fast.sparse import FlatNet


class LazyAdam:
    """The optimizer of one FlatNet's training, with the column-grouped kernel
    (:class:`recsae._fast.grouped.ColumnGrouper`): per minibatch, :meth:`use_rows` with the
    rows :meth:`~recsae._fast.grouped.ColumnGrouper.group` lists, the gradients, then
    :meth:`step`.
    """

    def __init__(self, net: FlatNet, weight_decay: float = 0.0) -> None:
        self.net, self.weight_decay = net, float(weight_decay)
        size, sizes = net.theta.size, net.sizes
        self.first = np.zeros(size, dtype=np.float32)   # exp_avg
        self.second = np.zeros(size, dtype=np.float32)  # exp_avg_sq
        self.steps = 0
        last = sizes.size - 2
        # [dense_lo, dense_hi): the first layer's bias and every hidden layer (W0 comes
        # first in theta, the output layer's weight and bias last).
        self.dense_lo, self.dense_hi = int(net.b_off[0]), int(net.w_off[last])
        self.last = last
        n_in, n_out = int(sizes[0]), int(sizes[-1])
        self.in_rows = np.zeros(n_in, dtype=np.int64)    # the touched rows, first n_in_rows
        self.out_rows = np.zeros(n_out, dtype=np.int64)
        self.n_in_rows = self.n_out_rows = 0

    def use_rows(self, in_rows: np.ndarray, out_rows: np.ndarray) -> None:
        """Set the rows the next :meth:`step` updates, the first layer's ``in_rows`` and
        the output layer's ``out_rows`` (sorted, each once: what
        :meth:`recsae._fast.grouped.ColumnGrouper.group` lists), and zero the dense part's
        gradient. Those rows' gradient is left alone: the grouped kernel writes each of
        them whole."""
        self.n_in_rows, self.n_out_rows = in_rows.size, out_rows.size
        self.in_rows[:in_rows.size], self.out_rows[:out_rows.size] = in_rows, out_rows
        self.net.grad[self.dense_lo:self.dense_hi] = 0.0

    def step(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """One update from ``grad``: Adam on the dense part, SparseAdam on the touched rows."""
        self.steps += 1
        f32, wd, net = np.float32, self.weight_decay, self.net
        beta1, beta2 = ADAM_BETAS
        lo, hi = self.dense_lo, self.dense_hi
        _adam(param[lo:hi], grad[lo:hi], self.first[lo:hi], self.second[lo:hi],
              f32(1.0 - beta1), f32(beta2), f32(1.0 - beta2),
              f32(-lr / (1.0 - beta1 ** self.steps)),
              f32(math.sqrt(1.0 - beta2 ** self.steps)), f32(ADAM_EPS), f32(wd), f32(1.0))
        # SparseAdam's step size: lr * sqrt(1 - beta2^t) / (1 - beta1^t), eps not scaled.
        neg_step = f32(-(lr * math.sqrt(1.0 - beta2 ** self.steps) / (1.0 - beta1 ** self.steps)))
        consts = (f32(1.0 - beta1), f32(1.0 - beta2), f32(ADAM_EPS), neg_step, f32(wd))
        in_rows, out_rows = self.in_rows[:self.n_in_rows], self.out_rows[:self.n_out_rows]
        _sparse_adam_rows(param, grad, self.first, self.second, int(net.w_off[0]),
                          int(net.sizes[1]), -1, in_rows, *consts)
        _sparse_adam_rows(param, grad, self.first, self.second, int(net.w_off[self.last]),
                          int(net.sizes[self.last]), int(net.b_off[self.last]), out_rows, *consts)


@jit_kernel
def _sparse_adam_rows(param, grad, exp_avg, exp_avg_sq, offset, width, bias_offset, rows,
                      one_minus_beta1, one_minus_beta2, eps, neg_step,
                      wd):  # pragma: no cover - compiled
    """``torch.optim.SparseAdam``'s update of the rows ``rows`` (sorted, unique) of a
    weight (each ``width`` elements from ``offset``) and, with ``bias_offset >= 0``, of
    the same entries of a bias: its operations in its order (``torch.optim._functional.sparse_adam``), with
    ``wd * param`` first added to the gradient."""
    i, n = 0, rows.shape[0]
    while i < n:  # runs of consecutive rows are one contiguous span (rows are sorted)
        j = i + 1
        while j < n and rows[j] == rows[j - 1] + 1:
            j += 1
        start, stop = offset + rows[i] * width, offset + (rows[j - 1] + 1) * width
        _sparse_adam_span(param[start:stop], grad[start:stop], exp_avg[start:stop],
                          exp_avg_sq[start:stop], one_minus_beta1, one_minus_beta2, eps,
                          neg_step, wd)
        if bias_offset >= 0:
            start, stop = bias_offset + rows[i], bias_offset + rows[j - 1] + 1
            _sparse_adam_span(param[start:stop], grad[start:stop], exp_avg[start:stop],
                              exp_avg_sq[start:stop], one_minus_beta1, one_minus_beta2, eps,
                              neg_step, wd)
        i = j


@jit_kernel
def _sparse_adam_span(p, gr, m, v, one_minus_beta1, one_minus_beta2, eps, neg_step,
                      wd):  # pragma: no cover - compiled
    """SparseAdam on contiguous views (LLVM vectorizes the loop)."""
    for j in range(p.shape[0]):
        g = gr[j] + wd * p[j]  # exactly gr[j] when wd == 0
        m_old, v_old = m[j], v[j]
        m_update = (g - m_old) * one_minus_beta1
        v_update = (g * g - v_old) * one_minus_beta2
        m[j], v[j] = m_old + m_update, v_old + v_update
        numer, denom = m_update + m_old, np.sqrt(v_update + v_old) + eps
        p[j] = p[j] + neg_step * (numer / denom)
