"""Training the stacked autoencoder, two ways.

* :func:`train_as_published` reproduces the article's training loop exactly, quirks
  included, but fast (a hand-written forward/backward on one flat parameter buffer, its
  element-wise parts in numba kernels: :mod:`recsae.kernels`).
* :func:`fit` is the corrected trainer: minibatches, gradients zeroed every step, a loss
  over observed ratings only, a validation split carved from the training ratings for
  early stopping and model selection, and a history DataFrame. On the CPU each minibatch
  is computed from its non-zero entries only, on one flat parameter array, in numba
  (:mod:`recsae.sparse`, :mod:`recsae.flat_optim`); elsewhere densely, by autograd.

Shapes: a user matrix is ``[n_users, n_columns]`` float32, rating columns first
(``[0, n_rating_columns)``), then any genre-count and attribute columns; 0 = no rating.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from recsae.models import StackedAutoencoder
from recsae.runtime import get_device, seed_everything, torch_threads

# The article's optimizer: optim.RMSprop(lr=0.01, weight_decay=0.5), torch's defaults
# for the rest (alpha=0.99, eps=1e-8, no momentum, not centered).
ARTICLE_LR = 0.01
ARTICLE_WEIGHT_DECAY = 0.5
ARTICLE_EPOCHS = 200
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8

_ALIGN = 16  # float32 elements per 64 bytes
OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")


def _progress_enabled(requested: bool) -> bool:
    """Progress bars only when asked for and not disabled by ``$TQDM_DISABLE`` (CI)."""
    return requested and os.environ.get("TQDM_DISABLE", "").lower() not in {"1", "true", "yes"}


def _as_float_tensor(matrix: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A float32 CPU tensor of ``matrix`` (no copy when it already is one)."""
    if isinstance(matrix, torch.Tensor):
        return matrix.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))


# --------------------------------------------------------------------------------------
# The article's training loop, exactly, fast.
# --------------------------------------------------------------------------------------

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
      (:mod:`recsae.kernels`) do them in place on NumPy views of the same memory, with the
      roundings of the torch kernels they replace, restricted to the rows/columns where the
      gradient is non-zero (adding 0 changes nothing). Five kernel calls and eleven torch
      calls per step (3 hidden layers), nothing allocated.
    """

    def __init__(self, model: StackedAutoencoder, n_rating_columns: int, lr: float,
                 weight_decay: float) -> None:
        from recsae import kernels  # imports numba: only when this trainer runs

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


def train_as_published(model: StackedAutoencoder, train: np.ndarray | torch.Tensor,
                       n_rating_columns: int, epochs: int = ARTICLE_EPOCHS,
                       lr: float = ARTICLE_LR, weight_decay: float = ARTICLE_WEIGHT_DECAY,
                       progress: bool = False, threads: int | None = 1) -> pd.DataFrame:
    """Train ``model`` in place with the article's exact dynamics; return its printed loss.

    The article's loop, step by step (each quirk is reproduced on purpose):

    1. One optimizer step per user, users in id order (matrix row order), ``epochs``
       passes, no shuffling, no minibatches; users whose whole row has no entry > 0 are
       skipped.
    2. ``target = input``; the output is zeroed wherever the target row is 0 (all columns),
       then the loss is ``MSELoss`` between the output's and the target's *rating* columns:
       a mean over all ``n_rating_columns``, rated or not.
    3. ``loss.backward()`` but never ``optimizer.zero_grad()``: every parameter's ``.grad``
       is the *sum of all per-user gradients since the first step*, and each RMSprop step
       uses that running sum.
    4. ``RMSprop(lr=0.01, weight_decay=0.5)``: torch adds ``0.5 * param`` to a *copy* of
       ``.grad``, so the accumulated sum itself stays a pure sum of loss gradients.
    5. The printed number per epoch is the mean over trained users of
       ``sqrt(loss * n_rating_columns / (entries > 0 in the whole row + 1e-10))``.

    The plain loop (autograd + ``torch.optim``, see ``tests/training_reference.py``) spends
    most of its ~1-1.2 ms per step (one CPU thread) on overhead, 943 x 200 times. Here the
    step is written by hand on flat buffers (:class:`_FlatSigmoidMLP`): torch does the
    matrix products, the sigmoids and RMSprop's ``sqrt``, small numba kernels
    (:mod:`recsae.kernels`) everything else, each operation with torch's rounding. The
    trained weights are bitwise equal to the plain loop's on the same machine, and the
    printed metric agrees to ~1e-8 (its sum runs over the rated columns only, in float64).
    About 8x faster than the plain loop for the 3-layer net at equal thread count (one;
    ``bench/run.py`` measures it): ~120-150 us per step, of which ~40 us is ``torch.sqrt``
    of all 70k RMSprop averages (MKL's, kept for its rounding), ~35 us the torch products
    and sigmoids and ~25 us the kernels' two dense RMSprop passes. The first run on a
    machine compiles the kernels (~2 s; then cached on disk, ~0.2 s to load, plus ~0.3 s
    to import numba). For the 5- and 7-layer nets RMSprop's dense update (~1.1M weights)
    dominates both loops.

    Args:
        model: a :class:`StackedAutoencoder` with sigmoid activations and no dropout, on
            the CPU; its parameters are overwritten with the trained values.
        train: training matrix ``[n_users, n_columns]`` (its rows are inputs and targets).
        n_rating_columns: the article's ``nb_movies``.
        epochs, lr, weight_decay: the article's 200, 0.01, 0.5 by default.
        progress: show a tqdm bar over epochs (also off when ``$TQDM_DISABLE`` is set).
        threads: torch intra-op threads during the loop, restored afterwards (None: leave
            as is). One is fastest: each operation is too small to share, and waiting
            threads make a busy machine far slower. The weights do not depend on it.

    Returns:
        History ``[epochs, 4]``: ``epoch``, ``article_train_metric`` (the article's printed
        loss), ``n_users`` (users stepped on), ``seconds`` (cumulative).
    """
    if model.activation_name != "sigmoid" or model.dropout_p != 0.0:
        raise ValueError("the as-published trainer reproduces the article's sigmoid net "
                         "without dropout only.")
    x_all = _as_float_tensor(train)
    if x_all.shape[1] != model.n_inputs:
        raise ValueError(f"train has {x_all.shape[1]} columns, the model {model.n_inputs}.")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("the as-published trainer runs on the CPU (one user per step).")
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
                   disable=not _progress_enabled(progress))
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


# --------------------------------------------------------------------------------------
# The corrected trainer.
# --------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Every hyper-parameter of the corrected trainer (a notebook's ``parameters`` cell).

    Attributes:
        hidden: hidden layer sizes, e.g. ``models.article_hidden_sizes(3)``.
        activation: see :data:`recsae.models.ACTIVATIONS`.
        dropout: dropout after each hidden activation.
        epochs: maximum number of passes over the users.
        batch_size: users per optimizer step.
        optimizer: one of :data:`OPTIMIZERS`.
        lr: learning rate.
        weight_decay: the optimizer's L2 penalty (decoupled for ``adamw``).
        momentum: for ``sgd`` and ``rmsprop``.
        schedule: ``"constant"`` or ``"cosine"`` (annealed to 0 over ``epochs``).
        val_fraction: fraction of each user's training ratings held out for validation
            (0 disables validation, early stopping and model selection).
        patience: stop after this many epochs without a better validation RMSE
            (None: run every epoch, still keeping the best epoch's weights).
        seed: seeds the initial weights, the validation split and the batch order.
        progress: tqdm bar over epochs (also off when ``$TQDM_DISABLE`` is set).
    """

    hidden: tuple[int, ...] = (20, 10, 20)
    activation: str = "sigmoid"
    dropout: float = 0.0
    epochs: int = 200
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    schedule: str = "constant"
    val_fraction: float = 0.1
    patience: int | None = 40
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), not {self.val_fraction}.")

    @classmethod
    def article_settings(cls, hidden: Sequence[int] = (20, 10, 20), **overrides: Any
                         ) -> TrainConfig:
        """The article's choices (RMSprop, lr 0.01, weight decay 0.5, sigmoid, 200 epochs)
        run through the corrected mechanics: minibatches, zeroed gradients, masked loss,
        and early stopping / model selection on the validation ratings."""
        values: dict[str, Any] = {
            "hidden": tuple(hidden), "activation": "sigmoid", "optimizer": "rmsprop",
            "lr": ARTICLE_LR, "weight_decay": ARTICLE_WEIGHT_DECAY, "epochs": ARTICLE_EPOCHS,
        }
        values.update(overrides)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples), for JSON and ``weights_only`` checkpoints."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {sorted(unknown)}")
        return cls(**d)


class FitResult(NamedTuple):
    """What :func:`fit` returns; unpacks as ``model, history, best_epoch``."""

    model: StackedAutoencoder
    history: pd.DataFrame
    best_epoch: int


def masked_mse_loss(pred: torch.Tensor, target: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squared errors over the masked entries, and how many there are.

    Args:
        pred, target: ``[batch, n]``; mask: ``[batch, n]``, boolean or 0/1 float
            (1 = observed). Entries outside the mask contribute nothing, whatever they hold.

    Returns:
        ``(sse, count)``: 0-d tensors; ``sse / count`` is the batch MSE, and summing both
        over an epoch gives its exact RMSE (not a mean of per-batch RMSEs).
    """
    m = mask.to(pred.dtype)
    diff = (pred - target) * m
    return (diff * diff).sum(), m.sum()


def split_validation(train: np.ndarray, n_rating_columns: int, fraction: float,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Move a seeded ``fraction`` of each user's training ratings into a validation target.

    Each user keeps at least one rating in the input; ``round(fraction * k)`` of their
    ``k`` ratings are held out. Feature columns stay as given (built from all training
    ratings: a small leak into validation, never into the test file).

    Args:
        train: ``[n_users, n_columns]``.

    Returns:
        ``(fit_input, val_target)``: ``[n_users, n_columns]`` with the held-out ratings
        zeroed, and ``[n_users, n_rating_columns]`` holding only them.
    """
    rng = np.random.default_rng(seed)
    fit_input = np.array(train, dtype=np.float32, copy=True)
    val_target = np.zeros((train.shape[0], n_rating_columns), dtype=np.float32)
    for u in range(train.shape[0]):
        rated = np.flatnonzero(fit_input[u, :n_rating_columns])
        n_val = min(int(round(fraction * rated.size)), rated.size - 1)
        if n_val <= 0:
            continue
        held = rng.choice(rated, size=n_val, replace=False)
        val_target[u, held] = fit_input[u, held]
        fit_input[u, held] = 0.0
    return fit_input, val_target


def build_optimizer(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer named in ``config`` (the dense path; the sparse CPU
    path applies the same rules with :class:`recsae.flat_optim.FlatOptimizer`).

    Adam, AdamW and SGD use torch's fused kernels (one pass over the weights instead of a
    dozen ``foreach`` passes: an Adam step of the 3-layer net costs a third as much on the
    CPU); RMSprop, which has no fused kernel, uses ``foreach``.
    """
    common = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, fused=True, **common)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, fused=True, **common)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, momentum=config.momentum, foreach=True, **common)
    return torch.optim.SGD(params, momentum=config.momentum, fused=True, **common)


def observed_ratings_mask(inputs: torch.Tensor, n_rating_columns: int) -> torch.Tensor:
    """Where a training row is scored: its non-zero *rating* columns, as 0/1 floats.

    Args:
        inputs: ``[n_users, n_columns]``.

    Returns:
        ``[n_users, n_columns]`` (same dtype and device), 0 on every feature column. Made
        once per run, so that each minibatch's loss is two passes over full-width rows
        instead of slicing, comparing and copying its rating block every step.
    """
    mask = (inputs != 0).to(inputs.dtype)
    mask[:, n_rating_columns:] = 0.0
    return mask


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based): ``config.lr``, or with ``schedule="cosine"``
    annealed to 0 over ``config.epochs`` (the closed form of torch's ``CosineAnnealingLR``)."""
    if config.schedule == "cosine":
        return config.lr * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs)) / 2.0
    return config.lr


class _DenseTrainer:
    """Minibatches through the model's forward pass, autograd and a ``torch.optim``
    optimizer, masked to the scored ratings (CUDA, or ``fit(..., sparse=False)``).

    Args:
        fit_input: ``[n_users, n_columns]``: each row is its own target, scored on its
            non-zero rating columns (``< n_rating_columns``).
        queries: ``(rows, cols)`` int64 ``[m]``: the entries :meth:`outputs` predicts.
    """

    def __init__(self, model: StackedAutoencoder, fit_input: np.ndarray, n_rating_columns: int,
                 queries: tuple[np.ndarray, np.ndarray], config: TrainConfig) -> None:
        device = next(model.parameters()).device
        self.model, self.batch_size = model, config.batch_size
        self.inputs = torch.from_numpy(np.ascontiguousarray(fit_input, dtype=np.float32)).to(device)
        self.n_rows = self.inputs.shape[0]
        self.observed = observed_ratings_mask(self.inputs, n_rating_columns)
        self.query_rows, self.query_cols = (torch.from_numpy(q).to(device) for q in queries)
        self.optimizer = build_optimizer(model.parameters(), config)

    def train_epoch(self, order: torch.Tensor, lr: float) -> float:
        """One pass over the users in the order ``order`` ``[n_users]``; the epoch's
        training RMSE."""
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        order = order.to(self.inputs.device)
        # 0-d tensors on the device, so that a GPU is not made to wait every step.
        total_sse, total_count = torch.zeros((), device=order.device), 0.0
        for start in range(0, self.n_rows, self.batch_size):
            self.optimizer.zero_grad(set_to_none=True)  # the article never did this
            rows = order[start:start + self.batch_size]
            x = self.inputs.index_select(0, rows)
            # The target is the input itself, scored where the mask is 1 (feature columns
            # and unrated movies are 0 there): the same loss as on the rating block alone.
            sse, count = masked_mse_loss(self.model(x), x, self.observed.index_select(0, rows))
            (sse / count.clamp(min=1.0)).backward()
            self.optimizer.step()
            total_sse, total_count = total_sse + sse.detach(), total_count + count
        return math.sqrt(float(total_sse) / max(float(total_count), 1.0))

    @torch.no_grad()
    def outputs(self) -> np.ndarray:
        """The model's outputs (eval mode) at the queried entries, ``[m]``."""
        self.model.eval()
        return self.model.predict_entries(self.inputs, self.query_rows,
                                          self.query_cols).cpu().numpy()

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights, for :meth:`restore`."""
        return copy.deepcopy(self.model.state_dict())

    def restore(self, snapshot: dict[str, torch.Tensor] | None) -> None:
        """Put a :meth:`snapshot` back into the model (None: keep the current weights)."""
        if snapshot is not None:
            self.model.load_state_dict(snapshot)


class _SparseTrainer:
    """The same training computed on the CPU from the non-zero entries only, on one flat
    parameter array (:mod:`recsae.sparse`, :mod:`recsae.flat_optim`): ~20x fewer
    operations than the dense step on ML-100K, in two numba calls per minibatch. The
    model's parameters are written back by :meth:`restore`; the learning rate and the
    batch order are the caller's, as on the dense path."""

    def __init__(self, model: StackedAutoencoder, fit_input: np.ndarray, n_rating_columns: int,
                 queries: tuple[np.ndarray, np.ndarray], config: TrainConfig) -> None:
        from recsae import flat_optim, sparse  # import numba only when this path runs

        self.model, self.batch_size = model, config.batch_size
        self.data = sparse.SparseRows(fit_input, n_rating_columns)
        # Work buffers for one batch, never more rows than there are (batch_size may be huge).
        self.net = sparse.FlatNet(model, max_rows=max(1, min(config.batch_size,
                                                               self.data.n_rows)))
        self.optimizer = flat_optim.FlatOptimizer(config.optimizer, self.net.theta.size,
                                                  config.weight_decay, config.momentum)
        rows, cols = queries
        self.query_indptr = np.zeros(self.data.n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.data.n_rows), out=self.query_indptr[1:])
        if rows.size and np.any(np.diff(rows) < 0):
            raise ValueError("queries must be sorted by row.")
        self.query_cols = np.ascontiguousarray(cols, dtype=np.int64)

    def train_epoch(self, order: torch.Tensor, lr: float) -> float:
        """See :meth:`_DenseTrainer.train_epoch`."""
        order_np = order.numpy()
        total_sse, total_count = 0.0, 0
        for start in range(0, self.data.n_rows, self.batch_size):
            sse, count = self.net.minibatch_gradients(self.data,
                                                      order_np[start:start + self.batch_size])
            self.optimizer.step(self.net.theta, self.net.grad, lr)
            total_sse, total_count = total_sse + sse, total_count + count
        return math.sqrt(total_sse / max(total_count, 1))

    def outputs(self) -> np.ndarray:
        """See :meth:`_DenseTrainer.outputs`."""
        return self.net.outputs_at(self.data, self.query_indptr, self.query_cols)

    def snapshot(self) -> np.ndarray:
        """A copy of the flat parameters."""
        return self.net.theta.copy()

    def restore(self, snapshot: np.ndarray | None) -> None:
        """Write a snapshot (None: the current parameters) into the model."""
        self.net.store(self.model, snapshot)


@torch.no_grad()
def predict(model: StackedAutoencoder, inputs: np.ndarray | torch.Tensor,
            batch_size: int | None = None) -> np.ndarray:
    """Model outputs ``[n_users, n_columns]`` (float32, NumPy) for input rows
    ``[n_users, n_columns]``, in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    x = _as_float_tensor(inputs) if not isinstance(inputs, torch.Tensor) else inputs.float()
    step = batch_size or x.shape[0]
    parts = [model(x[i:i + step].to(device)).cpu() for i in range(0, x.shape[0], step)]
    return torch.cat(parts).numpy()


def fit(train: np.ndarray, n_rating_columns: int, config: TrainConfig | None = None,
        device: str | torch.device | None = None, threads: int | None = None,
        sparse: bool | None = None) -> FitResult:
    """Train a new :class:`StackedAutoencoder` with the corrected trainer.

    Args:
        train: training matrix ``[n_users, n_columns]`` (never the test matrix: the
            validation ratings are carved out of it, see :func:`split_validation`).
        n_rating_columns: number of rating columns (they come first).
        config: hyper-parameters (default :class:`TrainConfig`).
        device: see :func:`recsae.runtime.get_device` (None: CUDA if available).
        threads: torch CPU threads for the run (None: torch's default); see
            :func:`recsae.runtime.torch_threads`.
        sparse: compute each minibatch from its non-zero entries only (:mod:`recsae.sparse`;
            CPU only) or densely; None: sparse on the CPU, dense elsewhere. Same loss,
            gradients and optimizer rules up to float rounding; sparse is ~4x faster on
            the CPU (``docs/benchmarks.md``).

    Returns:
        :class:`FitResult`: the model (best validation epoch's weights, eval mode, on
        ``device``), the history DataFrame (``epoch, train_rmse, val_rmse, lr, seconds``;
        ``val_rmse`` is NaN without validation) and the best epoch. Predict the test
        ratings from the users' *full* training rows: ``predict(model, train)``.
    """
    with torch_threads(threads):
        return _fit(np.asarray(train, dtype=np.float32), n_rating_columns,
                    config or TrainConfig(), get_device(device), sparse)


def _fit(train: np.ndarray, n_rating_columns: int, config: TrainConfig,
         torch_device: torch.device, use_sparse: bool | None = None) -> FitResult:
    generator = seed_everything(config.seed)
    model = StackedAutoencoder(train.shape[1], config.hidden, config.activation,
                               config.dropout).to(torch_device)
    fit_input = train
    # The held-out ratings, row by row (what each epoch's validation predicts); none when
    # validation is off or too few ratings could be held out.
    val_rows = val_cols = np.zeros(0, dtype=np.int64)
    val_values = None
    if config.val_fraction > 0:
        fit_input, val_target = split_validation(train, n_rating_columns,
                                                 config.val_fraction, config.seed)
        if val_target.any():
            val_rows, val_cols = (a.astype(np.int64) for a in np.nonzero(val_target))
            val_values = val_target[val_rows, val_cols].astype(np.float64)
    if use_sparse is None:
        use_sparse = torch_device.type == "cpu"
    if use_sparse and torch_device.type != "cpu":
        raise ValueError(f"sparse minibatches run on the CPU only, not on {torch_device}; "
                         "pass sparse=False (or None) for other devices.")
    trainer_type = _SparseTrainer if use_sparse else _DenseTrainer
    trainer = trainer_type(model, fit_input, n_rating_columns, (val_rows, val_cols), config)

    records = []
    best_val, best_epoch, best_state = math.inf, 0, None
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc="fit",
               disable=not _progress_enabled(config.progress))
    for epoch in bar:
        lr = learning_rate(config, epoch)
        train_rmse = trainer.train_epoch(torch.randperm(train.shape[0], generator=generator), lr)
        val_rmse = math.nan
        if val_values is not None:
            # Input: the user's remaining training ratings; target: the held-out ones,
            # predictions clipped to 1..5 like the reported test RMSE.
            pred = np.clip(trainer.outputs().astype(np.float64), 1.0, 5.0)
            val_rmse = math.sqrt(float(np.mean((pred - val_values) ** 2)))
        records.append({"epoch": epoch, "train_rmse": train_rmse, "val_rmse": val_rmse,
                        "lr": lr, "seconds": time.perf_counter() - start})
        bar.set_postfix(train=f"{train_rmse:.4f}", val=f"{val_rmse:.4f}")
        if val_values is None:
            best_epoch = epoch
            continue
        if val_rmse < best_val:
            best_val, best_epoch = val_rmse, epoch
            best_state = trainer.snapshot()
        elif config.patience is not None and epoch - best_epoch >= config.patience:
            break
    trainer.restore(best_state)  # None: the last epoch's weights
    model.eval()
    return FitResult(model, pd.DataFrame.from_records(records), best_epoch)
