"""Numba kernels for the as-published trainer's step (:class:`recsae._fast.as_published._FlatSigmoidMLP`).

They do every part of a step that is not a sum (matrix product), ``sigmoid`` or ``sqrt``,
in place on NumPy views of the trainer's flat float32 buffers, each with the rounding of
the torch CPU kernel it replaces (found on millions of random values; the tests compare
them with torch's kernels and the whole trainer with the plain autograd loop):

==============================================  ===========================================
torch                                           here (float32, each operation rounded)
==============================================  ===========================================
``mse_loss`` backward                           ``scale * (out - target)``
``aten.sigmoid_backward(g, y)``                 ``(g * (1 - y)) * y``
``grad.add(param, alpha=wd)``                   ``fma(param, wd, grad)`` (one rounding)
``square_avg.mul_(alpha).addcmul_(g, g, c)``    ``fma(c * g, g, square_avg * alpha)``
``param.addcdiv_(g, avg, value=-lr)``           ``param + (-lr * g) / avg``
==============================================  ===========================================

No ``fastmath``: LLVM then never contracts ``a * b + c`` into a fused multiply-add by
itself; :func:`fma32` asks for one where torch's kernels have one.

Importing this module imports numba, so the trainers import it (and
:mod:`recsae._fast.sparse` and :mod:`recsae._fast.flat_optim`, whose kernels use
:func:`jit_kernel` too) only when a CPU trainer runs. Compiled code is cached on disk (``cache=True``): next
to this file, or in numba's per-user cache directory when the package is read-only.
"""

from __future__ import annotations

import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Rows of ``state`` [4, size]: one flat float32 buffer each (padding between parameters
# stays 0 in all of them).
PARAM, GRAD, SQUARE_AVG, DENOM = range(4)
# Columns of ``layout`` [n_layers, 6]: where layer i lives. W and b index ``state``'s rows
# (W is [n_out, n_in] row-major, as nn.Linear); ACT and DACT index ``work``: the layer's
# output (after the sigmoid for hidden layers) and the loss gradient w.r.t. it (for a
# hidden layer overwritten by the gradient before the sigmoid, the next product's input).
W_OFF, B_OFF, N_OUT, N_IN, ACT, DACT = range(6)
# Columns of ``table`` [n_users, 4]: the user's slice of ``cols``/``vals`` (its non-zero
# input columns, sorted, and the values there; the observed rating columns are its first
# ``n_obs``), and where its output - target values go in ``diffs``.
START, N_NONZERO, N_OBS, DIFF_START = range(4)
# Entries of ``consts`` (float32): each exactly the float32 that torch's kernel uses.
SCALE, WEIGHT_DECAY, ALPHA, ONE_MINUS_ALPHA, NEG_LR, EPS = range(6)


def jit_kernel(func=None, **options):
    """``numba.njit`` with the options every kernel needs: ``error_model="numpy"`` (IEEE
    division, no zero check: a check in the loop would stop LLVM from vectorizing it)
    and the on-disk cache, or no cache where no directory is writable (read-only package
    and home): numba then compiles on each run instead of failing."""
    if func is None:
        return lambda f: jit_kernel(f, **options)
    try:
        return njit(cache=True, error_model="numpy", **options)(func)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(error_model="numpy", **options)(func)


@intrinsic
def fma32(typingctx, a, b, c):
    """``a * b + c`` on float32 with a single rounding (LLVM's ``llvm.fma.f32``)."""
    if not all(t == types.float32 for t in (a, b, c)):
        return None  # a float64 operand would silently change the rounding

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma.f32",
                                              fnty=ir.FunctionType(f32, [f32, f32, f32]))
        return builder.call(fn, args)

    return types.float32(types.float32, types.float32, types.float32), codegen


@jit_kernel
def output_layer(state, work, layout, cols, vals, diffs, table, u, consts):
    """After the forward pass: user ``u``'s output - target at its observed ratings (into
    ``diffs``), the loss gradient w.r.t. the output (dense in ``work``, 0 elsewhere: the
    next torch product's input) and its addition to the last layer's gradient sum, at
    the observed rows only (adding 0 elsewhere would change nothing)."""
    last = layout.shape[0] - 1
    w_off, b_off = layout[last, W_OFF], layout[last, B_OFF]
    n_out, n_in = layout[last, N_OUT], layout[last, N_IN]
    out, prev = layout[last, ACT], layout[last - 1, ACT]
    g_out = layout[last, DACT]
    start, n_obs, d0 = table[u, START], table[u, N_OBS], table[u, DIFF_START]
    scale = consts[SCALE]
    grad = state[GRAD]
    for c in range(n_out):
        work[g_out + c] = 0.0
    for k in range(n_obs):
        c = cols[start + k]
        d = work[out + c] - vals[start + k]
        diffs[d0 + k] = d
        g = scale * d  # mse_loss_backward: norm * (input - target) * grad_output (1)
        work[g_out + c] = g
        grad[b_off + c] += g
        row = w_off + c * n_in
        for j in range(n_in):  # rank-1: one product per element, no sum
            grad[row + j] += g * work[prev + j]


@jit_kernel
def _sigmoid_backward(work, layout, i):
    """Layer ``i``'s d loss / d pre-activation, in place of d loss / d activation."""
    act, dact = layout[i, ACT], layout[i, DACT]
    one = np.float32(1.0)
    for j in range(layout[i, N_OUT]):
        y = work[act + j]
        work[dact + j] = (work[dact + j] * (one - y)) * y


@jit_kernel
def hidden_layer(state, work, layout, i):
    """Hidden layer ``i`` > 0, after torch computed d loss / d its output: the sigmoid's
    backward (the next torch product's input) and the layer's gradient added to the sum."""
    _sigmoid_backward(work, layout, i)
    w_off, b_off = layout[i, W_OFF], layout[i, B_OFF]
    n_out, n_in = layout[i, N_OUT], layout[i, N_IN]
    dz, prev = layout[i, DACT], layout[i - 1, ACT]
    grad = state[GRAD]
    for j in range(n_out):
        g = work[dz + j]
        grad[b_off + j] += g
        row = w_off + j * n_in
        for k in range(n_in):
            grad[row + k] += g * work[prev + k]


@jit_kernel(inline="always")
def _grad_wd(param, grad, wd):
    """``grad.add(param, alpha=wd)``: one fused multiply-add in torch's kernel; RMSprop
    skips it when ``wd`` is 0 (where the fma would turn a -0 gradient into +0)."""
    return fma32(param, wd, grad) if wd != 0 else grad


@jit_kernel
def _rmsprop_square_avg(state, consts):
    """RMSprop's first half on every element: ``square_avg = square_avg * alpha +
    (1 - alpha) * (grad + wd * param)**2``, in torch's operations and roundings. The
    weight-decayed gradient is not stored: :func:`rmsprop_step` recomputes it, which
    costs less than writing and reading it back."""
    param, grad, square_avg = state[PARAM], state[GRAD], state[SQUARE_AVG]
    wd, alpha, c = consts[WEIGHT_DECAY], consts[ALPHA], consts[ONE_MINUS_ALPHA]
    for i in range(param.size):
        g = _grad_wd(param[i], grad[i], wd)
        square_avg[i] = fma32(c * g, g, square_avg[i] * alpha)


@jit_kernel
def first_layer_and_rmsprop(state, work, layout, cols, vals, table, u, consts):
    """After torch computed d loss / d the first layer's output: its gradient added to the
    sum at the user's non-zero input columns, then RMSprop's first half on every element
    (``torch.sqrt`` of ``square_avg`` comes next)."""
    _sigmoid_backward(work, layout, 0)
    w_off, b_off = layout[0, W_OFF], layout[0, B_OFF]
    n_out, n_in = layout[0, N_OUT], layout[0, N_IN]
    dz = layout[0, DACT]
    start, n_nonzero = table[u, START], table[u, N_NONZERO]
    grad = state[GRAD]
    for j in range(n_out):
        g = work[dz + j]
        grad[b_off + j] += g
        row = w_off + j * n_in
        for k in range(start, start + n_nonzero):
            grad[row + cols[k]] += g * vals[k]
    _rmsprop_square_avg(state, consts)


@jit_kernel
def rmsprop_square_avg(state, consts):
    """RMSprop's first half alone (see :func:`_rmsprop_square_avg`)."""
    _rmsprop_square_avg(state, consts)


@jit_kernel
def rmsprop_step(state, consts):
    """RMSprop's second half, once ``state[DENOM]`` holds ``torch.sqrt(square_avg)``:
    ``param += (-lr * (grad + wd * param)) / (denom + eps)``."""
    param, grad, denom = state[PARAM], state[GRAD], state[DENOM]
    wd, neg_lr, eps = consts[WEIGHT_DECAY], consts[NEG_LR], consts[EPS]
    for i in range(param.size):
        p = param[i]
        param[i] = p + (neg_lr * _grad_wd(p, grad[i], wd)) / (denom[i] + eps)


def compile_all() -> float:
    """Compile (or load from the on-disk cache) every kernel on tiny inputs; seconds taken."""
    start = time.perf_counter()
    state = np.zeros((4, 64), dtype=np.float32)
    work = np.zeros(64, dtype=np.float32)
    layout = np.array([[0, 16, 2, 2, 0, 16], [32, 48, 2, 2, 32, 48]], dtype=np.int64)
    cols, vals = np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.float32)
    table = np.array([[0, 1, 1, 0]], dtype=np.int64)
    consts = np.array([1.0, 0.5, 0.99, 0.01, -0.01, 1e-8], dtype=np.float32)
    output_layer(state, work, layout, cols, vals, np.zeros(1, np.float32), table, 0, consts)
    hidden_layer(state, work, layout, 1)
    first_layer_and_rmsprop(state, work, layout, cols, vals, table, 0, consts)
    rmsprop_square_avg(state, consts)
    rmsprop_step(state, consts)
    return time.perf_counter() - start
