"""The corrected trainer's CPU path: sparse minibatches on flat parameters, in numba.

A user row is mostly zeros (a user rates ~5% of the movies) and the loss only looks at the
rated entries. A dense step spends its time on ``[batch, n_columns]`` products and
element-wise passes over almost nothing but zeros, and on the CPU the many small torch
calls of a step (and autograd's bookkeeping) cost more than their arithmetic. Here one
numba call computes a minibatch's loss and every gradient:

* the first layer reads only the row's non-zero inputs (CSR), its weight stored transposed
  (one contiguous row per input column);
* the hidden layers are small loops over the batch;
* the output layer is evaluated only where a rating is scored, its loss and backward fused;

and a second call applies the optimizer (:mod:`recsae._fast.flat_optim`) to the one flat
parameter array. Same loss, same gradients as the dense model up to float rounding:
``tests/test_sparse.py`` checks them against autograd for every activation.

Every sum runs in a fixed order, with no fused multiply-adds and no ``fastmath`` (LLVM may
vectorize across independent outputs but never reorders a sum), without BLAS or torch's
per-CPU kernels. The activations are computed in float64 by the C library's ``exp``,
``tanh`` or ``expm1`` and rounded to float32: a C library whose last bit differed would
change a result only in the rare case that bit decides the float32 rounding.

CPU only (numba): on CUDA the dense step runs, and its cost there is kernel launches
rather than arithmetic (``docs/benchmarks.md``).

Shapes: ``n_columns`` input columns, the first ``n_rating_columns`` of them scored; a net
of ``L`` linear layers has sizes ``[L + 1]`` = ``(n_columns, *hidden, n_columns)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from recsae._fast.kernels import jit_kernel
from recsae._fast.rows import SparseRows
from recsae.model import ACTIVATIONS, StackedAutoencoder

# Activation codes in the kernels (the keys of models.ACTIVATIONS).
ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "relu": 2, "elu": 3, "selu": 4}
SIGMOID, TANH, RELU, ELU, SELU = range(5)
assert set(ACTIVATION_CODES) == set(ACTIVATIONS)
# SELU's constants, as torch.nn.SELU uses them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_NO_MASKS = np.zeros((0, 0, 0), dtype=np.float32)


class FlatNet:
    """A :class:`StackedAutoencoder`'s parameters in one flat float32 array, laid out for
    the kernels, with the work buffers for batches of up to ``max_rows`` rows.

    Layer ``l`` maps ``sizes[l]`` to ``sizes[l + 1]`` columns; its weight starts at
    ``w_off[l]``, its bias at ``b_off[l]``. The first layer's weight is stored transposed,
    ``[n_columns, hidden[0]]`` (the kernels read one row per non-zero input); the others
    as ``nn.Linear`` keeps them, ``[n_out, n_in]``.
    """

    def __init__(self, model: StackedAutoencoder, max_rows: int) -> None:
        self.activation = ACTIVATION_CODES[model.activation_name]
        self.dropout_p = model.dropout_p
        self.sizes = np.array([model.n_inputs, *model.hidden, model.n_inputs], dtype=np.int64)
        n_layers = self.sizes.size - 1
        self.w_off = np.zeros(n_layers, dtype=np.int64)
        self.b_off = np.zeros(n_layers, dtype=np.int64)
        at = 0
        for layer in range(n_layers):
            self.w_off[layer] = at
            at += int(self.sizes[layer] * self.sizes[layer + 1])
            self.b_off[layer] = at
            at += int(self.sizes[layer + 1])
        self.theta = np.zeros(at, dtype=np.float32)
        self.grad = np.zeros(at, dtype=np.float32)
        width = int(self.sizes[1:-1].max())
        # Per hidden layer: its activations, and its output after dropout (the next input).
        self.act = np.zeros((n_layers - 1, max_rows, width), dtype=np.float32)
        self.hid = np.zeros_like(self.act)
        self.gbuf = np.zeros((2, max_rows, width), dtype=np.float32)  # d loss / d a layer
        # A hidden-to-hidden weight, transposed, for the forward pass (vectorized over n_out).
        self.wt = np.zeros(max(int((self.sizes[1:-2] * self.sizes[2:-1]).max(initial=0)), 1),
                           dtype=np.float32)
        self.load(model)

    def _views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Each parameter of the model, in ``model.parameters()`` order and shape, as a view
        of ``flat`` (the first weight as a transposed view)."""
        views = []
        for layer in range(self.sizes.size - 1):
            n_in, n_out = int(self.sizes[layer]), int(self.sizes[layer + 1])
            w = flat[self.w_off[layer]:self.w_off[layer] + n_in * n_out]
            views.append(w.reshape(n_in, n_out).T if layer == 0 else w.reshape(n_out, n_in))
            views.append(flat[self.b_off[layer]:self.b_off[layer] + n_out])
        return views

    def load(self, model: StackedAutoencoder) -> None:
        """Copy the model's parameters into :attr:`theta`."""
        for view, param in zip(self._views(self.theta), model.parameters(), strict=True):
            view[...] = param.detach().cpu().numpy()

    def store(self, model: StackedAutoencoder, theta: np.ndarray | None = None) -> None:
        """Copy :attr:`theta` (or a saved copy of it) into the model's parameters."""
        flat = self.theta if theta is None else theta
        with torch.no_grad():
            for view, param in zip(self._views(flat), model.parameters(), strict=True):
                param.copy_(torch.from_numpy(np.ascontiguousarray(view)))

    def gradients(self) -> list[torch.Tensor]:
        """:attr:`grad` as one tensor per model parameter (copies, in their shapes)."""
        return [torch.from_numpy(np.ascontiguousarray(v)) for v in self._views(self.grad)]

    def dropout_masks(self, n_rows: int) -> np.ndarray:
        """Dropout masks ``[n_hidden, n_rows, width]`` (0, or 1 / keep for a kept unit),
        drawn from torch's global generator as ``nn.Dropout`` would in the dense forward
        pass (one ``bernoulli_`` per hidden layer, in order): the same seed, the same masks.
        An empty array without dropout."""
        if self.dropout_p <= 0:
            return _NO_MASKS
        keep = 1.0 - self.dropout_p
        masks = np.zeros((self.act.shape[0], n_rows, self.act.shape[2]), dtype=np.float32)
        for layer, width in enumerate(self.sizes[1:-1]):
            mask = torch.empty(n_rows, int(width)).bernoulli_(keep).div_(keep)
            masks[layer, :, :width] = mask.numpy()
        return masks

    def minibatch_gradients(self, data: SparseRows, rows: np.ndarray,
                            masks: np.ndarray | None = None) -> tuple[float, int]:
        """Set :attr:`grad` to the gradient of the mean squared error over the scored
        ratings of ``rows`` (int64 ``[batch]`` indices into ``data``); return the sum of
        squared errors (float64) and how many ratings were scored. ``masks``: dropout
        masks from :meth:`dropout_masks` (default: drawn here)."""
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        self._check(data, rows)
        if masks is None:
            masks = self.dropout_masks(rows.size)
        elif masks.size and masks.shape != (self.act.shape[0], rows.size, self.act.shape[2]):
            raise ValueError(f"dropout masks of shape {masks.shape} do not fit a batch of "
                             f"{rows.size} rows; draw them with dropout_masks({rows.size}).")
        return _gradients(self.theta, self.grad, self.sizes, self.w_off, self.b_off,
                          self.activation, data.indptr, data.cols, data.vals,
                          data.scored_indptr, data.scored_cols, data.scored_vals, rows,
                          self.act, self.hid, masks, self.wt, self.gbuf)

    def _check(self, data: SparseRows, rows: np.ndarray) -> None:
        """Refuse what the kernels would read or write out of bounds (numba does not
        check): a matrix of another width, too many rows for the work buffers, bad rows."""
        if data.n_columns != self.sizes[0]:
            raise ValueError(f"the matrix has {data.n_columns} columns, the net "
                             f"{self.sizes[0]} inputs.")
        if rows.size > self.act.shape[1]:
            raise ValueError(f"a batch of {rows.size} rows does not fit the work buffers "
                             f"({self.act.shape[1]} rows); make the FlatNet with a larger "
                             "max_rows.")
        if rows.size and not 0 <= rows.min() <= rows.max() < data.n_rows:
            raise ValueError(f"rows must index the matrix's {data.n_rows} rows.")

    def outputs_at(self, data: SparseRows, query_indptr: np.ndarray,
                   query_cols: np.ndarray) -> np.ndarray:
        """Model outputs (eval mode: no dropout) at the queried entries ``[m]``: row ``u``
        of ``data`` is queried at ``query_cols[query_indptr[u]:query_indptr[u + 1]]``."""
        self._check(data, np.zeros(0, dtype=np.int64))
        if (query_indptr.size != data.n_rows + 1 or query_indptr[0] != 0
                or query_indptr[-1] != query_cols.size or np.any(np.diff(query_indptr) < 0)):
            raise ValueError(f"query_indptr must be a row pointer over the {data.n_rows} rows "
                             f"of data: [{data.n_rows + 1}], from 0 to len(query_cols), rising.")
        if query_cols.size and not 0 <= query_cols.min() <= query_cols.max() < self.sizes[-1]:
            raise ValueError(f"query_cols must be output columns in [0, {self.sizes[-1]}).")
        out = np.empty(query_cols.size, dtype=np.float32)
        _outputs_at(self.theta, self.sizes, self.w_off, self.b_off, self.activation,
                    data.indptr, data.cols, data.vals, query_indptr, query_cols,
                    self.act, self.hid, self.wt, out)
        return out


# --------------------------------------------------------------------------- kernels
# float32 storage; the activations in float64, rounded once.

@jit_kernel
def _activate(x, code):  # pragma: no cover - compiled
    """The activation of one float32 pre-activation (as the torch module, up to rounding)."""
    if code == SIGMOID:
        return np.float32(1.0 / (1.0 + math.exp(-np.float64(x))))
    if code == TANH:
        return np.float32(math.tanh(np.float64(x)))
    if x > 0:
        return x if code != SELU else np.float32(_SELU_SCALE * np.float64(x))
    if code == RELU:
        return np.float32(0.0)
    if code == ELU:  # alpha = 1
        return np.float32(math.expm1(np.float64(x)))
    return np.float32(_SELU_SCALE * _SELU_ALPHA * math.expm1(np.float64(x)))


@jit_kernel
def _activation_slope(y, code):  # pragma: no cover - compiled
    """d activation / d pre-activation, from the activation's output ``y`` alone (for
    ReLU, ELU and SELU, ``y > 0`` exactly where the pre-activation is)."""
    one = np.float32(1.0)
    if code == SIGMOID:
        return y * (one - y)
    if code == TANH:
        return one - y * y
    if y > 0:
        return one if code != SELU else np.float32(_SELU_SCALE)
    if code == RELU:
        return np.float32(0.0)
    if code == ELU:  # d/dz (exp(z) - 1) = y + 1
        return y + one
    return y + np.float32(_SELU_SCALE * _SELU_ALPHA)


@jit_kernel
def _output_at(h, w, bias, c):  # pragma: no cover - compiled
    """The output layer at column ``c``: ``bias[c] + h . w[c]``, summed over ``j`` in order
    (training and validation both call this: the same arithmetic)."""
    total, w_row = bias[c], w[c]
    for j in range(w.shape[1]):
        total += h[j] * w_row[j]
    return total


@jit_kernel
def _forward_hidden(theta, sizes, w_off, b_off, code, indptr, cols, vals, rows, act, hid,
                    masks, wt, first_done=False):  # pragma: no cover - compiled
    """Rows ``rows`` of the CSR input through every hidden layer: ``act[l, i]`` the
    activations of layer ``l`` for row ``i`` of the batch, ``hid[l, i]`` the same after
    dropout (``masks[l, i]``; ``masks`` empty: none). ``first_done``: ``act[0]`` already
    holds the first layer's pre-activations (:mod:`recsae._fast.grouped`)."""
    n_rows, n_hidden = rows.shape[0], sizes.shape[0] - 2
    use_masks = masks.shape[0] > 0
    n1 = sizes[1]
    w0t = theta[w_off[0]:w_off[0] + sizes[0] * n1].reshape((sizes[0], n1))
    b0 = theta[b_off[0]:b_off[0] + n1]
    for layer in range(n_hidden):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        if layer > 0:  # transposed once per call: the product below then runs along rows
            w = theta[w_off[layer]:w_off[layer] + n_out * n_in].reshape((n_out, n_in))
            w_t = wt[:n_in * n_out].reshape((n_in, n_out))
            for j in range(n_out):
                for k in range(n_in):
                    w_t[k, j] = w[j, k]
            bias = theta[b_off[layer]:b_off[layer] + n_out]
        for i in range(n_rows):
            z = act[layer, i]
            if layer == 0 and first_done:
                pass
            elif layer == 0:  # only the row's non-zero inputs
                for j in range(n1):
                    z[j] = b0[j]
                r = rows[i]
                for k in range(indptr[r], indptr[r + 1]):
                    w_row, v = w0t[cols[k]], vals[k]
                    for j in range(n1):
                        z[j] += v * w_row[j]
            else:
                h = hid[layer - 1, i]
                for j in range(n_out):
                    z[j] = bias[j]
                for k in range(n_in):
                    w_row, v = w_t[k], h[k]
                    for j in range(n_out):
                        z[j] += v * w_row[j]
            out = hid[layer, i]
            for j in range(n_out):
                a = _activate(z[j], code)
                z[j] = a
                out[j] = a * masks[layer, i, j] if use_masks else a


@jit_kernel
def _gradients(theta, grad, sizes, w_off, b_off, code, indptr, cols, vals,
               scored_indptr, scored_cols, scored_vals, rows, act, hid, masks, wt,
               gbuf):  # pragma: no cover - compiled
    """The whole minibatch step but the optimizer: ``grad`` (zeroed first) gets the
    gradient of ``sum(diff ** 2) / count`` over the scored entries of ``rows``
    (``diff = output - target``); returns ``(sum(diff ** 2), count)``, the sum in float64
    in entry order."""
    n_rows, last = rows.shape[0], sizes.shape[0] - 2  # last: the output layer's index
    grad[:] = 0.0
    count = 0
    for i in range(n_rows):
        count += scored_indptr[rows[i] + 1] - scored_indptr[rows[i]]
    if count == 0:
        return 0.0, 0
    _forward_hidden(theta, sizes, w_off, b_off, code, indptr, cols, vals, rows, act, hid,
                    masks, wt)
    scale = np.float32(2.0 / count)  # d (sse / count) / d output, per unit of diff

    # Output layer, only at the scored entries: forward, loss and backward in one pass.
    n_h, n_out = sizes[last], sizes[last + 1]
    w = theta[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    bias = theta[b_off[last]:b_off[last] + n_out]
    g_w = grad[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    g_b = grad[b_off[last]:b_off[last] + n_out]
    sse = 0.0
    for i in range(n_rows):
        h, g_h = hid[last - 1, i], gbuf[0, i]
        for j in range(n_h):
            g_h[j] = 0.0
        r = rows[i]
        for e in range(scored_indptr[r], scored_indptr[r + 1]):
            c = scored_cols[e]
            diff = _output_at(h, w, bias, c) - scored_vals[e]
            sse += np.float64(diff) * np.float64(diff)
            g = diff * scale
            g_b[c] += g
            w_row, g_row = w[c], g_w[c]
            for j in range(n_h):
                g_h[j] += g * w_row[j]
                g_row[j] += g * h[j]

    cur = _backward_hidden(theta, grad, sizes, w_off, b_off, code, n_rows, act, hid, masks,
                           gbuf)
    # The first layer's weight gradient at the non-zero inputs only; no input gradient.
    n_in, n_out = sizes[0], sizes[1]
    g_pre = gbuf[cur]
    g_wt = grad[w_off[0]:w_off[0] + n_in * n_out].reshape((n_in, n_out))
    for i in range(n_rows):
        r, g_row_pre = rows[i], g_pre[i]
        for k in range(indptr[r], indptr[r + 1]):
            g_row, v = g_wt[cols[k]], vals[k]
            for j in range(n_out):
                g_row[j] += v * g_row_pre[j]
    return sse, count


@jit_kernel
def _backward_hidden(theta, grad, sizes, w_off, b_off, code, n_rows, act, hid, masks,
                     gbuf):  # pragma: no cover - compiled
    """From ``gbuf[0]`` (d loss / d the last hidden layer's output, rows ``< n_rows``)
    back through the hidden layers, last to first: their bias and weight gradients, the
    first layer's bias gradient but not its weight's. Returns which ``gbuf`` holds d loss /
    d the first layer's pre-activation."""
    last = sizes.shape[0] - 2
    use_masks = masks.shape[0] > 0
    cur = 0  # gbuf[cur] holds d loss / d the layer's output
    for layer in range(last - 1, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        g_pre = gbuf[cur]
        for i in range(n_rows):  # to d loss / d pre-activation, in place
            for j in range(n_out):
                g = g_pre[i, j] * masks[layer, i, j] if use_masks else g_pre[i, j]
                g_pre[i, j] = g * _activation_slope(act[layer, i, j], code)
        g_b = grad[b_off[layer]:b_off[layer] + n_out]
        for i in range(n_rows):
            for j in range(n_out):
                g_b[j] += g_pre[i, j]
        if layer == 0:
            break
        w = theta[w_off[layer]:w_off[layer] + n_out * n_in].reshape((n_out, n_in))
        g_w = grad[w_off[layer]:w_off[layer] + n_out * n_in].reshape((n_out, n_in))
        g_next = gbuf[1 - cur]
        for i in range(n_rows):
            h, g_h = hid[layer - 1, i], g_next[i]
            for k in range(n_in):
                g_h[k] = 0.0
            for j in range(n_out):
                g, w_row, g_row = g_pre[i, j], w[j], g_w[j]
                for k in range(n_in):
                    g_h[k] += g * w_row[k]
                    g_row[k] += g * h[k]
        cur = 1 - cur
    return cur


@jit_kernel
def _outputs_at(theta, sizes, w_off, b_off, code, indptr, cols, vals, query_indptr,
                query_cols, act, hid, wt, out):  # pragma: no cover - compiled
    """``out[q]``: the output (no dropout) at each queried entry, rows in chunks of the
    work buffers' size. The same arithmetic as the training forward pass."""
    n_users, chunk, last = query_indptr.shape[0] - 1, act.shape[1], sizes.shape[0] - 2
    n_h, n_out = sizes[last], sizes[last + 1]
    w = theta[w_off[last]:w_off[last] + n_out * n_h].reshape((n_out, n_h))
    bias = theta[b_off[last]:b_off[last] + n_out]
    no_masks = np.zeros((0, 0, 0), dtype=np.float32)
    for start in range(0, n_users, chunk):
        rows = np.arange(start, min(start + chunk, n_users))
        _forward_hidden(theta, sizes, w_off, b_off, code, indptr, cols, vals, rows, act, hid,
                        no_masks, wt)
        for i in range(rows.shape[0]):
            for q in range(query_indptr[rows[i]], query_indptr[rows[i] + 1]):
                out[q] = _output_at(hid[last - 1, i], w, bias, query_cols[q])
