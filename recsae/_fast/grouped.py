"""Minibatch gradients with the entries grouped by column: the lazy-Adam path's kernel.

It equals :meth:`recsae._fast.sparse.FlatNet.minibatch_gradients` (and so autograd through
the model and :func:`recsae.loss.masked_sse`) up to float rounding; ``tests/test_grouped.py``
proves it. Only the order of the work differs, and with it the order of the first layer's
sums.

Why: on big data the first and output layers are large (one row of ``hidden`` weights per
movie) and the row-by-row kernel reads a movie's row once per rating, from wherever it is
in memory. In a minibatch of users the popular movies recur many times, so here the
batch's entries are first sorted by column (a counting sort, which also lists the columns
the batch touches: the rows :mod:`recsae._fast.lazy_adam` updates) and each column's weight and
gradient rows are read once per minibatch, while the per-user vectors (the hidden layers,
``batch x hidden`` floats) stay in cache. The hidden layers run as in the row-by-row
kernel (:func:`recsae._fast.sparse._forward_hidden`, :func:`recsae._fast.sparse._backward_hidden`).
"""

from __future__ import annotations

import numpy as np

from recsae._fast.kernels import jit_kernel
from recsae._fast.rows import SparseRows
from recsae._fast.sparse import (
    FlatNet,
    _backward_hidden,
    _forward_hidden,
    _output_at,
)


class ColumnGrouper:
    """One minibatch's entries sorted by column, and the columns it touches.

    A row is its own target (:class:`SparseRows`): the scored entries are the input entries
    in the rating columns, so one grouping serves the first and the output layer, and the
    scored columns are the touched columns below ``data.n_rating_columns``.
    """

    def __init__(self, net: FlatNet) -> None:
        self.net = net
        n_columns = int(net.sizes[0])
        self.counts = np.zeros(n_columns, dtype=np.int32)  # zero between minibatches
        self.columns = np.zeros(n_columns, dtype=np.int64)
        self.ptr = np.zeros(n_columns + 1, dtype=np.int64)
        self.n_columns = self.n_scored_columns = 0
        self.entry_row = np.zeros(0, dtype=np.int32)
        self.entry_val = np.zeros(0, dtype=np.float32)

    def group(self, data: SparseRows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sort the entries of ``rows`` by column; return the touched input columns and the
        scored ones (sorted, each once: the rows :class:`recsae._fast.lazy_adam.LazyAdam`
        updates)."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        self.net._check(data, rows)
        self.rows = rows
        self.n_columns, self.n_scored_columns, self.entry_row, self.entry_val = _group(
            data.indptr, data.cols, data.vals, rows, self.counts, self.columns, self.ptr,
            data.n_rating_columns)
        return self.columns[:self.n_columns], self.columns[:self.n_scored_columns]

    def gradients(self, masks: np.ndarray | None = None) -> tuple[float, int]:
        """What ``net.minibatch_gradients(data, rows, masks)`` computes
        for the last :meth:`group`'s minibatch, column by column. The gradient rows of the
        touched columns are written whole (each column is one group), never read; the
        caller has zeroed the rest of what the batch writes (the hidden layers' and the
        first layer's bias: :meth:`recsae._fast.lazy_adam.LazyAdam.use_rows`)."""
        net, n_out = self.net, self.n_scored_columns
        if masks is None:
            masks = net.dropout_masks(self.rows.size)  # the same draws as row by row
        return _grouped_gradients(net.theta, net.grad, net.sizes, net.w_off, net.b_off,
                                  net.activation, self.columns[:self.n_columns], n_out,
                                  self.ptr[:self.n_columns + 1], self.entry_row,
                                  self.entry_val, int(self.ptr[n_out]),
                                  self.rows.size, net.act, net.hid, masks, net.wt, net.gbuf)

    def outputs_at(self, data: SparseRows, query_indptr: np.ndarray,
                   query_cols: np.ndarray) -> np.ndarray:
        """:meth:`recsae._fast.sparse.FlatNet.outputs_at` (eval mode), the first layer
        computed column by column, in chunks of the work buffers' rows."""
        net = self.net
        net._check(data, np.zeros(0, dtype=np.int64))
        out = np.empty(query_cols.size, dtype=np.float32)
        chunk = net.act.shape[1]
        for start in range(0, data.n_rows, chunk):
            self.group(data, np.arange(start, min(start + chunk, data.n_rows)))
            _grouped_outputs(net.theta, net.sizes, net.w_off, net.b_off, net.activation,
                             self.columns[:self.n_columns], self.ptr[:self.n_columns + 1],
                             self.entry_row, self.entry_val, start, self.rows.size,
                             query_indptr, query_cols, net.act, net.hid, net.wt, out)
        return out


@jit_kernel
def _group(indptr, cols, vals, rows, counts, columns, ptr,
           n_rating_columns):  # pragma: no cover - compiled
    """The CSR entries of ``rows`` sorted by column (a counting sort). Writes the columns
    present, each once and in order, to ``columns`` and their entry ranges to ``ptr``:
    column ``columns[t]`` holds entries ``ptr[t]:ptr[t + 1]`` of ``entry_row`` (the
    position in ``rows``) and ``entry_val``, in the order of ``rows``. Returns (how many
    columns, how many of them are below ``n_rating_columns``, entry_row, entry_val).
    ``counts``: one zero per column; left zero. O(entries + columns)."""
    for i in range(rows.shape[0]):
        for k in range(indptr[rows[i]], indptr[rows[i] + 1]):
            counts[cols[k]] += 1
    n, n_scored = 0, 0
    for c in range(counts.shape[0]):
        if counts[c] > 0:
            columns[n] = c
            ptr[n + 1] = ptr[n] + counts[c]
            counts[c] = ptr[n]  # from here on: where the column's next entry goes
            n += 1
            if c < n_rating_columns:
                n_scored = n
    entry_row = np.empty(ptr[n], dtype=np.int32)
    entry_val = np.empty(ptr[n], dtype=np.float32)
    for i in range(rows.shape[0]):
        for k in range(indptr[rows[i]], indptr[rows[i] + 1]):
            at = counts[cols[k]]
            entry_row[at], entry_val[at] = i, vals[k]
            counts[cols[k]] = at + 1
    for t in range(n):
        counts[columns[t]] = 0
    return n, n_scored, entry_row, entry_val


@jit_kernel
def _grouped_forward(theta, sizes, w_off, b_off, code, in_cols, in_ptr, in_row, in_val, n_rows,
                     act, hid, masks, wt):  # pragma: no cover - compiled
    """:func:`recsae._fast.sparse._forward_hidden` of ``n_rows`` rows from column-grouped
    entries: the first layer's pre-activations one column (one weight row) at a time."""
    n_in, n1 = sizes[0], sizes[1]
    w0t = theta[w_off[0]:w_off[0] + n_in * n1].reshape((n_in, n1))
    b0 = theta[b_off[0]:b_off[0] + n1]
    z = act[0]
    for i in range(n_rows):
        for j in range(n1):
            z[i, j] = b0[j]
    for t in range(in_cols.shape[0]):
        w_row = w0t[in_cols[t]]
        for e in range(in_ptr[t], in_ptr[t + 1]):
            z_i, v = z[in_row[e]], in_val[e]
            for j in range(n1):
                z_i[j] += v * w_row[j]
    no_rows = np.zeros(n_rows, dtype=np.int64)  # unused: the first layer is done
    _forward_hidden(theta, sizes, w_off, b_off, code, in_ptr, in_cols, in_val, no_rows, act,
                    hid, masks, wt, True)


@jit_kernel
def _grouped_outputs(theta, sizes, w_off, b_off, code, in_cols, in_ptr, in_row, in_val, start,
                     n_rows, query_indptr, query_cols, act, hid, wt,
                     out):  # pragma: no cover - compiled
    """``out[q]`` for the queries of rows ``start .. start + n_rows`` (eval mode)."""
    last = sizes.shape[0] - 2
    no_masks = np.zeros((0, 0, 0), dtype=np.float32)
    _grouped_forward(theta, sizes, w_off, b_off, code, in_cols, in_ptr, in_row, in_val,
                     n_rows, act, hid, no_masks, wt)
    n_h, n_out = sizes[last], sizes[last + 1]
    w = theta[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    bias = theta[b_off[last]:b_off[last] + n_out]
    for i in range(n_rows):
        for q in range(query_indptr[start + i], query_indptr[start + i + 1]):
            out[q] = _output_at(hid[last - 1, i], w, bias, query_cols[q])


@jit_kernel
def _grouped_gradients(theta, grad, sizes, w_off, b_off, code, in_cols, n_out_cols, in_ptr,
                       in_row, in_val, count, n_rows, act, hid, masks, wt,
                       gbuf):  # pragma: no cover - compiled
    """:func:`recsae._fast.sparse._gradients` on column-grouped
    entries (the first ``n_out_cols`` columns are scored: ``count`` entries); returns
    ``(sum(diff ** 2), count)``."""
    last = sizes.shape[0] - 2
    if count == 0:
        return 0.0, 0
    _grouped_forward(theta, sizes, w_off, b_off, code, in_cols, in_ptr, in_row, in_val,
                     n_rows, act, hid, masks, wt)
    n_in, n1 = sizes[0], sizes[1]
    scale = np.float32(2.0 / count)

    # The output layer at the scored entries, one column at a time.
    n_h, n_out = sizes[last], sizes[last + 1]
    w = theta[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    bias = theta[b_off[last]:b_off[last] + n_out]
    g_w = grad[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    g_b = grad[b_off[last]:b_off[last] + n_out]
    for i in range(n_rows):
        for j in range(n_h):
            gbuf[0, i, j] = 0.0
    sse = 0.0
    acc = np.empty(max(n_h, n1), dtype=np.float32)  # one row's gradient, summed from 0
    for t in range(n_out_cols):
        c = in_cols[t]
        w_row, g_row = w[c], g_w[c]
        for j in range(n_h):
            acc[j] = 0.0
        acc_b = np.float32(0.0)
        for e in range(in_ptr[t], in_ptr[t + 1]):
            h, g_h = hid[last - 1, in_row[e]], gbuf[0, in_row[e]]
            diff = _output_at(h, w, bias, c) - in_val[e]
            sse += np.float64(diff) * np.float64(diff)
            g = diff * scale
            acc_b += g
            for j in range(n_h):
                g_h[j] += g * w_row[j]
                acc[j] += g * h[j]
        g_b[c] = acc_b  # each column once per minibatch: written whole, never read
        for j in range(n_h):
            g_row[j] = acc[j]

    cur = _backward_hidden(theta, grad, sizes, w_off, b_off, code, n_rows, act, hid, masks,
                           gbuf)
    g_pre = gbuf[cur]
    g_wt = grad[w_off[0]:w_off[0] + n_in * n1].reshape((n_in, n1))
    for t in range(in_cols.shape[0]):
        for j in range(n1):
            acc[j] = 0.0
        for e in range(in_ptr[t], in_ptr[t + 1]):
            g_i, v = g_pre[in_row[e]], in_val[e]
            for j in range(n1):
                acc[j] += v * g_i[j]
        g_row = g_wt[in_cols[t]]
        for j in range(n1):
            g_row[j] = acc[j]
    return sse, count
