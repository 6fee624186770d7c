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
the batch x hidden width + columns + the hidden layers): one pass over the columns' marks,
never over the whole first or output layer (columns x hidden width). An epoch costs
O(ratings x hidden width + minibatches x columns). The trainer lists the touched rows while
it sorts the minibatch by column (:meth:`recsae._fast.grouped.ColumnGrouper.group`) and
passes them to :meth:`LazyAdam.use_rows`; :meth:`LazyAdam.zero_grad` finds them itself.
"""

from __future__ import annotations

import math

import numpy as np

from recsae._fast.flat_optim import ADAM_BETAS, ADAM_EPS, _adam
from recsae._fast.kernels import jit_kernel
from recsae._fast.rows import SparseRows
from recsae._fast.sparse import FlatNet


class LazyAdam:
    """The optimizer and the gradient zeroing of one FlatNet's training.

    Call :meth:`zero_grad` with a minibatch before
    ``net.minibatch_gradients(data, rows, zero_grad=False)``, then :meth:`step`.
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
        self.in_stamp = np.zeros(n_in, dtype=np.int64)   # last batch that touched a row
        self.out_stamp = np.zeros(n_out, dtype=np.int64)
        self.n_in_rows = self.n_out_rows = 0

    def zero_grad(self, data: SparseRows, rows: np.ndarray) -> None:
        """Find the rows the minibatch ``rows`` touches and zero their gradient, and the
        dense part's."""
        net, stamp = self.net, self.steps + 1
        self.n_in_rows, self.n_out_rows = _touch(
            net.grad, data.indptr, data.cols, data.scored_indptr, data.scored_cols,
            np.ascontiguousarray(rows, dtype=np.int64), self.in_stamp, self.out_stamp, stamp,
            self.in_rows, self.out_rows, int(net.w_off[0]), int(net.sizes[1]),
            int(net.w_off[self.last]), int(net.sizes[self.last]), int(net.b_off[self.last]),
            self.dense_lo, self.dense_hi)

    def use_rows(self, in_rows: np.ndarray, out_rows: np.ndarray) -> None:
        """Set the rows the next :meth:`step` updates, the first layer's ``in_rows`` and
        the output layer's ``out_rows`` (sorted, each once: what
        :meth:`recsae._fast.grouped.ColumnGrouper.group` lists), and zero the dense part's
        gradient. Unlike :meth:`zero_grad` it leaves those rows' gradient alone: the
        grouped kernel writes each of them whole."""
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
def _touch(grad, indptr, cols, scored_indptr, scored_cols, rows, in_stamp, out_stamp, stamp,
           in_rows, out_rows, w_in_off, w_in_width, w_out_off, w_out_width, b_out_off,
           dense_lo, dense_hi):  # pragma: no cover - compiled
    """List each input column present in ``rows`` and each output column scored there
    once, in order (``*_stamp`` marks a row touched by batch ``stamp``), zero those rows'
    gradient and ``grad[dense_lo:dense_hi]``; return how many of each. O(entries of the
    batch + columns): never O(columns x hidden width)."""
    for i in range(rows.shape[0]):
        r = rows[i]
        for k in range(indptr[r], indptr[r + 1]):
            in_stamp[cols[k]] = stamp
        for k in range(scored_indptr[r], scored_indptr[r + 1]):
            out_stamp[scored_cols[k]] = stamp
    # The marked rows in order (one pass over the stamps, not over the weights: the
    # updates then walk the arrays forwards), their gradient zeroed.
    n_in = 0
    for c in range(in_stamp.shape[0]):
        if in_stamp[c] == stamp:
            in_rows[n_in] = c
            n_in += 1
    n_out = 0
    for c in range(out_stamp.shape[0]):
        if out_stamp[c] == stamp:
            out_rows[n_out] = c
            n_out += 1
    _zero_rows(grad, in_rows[:n_in], out_rows[:n_out], w_in_off, w_in_width, w_out_off,
               w_out_width, b_out_off, dense_lo, dense_hi)
    return n_in, n_out


@jit_kernel
def _zero_rows(grad, in_rows, out_rows, w_in_off, w_in_width, w_out_off, w_out_width,
               b_out_off, dense_lo, dense_hi):  # pragma: no cover - compiled
    """Zero the gradient of the first layer's rows ``in_rows``, of the output layer's rows
    (weight and bias) ``out_rows`` and ``grad[dense_lo:dense_hi]``."""
    for c in in_rows:
        start = w_in_off + c * w_in_width
        for j in range(start, start + w_in_width):
            grad[j] = 0.0
    for c in out_rows:
        start = w_out_off + c * w_out_width
        for j in range(start, start + w_out_width):
            grad[j] = 0.0
        grad[b_out_off + c] = 0.0
    grad[dense_lo:dense_hi] = 0.0


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
