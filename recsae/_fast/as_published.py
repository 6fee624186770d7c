"""The article's training loop, fast: :func:`train` equals :func:`recsae.article.article_loop`.

The plain loop (autograd + ``torch.optim.RMSprop``, one user per step, gradients never
zeroed) spends most of each step on overhead. Here the step is written by hand on flat
buffers (:class:`_FlatSigmoidMLP`): torch does the matrix products, the sigmoids and
RMSprop's ``sqrt``, small numba kernels (:mod:`recsae._fast.kernels`) everything else, each
operation with torch's rounding. The trained weights are bitwise equal to the plain loop's
on the same machine (``tests/test_article.py``), and the printed metric agrees to ~1e-8
(its sum runs over the rated columns only, in float64). ``docs/benchmarks.md`` has the
speed-up.
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae._fast import kernels
from recsae._fast.flat_optim import RMSPROP_ALPHA, RMSPROP_EPS
from recsae.model import StackedAutoencoder
from recsae.runtime import progress_enabled, torch_threads

_ALIGN = 16  # float32 elements per 64 bytes

class _Users(NamedTuple):
    """The users the article trains on, in id (row) order, packed for the step kernels."""

    rows: list[torch.Tensor]  # [1, n_columns] each: the user's training row (a view)
    table: np.ndarray         # [n_users, 4] int64: see kernels.START ... DIFF_START
    cols: np.ndarray          # int64: each user's non-zero input columns, sorted, concatenated
    vals: np.ndarray          # float32: the values there
    correctors: np.ndarray    # n_rating_columns / (entries > 0 in the whole row + 1e-10)
    n_diffs: int              # observed ratings in all, the size of the ``diffs`` buffer


def _as_published_users(train: torch.Tensor, n_rating_columns: int) -> _Users:
    """The users that get an optimizer step and what their steps need.

    The article skips a user only when its whole row has no entry > 0 (its test
    ``torch.sum(target.data > 0) > 0``); everyone else gets an optimizer step.
    """
    x = train.numpy()
    positives = (x > 0).sum(axis=1)
    users = np.flatnonzero(positives)
    # rows: index among the users; each user's columns come sorted.
    rows, cols = np.divmod(np.flatnonzero(x[users] != 0), x.shape[1])
    n_nonzero = np.bincount(rows, minlength=users.size)
    # target = input.clone(), so the target's non-zero rating columns are the input's:
    # the first n_obs of the user's sorted non-zero columns.
    n_obs = np.bincount(rows, weights=cols < n_rating_columns, minlength=users.size)
    starts = np.cumsum(n_nonzero) - n_nonzero
    # Columns kernels.START, N_NONZERO, N_OBS, DIFF_START.
    table = np.stack([starts, n_nonzero, n_obs, np.cumsum(n_obs) - n_obs], axis=1)
    all_rows = train.split(1)  # [1, n_columns] views, as train[row:row + 1]
    return _Users([all_rows[row] for row in users], table.astype(np.int64),
                  cols.astype(np.int64), x[users[rows], cols],
                  n_rating_columns / (positives[users] + 1e-10), int(n_obs.sum()))


class _FlatSigmoidMLP:
    """The parameters of a sigmoid :class:`StackedAutoencoder`, their never-zeroed gradient
    sum and RMSprop's state, each a row of one float32 buffer ``state`` (weights are views
    of its first row), plus a scratch buffer ``work`` for one user's activations and
    gradients.

    :meth:`train_epoch` runs the article's loop over the users once. Each step computes
    exactly what autograd and ``torch.optim.RMSprop`` compute, with the same rounding, so
    the weights equal the plain loop's bit for bit; what it saves is their per-step
    overhead. The rules that keep the bits equal:

    * matrix products (they *sum*: the forward ``addmm``, the backward ``mm``), ``sigmoid``
      and RMSprop's ``sqrt`` (MKL's, not correctly rounded) are torch's kernels, called on
      the same shapes and strides as autograd's (BLAS summation order is kernel-specific);
    * everything else is single IEEE operations (``+``, ``*``, ``-``, ``/``, fused
      multiply-adds where torch's kernels have one), gathers and scatters: numba kernels
      (:mod:`recsae._fast.kernels`) do them in place on NumPy views of the same memory, with the
      roundings of the torch kernels they replace, restricted to the rows/columns where the
      gradient is non-zero (adding 0 changes nothing). Five kernel calls and eleven torch
      calls per step (3 hidden layers), nothing allocated.
    """

    def __init__(self, model: StackedAutoencoder, n_rating_columns: int, lr: float,
                 weight_decay: float) -> None:
        self.k = kernels
        params = list(model.parameters())  # weight, bias of each layer, in order
        # Each parameter starts on a 64-byte boundary of the buffer, as a separately
        # allocated tensor does: BLAS kernels round differently on differently aligned data.
        offsets = _aligned_offsets([p.numel() for p in params])
        self.state = torch.zeros(4, offsets[-1])  # padding stays 0: zero gradient and update
        self.flat, self.grad = self.state[kernels.PARAM], self.state[kernels.GRAD]
        self.square_avg, self.denom = self.state[kernels.SQUARE_AVG], self.state[kernels.DENOM]
        self.shapes, self.offsets = [p.shape for p in params], offsets[:-1]
        self.param_views = self.views(self.flat)
        with torch.no_grad():
            for p, v in zip(params, self.param_views, strict=True):
                v.copy_(p)
        self.weights = self.param_views[0::2]
        # addmm(bias, x, weight.t()) is what F.linear calls: made once, not every step.
        self.weights_t = [w.t() for w in self.weights]
        self.bias_rows = [b.view(1, -1) for b in self.param_views[1::2]]
        # Per layer: its output (after the sigmoid, hidden layers) and d loss / d that,
        # each [1, n_out] on a 64-byte boundary of ``work``, as a fresh tensor would be.
        row_sizes = [w.shape[0] for w in self.weights for _ in range(2)]
        work_offsets = _aligned_offsets(row_sizes)
        self.work = torch.zeros(work_offsets[-1])
        rows = [self.work[o:o + n].view(1, n)
                for o, n in zip(work_offsets[:-1], row_sizes, strict=True)]
        self.acts, self.dacts = rows[0::2], rows[1::2]
        self.layout = np.array(
            [[offsets[2 * i], offsets[2 * i + 1], w.shape[0], w.shape[1],
              work_offsets[2 * i], work_offsets[2 * i + 1]] for i, w in enumerate(self.weights)],
            dtype=np.int64)
        if self.state.data_ptr() % 64 or self.work.data_ptr() % 64:
            raise RuntimeError("the CPU allocator returned a buffer not aligned to 64 bytes.")
        # Each scalar as torch's kernel converts it: the nearest float32 of the double.
        consts = {kernels.SCALE: 2.0 / n_rating_columns,  # mse_loss_backward's norm
                  kernels.WEIGHT_DECAY: weight_decay, kernels.ALPHA: RMSPROP_ALPHA,
                  kernels.ONE_MINUS_ALPHA: 1 - RMSPROP_ALPHA, kernels.NEG_LR: -lr,
                  kernels.EPS: RMSPROP_EPS}  # add_(1e-8) on float32 adds float32(1e-8)
        self.consts = np.array([consts[i] for i in range(len(consts))], dtype=np.float32)
        self.state_np, self.work_np = self.state.numpy(), self.work.numpy()

    def train_epoch(self, users: _Users, diffs: np.ndarray) -> None:
        """One step per user, in order; ``diffs`` receives output - target at each user's
        observed ratings (the loss is their sum of squares over ``n_rating_columns``)."""
        k, state, work, layout, consts = self.k, self.state_np, self.work_np, self.layout, self.consts
        table, cols, vals = users.table, users.cols, users.vals
        addmm, mm, sqrt = torch.addmm, torch.mm, torch.sqrt
        hidden = list(zip(self.bias_rows[:-1], self.weights_t[:-1], self.acts[:-1], strict=True))
        last_bias, last_weight_t, out = self.bias_rows[-1], self.weights_t[-1], self.acts[-1]
        # d loss / d layer i's output -> d loss / d layer i-1's output, through weights[i].
        backward = [(self.dacts[i], self.weights[i], self.dacts[i - 1], i - 1)
                    for i in range(len(self.weights) - 1, 0, -1)]
        square_avg, denom = self.square_avg, self.denom
        for u, h in enumerate(users.rows):
            for bias, weight_t, act in hidden:
                h = addmm(bias, h, weight_t, out=act).sigmoid_()
            addmm(last_bias, h, last_weight_t, out=out)
            k.output_layer(state, work, layout, cols, vals, diffs, table, u, consts)
            for dact, weight, dact_prev, i in backward:
                mm(dact, weight, out=dact_prev)  # dense, as autograd: the same rounding
                if i:
                    k.hidden_layer(state, work, layout, i)
            k.first_layer_and_rmsprop(state, work, layout, cols, vals, table, u, consts)
            sqrt(square_avg, out=denom)
            k.rmsprop_step(state, consts)

    def rmsprop_update(self) -> None:
        """``torch.optim.RMSprop``'s update of every parameter (no momentum, not centered)
        from the gradient sum: the same operations in the same order, the same rounding.
        Dense (weight decay touches every weight). :meth:`train_epoch` runs the same
        operations, its first half fused with the first layer's gradient."""
        self.k.rmsprop_square_avg(self.state_np, self.consts)
        torch.sqrt(self.square_avg, out=self.denom)
        self.k.rmsprop_step(self.state_np, self.consts)

    def views(self, row: torch.Tensor) -> list[torch.Tensor]:
        """One of ``state``'s rows as the model's parameter shapes (weights and biases)."""
        return [row[o:o + math.prod(shape)].view(shape)
                for o, shape in zip(self.offsets, self.shapes, strict=True)]

    def copy_to(self, model: StackedAutoencoder) -> None:
        """Write the trained values into ``model``'s parameters."""
        with torch.no_grad():
            for p, v in zip(model.parameters(), self.param_views, strict=True):
                p.copy_(v)


def _aligned_offsets(sizes: list[int]) -> list[int]:
    """Offsets of consecutive float32 blocks of ``sizes``, each on a 64-byte boundary, and
    the total size last."""
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + -(-n // _ALIGN) * _ALIGN)
    return offsets


def train(model: StackedAutoencoder, x_all: torch.Tensor, n_rating_columns: int, epochs: int,
          lr: float, weight_decay: float, progress: bool = False,
          threads: int | None = 1) -> pd.DataFrame:
    """:func:`recsae.article.train_as_published` after its checks: the same arguments
    (``x_all``: the training matrix as a float32 CPU tensor), the same history."""
    users = _as_published_users(x_all.contiguous(), n_rating_columns)
    if not users.rows:
        raise ValueError("no user row has an entry > 0; nothing to train on.")
    net = _FlatSigmoidMLP(model, n_rating_columns, lr, weight_decay)
    # Each user's output - target at its observed ratings, in one buffer per epoch.
    n_users = len(users.rows)
    diffs = np.zeros(users.n_diffs, dtype=np.float32)
    segment = np.repeat(np.arange(n_users), users.table[:, net.k.N_OBS])  # user of each diff

    records = []
    start = time.perf_counter()
    with torch_threads(threads), torch.no_grad():
        bar = tqdm(range(1, epochs + 1), desc="as published",
                   disable=not progress_enabled(progress))
        for epoch in bar:
            net.train_epoch(users, diffs)
            # The article's printed loss: mean of sqrt(MSE * corrector) over the users.
            sse = np.bincount(segment, weights=np.square(diffs, dtype=np.float64),
                              minlength=n_users)
            metric = float(np.sqrt(sse / n_rating_columns * users.correctors).mean())
            records.append({"epoch": epoch, "article_train_metric": metric,
                            "n_users": n_users, "seconds": time.perf_counter() - start})
            bar.set_postfix(metric=f"{metric:.4f}")
    net.copy_to(model)
    return pd.DataFrame.from_records(records)


