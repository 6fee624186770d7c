"""Sparse minibatches for the corrected trainer on the CPU.

A user row is mostly zeros (a user rates ~5% of the movies) and the loss only looks at the
rated entries. A dense step spends its time on ``[batch, n_columns]`` products and
element-wise passes over almost nothing but zeros; here the first layer reads only the
non-zero inputs and the output layer is evaluated only where a rating is scored (small
numba kernels: sequential loops, deterministic, no fused multiply-adds). The
hidden layers in between are ordinary PyTorch products, and the backward pass is written
out rather than recorded by autograd, whose bookkeeping costs more than these tiny layers'
arithmetic. Same loss, same gradients up to float rounding: ``tests/test_sparse.py`` checks
them against autograd on the dense model. CPU only (numba): on CUDA the dense step runs,
and its cost there is kernel launches rather than arithmetic (``docs/benchmarks.md``).

Shapes: ``n_columns`` input columns, the first ``n_rating_columns`` of them scored.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from recsae.kernels import jit_kernel
from recsae.models import StackedAutoencoder


class SparseBatch(NamedTuple):
    """One minibatch of user rows in compressed (CSR) form.

    Attributes:
        indptr: ``[batch + 1]`` int64; row ``r``'s non-zero inputs are entries
            ``indptr[r]:indptr[r + 1]`` of ``cols``/``vals``.
        cols: ``[nnz]`` int64 input columns; vals: ``[nnz]`` float32 values there.
        out_rows, out_cols: ``[m]`` int64 (row in the batch, column) of each scored rating.
        targets: ``[m]`` float32 the ratings there.
    """

    indptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    out_rows: np.ndarray
    out_cols: np.ndarray
    targets: np.ndarray


class SparseRows:
    """A user matrix ``[n_users, n_columns]`` kept as CSR, cut into :class:`SparseBatch`\\ es.

    The scored entries of a row are its non-zero rating columns (``< n_rating_columns``),
    as in the dense loss, so a row is both the input and the target.
    """

    def __init__(self, matrix: np.ndarray, n_rating_columns: int) -> None:
        matrix = np.asarray(matrix, dtype=np.float32)
        rows, cols = np.nonzero(matrix)  # row-major: each row's entries are contiguous
        self.n_rows = matrix.shape[0]
        self.cols = cols.astype(np.int64)
        self.vals = matrix[rows, cols]
        self.indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_rows), out=self.indptr[1:])
        scored = self.cols < n_rating_columns
        self.scored_cols = self.cols[scored]
        self.scored_vals = self.vals[scored]
        self.scored_indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[scored], minlength=self.n_rows), out=self.scored_indptr[1:])

    def batch(self, rows: np.ndarray | None = None) -> SparseBatch:
        """The rows ``rows`` (int indices, in that order; None: all) as one batch."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        indptr, cols, vals, _ = _gather_rows(self.indptr, self.cols, self.vals, rows)
        _, out_cols, targets, out_rows = _gather_rows(self.scored_indptr, self.scored_cols,
                                                      self.scored_vals, rows)
        return SparseBatch(indptr, cols, vals, out_rows, out_cols, targets)


@jit_kernel
def _gather_rows(indptr, cols, vals, rows):  # pragma: no cover - compiled
    """The selected rows of a CSR matrix, in order: their row pointer ``[len(rows) + 1]``,
    columns, values, and the batch row of each entry (one call; NumPy needs a dozen)."""
    batch_indptr = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    for i in range(rows.shape[0]):
        batch_indptr[i + 1] = batch_indptr[i] + indptr[rows[i] + 1] - indptr[rows[i]]
    n = batch_indptr[-1]
    out_cols, out_vals = np.empty(n, dtype=cols.dtype), np.empty(n, dtype=vals.dtype)
    entry_rows = np.empty(n, dtype=np.int64)
    for i in range(rows.shape[0]):
        start, at = indptr[rows[i]], batch_indptr[i]
        length = batch_indptr[i + 1] - at
        out_cols[at:at + length] = cols[start:start + length]
        out_vals[at:at + length] = vals[start:start + length]
        entry_rows[at:at + length] = i
    return batch_indptr, out_cols, out_vals, entry_rows


# --------------------------------------------------------------------------- kernels
# float32 throughout; the sums run in a fixed order (results do not depend on the CPU).

@jit_kernel
def _input_forward(indptr, cols, vals, weight_t, bias, out):  # pragma: no cover - compiled
    """out[r] = bias + sum over row r's entries k of vals[k] * weight_t[cols[k]]
    (``weight_t``: the layer's weight transposed, ``[n_columns, n_out]``, contiguous)."""
    for r in range(out.shape[0]):
        out[r, :] = bias
        for k in range(indptr[r], indptr[r + 1]):
            row, v = weight_t[cols[k]], vals[k]
            for j in range(out.shape[1]):
                out[r, j] += v * row[j]


@jit_kernel
def _input_backward(indptr, cols, vals, grad_out, grad_weight_t):  # pragma: no cover
    """grad_weight_t[cols[k]] += vals[k] * grad_out[r] for every entry k of row r."""
    for r in range(grad_out.shape[0]):
        for k in range(indptr[r], indptr[r + 1]):
            row, v = grad_weight_t[cols[k]], vals[k]
            for j in range(grad_out.shape[1]):
                row[j] += v * grad_out[r, j]


@jit_kernel
def _output_forward(rows, cols, hidden, weight, bias, out):  # pragma: no cover
    """out[e] = bias[c] + hidden[r] . weight[c] for each scored entry e = (r, c)."""
    for e in range(rows.shape[0]):
        r, c = rows[e], cols[e]
        total = bias[c]
        for j in range(hidden.shape[1]):
            total += hidden[r, j] * weight[c, j]
        out[e] = total


@jit_kernel
def _output_loss_backward(rows, cols, targets, hidden, weight, bias, scale,
                          grad_hidden, grad_weight, grad_bias):  # pragma: no cover
    """:func:`_output_forward` at the scored entries, ``diff = output - target`` there, and
    the gradients of ``scale * sum(diff ** 2) / 2`` w.r.t. hidden, weight and bias (added
    to the zeroed buffers), in one pass. Returns ``sum(diff ** 2)``, summed in float64 in
    entry order (no BLAS: the same on every CPU)."""
    sse = 0.0
    for e in range(rows.shape[0]):
        r, c = rows[e], cols[e]
        total = bias[c]
        for j in range(hidden.shape[1]):
            total += hidden[r, j] * weight[c, j]
        diff = total - targets[e]  # float32, as the dense loss
        sse += np.float64(diff) * np.float64(diff)
        g = diff * scale
        grad_bias[c] += g
        for j in range(hidden.shape[1]):
            grad_hidden[r, j] += g * weight[c, j]
            grad_weight[c, j] += g * hidden[r, j]
    return sse


# SELU's constants, as torch.nn.SELU uses them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _activation_backward(name: str, grad: torch.Tensor, pre: torch.Tensor,
                         out: torch.Tensor) -> torch.Tensor:
    """d loss / d pre-activation from d loss / d activation, for each of
    :data:`recsae.models.ACTIVATIONS` (``out`` = activation(``pre``))."""
    if name == "sigmoid":
        return grad * out * (1.0 - out)
    if name == "tanh":
        return grad * (1.0 - out * out)
    if name == "relu":
        return grad * (pre > 0)
    if name == "elu":  # alpha = 1: d/dz (exp(z) - 1) = out + 1
        return grad * torch.where(pre > 0, 1.0, out + 1.0)
    if name == "selu":
        return grad * torch.where(pre > 0, _SELU_SCALE, out + _SELU_SCALE * _SELU_ALPHA)
    raise ValueError(f"no backward for activation {name!r}.")


def _array(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy view of a contiguous CPU float32 tensor (a parameter, an activation)."""
    return tensor.detach().numpy()


def _last_hidden(model: StackedAutoencoder, batch: SparseBatch
                 ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, ...]]]:
    """Forward to the last hidden layer ``[batch, hidden[-1]]``; also each hidden layer's
    (pre-activation, activation, dropout mask or None, output) for the backward pass."""
    layers = model.layers
    first = layers[0]
    z = torch.empty(batch.indptr.size - 1, first.out_features)
    # Rows of the transposed weight are contiguous: the kernel reads one per non-zero input.
    weight_t = np.ascontiguousarray(_array(first.weight).T)
    _input_forward(batch.indptr, batch.cols, batch.vals, weight_t, _array(first.bias), z.numpy())
    keep = 1.0 - model.dropout_p
    cache = []
    h = z
    for i in range(len(layers) - 1):
        pre = z if i == 0 else torch.addmm(layers[i].bias, h, layers[i].weight.t())
        out = model.activation(pre)
        mask = None
        if model.training and model.dropout_p > 0:  # as nn.Dropout: scale the kept units
            mask = torch.empty_like(out).bernoulli_(keep).div_(keep)
        h = out if mask is None else out * mask
        cache.append((pre, out, mask, h))
    return h, cache


@torch.no_grad()
def outputs_at(model: StackedAutoencoder, batch: SparseBatch, rows: np.ndarray,
               cols: np.ndarray) -> torch.Tensor:
    """``model(dense_batch)[rows, cols]`` up to float rounding, ``[m]`` (rows index the
    batch, cols the output columns). No gradient."""
    hidden, _ = _last_hidden(model, batch)
    last = model.layers[-1]
    out = torch.empty(rows.size)
    _output_forward(rows, cols, hidden.numpy(), _array(last.weight), _array(last.bias),
                    out.numpy())
    return out


@torch.no_grad()
def minibatch_gradients(model: StackedAutoencoder, batch: SparseBatch) -> tuple[float, int]:
    """Set every parameter's ``.grad`` to the gradient of the batch's loss, the mean squared
    error over its scored ratings, and return ``(sum of squared errors, count)``.

    The backward pass is written out (a few matrix products per layer, in PyTorch, and the
    two sparse kernels) instead of recorded by autograd: for these tiny layers autograd's
    bookkeeping costs more than the arithmetic. ``tests/test_sparse.py`` checks the
    gradients against autograd on the dense model for every activation.
    """
    layers = model.layers
    hidden, cache = _last_hidden(model, batch)
    last = layers[-1]
    count = batch.targets.size
    # NumPy's zeros, wrapped: cheaper than torch.zeros for these small buffers.
    grad_hidden = np.zeros(hidden.shape, dtype=np.float32)
    grad_weight = np.zeros(tuple(last.weight.shape), dtype=np.float32)
    grad_bias = np.zeros(tuple(last.bias.shape), dtype=np.float32)
    sse = _output_loss_backward(batch.out_rows, batch.out_cols, batch.targets, hidden.numpy(),
                                _array(last.weight), _array(last.bias),
                                np.float32(2.0 / max(count, 1)),  # d (sse / count) / d output
                                grad_hidden, grad_weight, grad_bias)
    last.weight.grad, last.bias.grad = torch.from_numpy(grad_weight), torch.from_numpy(grad_bias)
    grad_hidden = torch.from_numpy(grad_hidden)
    for i in range(len(layers) - 2, -1, -1):
        pre, out, mask, _ = cache[i]
        grad_out = grad_hidden if mask is None else grad_hidden * mask
        grad_pre = _activation_backward(model.activation_name, grad_out, pre, out)
        layer = layers[i]
        layer.bias.grad = grad_pre.sum(0)
        if i == 0:
            grad_weight_t = np.zeros((layer.in_features, layer.out_features), dtype=np.float32)
            _input_backward(batch.indptr, batch.cols, batch.vals,
                            np.ascontiguousarray(grad_pre.numpy()), grad_weight_t)
            layer.weight.grad = torch.from_numpy(np.ascontiguousarray(grad_weight_t.T))
        else:
            layer.weight.grad = torch.mm(grad_pre.t(), cache[i - 1][3])
            grad_hidden = torch.mm(grad_pre, layer.weight)
    return sse, count
