r"""Training the stacked autoencoder: the corrected trainer.

What the article's loop gets wrong, put right (:mod:`recsae.article` has the loop as
published): minibatches of users in a seeded random order, gradients zeroed before every
step, a loss over the observed ratings only (:func:`recsae.loss.masked_sse`), and a
validation split carved from the *training* ratings for early stopping and model selection.
The objective of one minibatch :math:`B` of user rows :math:`x_u` is

.. math::

    \frac{\sum_{u \in B} \sum_i m_{ui} (f_\theta(x_u)_i - x_{ui})^2}{\sum_{u \in B} \sum_i m_{ui}}
    \; (+ \text{the optimizer's weight decay } \lambda \lVert\theta\rVert^2),

where :math:`m_{ui} = 1` for a rated movie (side-feature columns are inputs, never targets).

* :func:`train_epoch` is one plain PyTorch epoch (forward, masked loss, ``backward()``,
  optimizer step); :class:`DenseTrainer` runs it (on CUDA, or ``sparse=False``).
* :func:`fit` runs the epochs and keeps the best validation epoch. On the CPU it dispatches
  each epoch to the speed engine (:mod:`recsae._fast`): the same loss, gradients and
  updates from the non-zero entries only (the tests prove it, to float rounding).

Shapes: a user matrix is ``[n_users, n_columns]`` float32, rating columns first, then any
genre-count and attribute columns; 0 = no rating.
"""

from __future__ import annotations

import copy
import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae.article import ARTICLE_EPOCHS, ARTICLE_LR, ARTICLE_WEIGHT_DECAY, check_matrix
from recsae.constants import clip_ratings
from recsae.loss import masked_sse
from recsae.model import ACTIVATIONS, StackedAutoencoder
from recsae.runtime import as_float_tensor, get_device, progress_enabled, seed_everything, torch_threads
from recsae.splits import holdout_per_user

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Every hyper-parameter of the corrected trainer (a notebook's ``parameters`` cell).

    Attributes:
        hidden: hidden layer sizes, e.g. ``models.article_hidden_sizes(3)``.
        activation: see :data:`recsae.model.ACTIVATIONS`.
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

    Every field is checked when a config is made (also by ``from_dict`` and checkpoints): a
    ValueError names the field and the values it takes.
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
        hidden = tuple(self.hidden) if np.iterable(self.hidden) and not isinstance(
            self.hidden, str) else ()
        _require(bool(hidden) and all(_real(h) and h == int(h) >= 1 for h in hidden), "hidden",
                 "a non-empty sequence of whole layer sizes >= 1, e.g. (20, 10, 20)", self.hidden)
        self.hidden = tuple(int(h) for h in hidden)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, not {self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {self.schedule!r}.")
        _require(isinstance(self.activation, str) and self.activation in ACTIVATIONS,
                 "activation", f"one of {sorted(ACTIVATIONS)}", self.activation)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            _require(_integer(value) and value >= 1, name, "a whole number >= 1", value)
        _require(self.patience is None or _integer(self.patience) and self.patience >= 1,
                 "patience", "a whole number >= 1, or None (no early stopping)", self.patience)
        _require(_integer(self.seed) and self.seed >= 0, "seed", "a whole number >= 0", self.seed)
        _require(_real(self.lr) and self.lr > 0, "lr", "a finite number > 0", self.lr)
        _require(_real(self.weight_decay) and self.weight_decay >= 0, "weight_decay",
                 "a finite number >= 0", self.weight_decay)
        for name in ("momentum", "dropout", "val_fraction"):
            value = getattr(self, name)
            _require(_real(value) and 0 <= value < 1, name, "a number in [0, 1)", value)

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


def _integer(value: Any) -> bool:
    """An int (NumPy's included), not a bool or a float such as 2.5 or 200.0."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value: Any) -> bool:
    """A finite int or float (NumPy's included), not a bool or a string."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def _require(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"TrainConfig.{name} must be {rule}, not {value!r}.")


class FitResult(NamedTuple):
    """What :func:`fit` returns; unpacks as ``model, history, best_epoch``."""

    model: torch.nn.Module
    history: pd.DataFrame
    best_epoch: int


def build_optimizer(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer named in ``config`` (the dense path; the sparse CPU
    path applies the same rules on flat arrays).

    Adam, AdamW and SGD use torch's fused kernels (one pass over the weights instead of a
    dozen ``foreach`` passes); RMSprop, which has no fused kernel, uses ``foreach``.
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
    """Where a training row ``[n_users, n_columns]`` is scored: its non-zero *rating*
    columns, as 0/1 floats of the same shape, dtype and device (0 on every feature column).
    Made once per run, so each minibatch's loss is two passes over full-width rows."""
    mask = (inputs != 0).to(inputs.dtype)
    mask[:, n_rating_columns:] = 0.0
    return mask


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based): ``config.lr``, or with ``schedule="cosine"``
    annealed to 0 over ``config.epochs`` (the closed form of torch's ``CosineAnnealingLR``)."""
    if config.schedule == "cosine":
        return config.lr * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs)) / 2.0
    return config.lr


def train_epoch(model: torch.nn.Module, inputs: torch.Tensor, observed: torch.Tensor,
                optimizer: torch.optim.Optimizer, order: torch.Tensor, batch_size: int) -> float:
    """One plain PyTorch epoch over the user rows; returns the epoch's training RMSE.

    Args:
        model: maps rows ``[batch, n_columns]`` to reconstructions of the same shape.
        inputs: the rows ``[n_users, n_columns]``; each row is its own target.
        observed: ``[n_users, n_columns]`` 0/1, where a row is scored
            (:func:`observed_ratings_mask`).
        optimizer: steps ``model``'s parameters.
        order: ``[n_users]`` the row order of this epoch (a seeded permutation).
        batch_size: rows per optimizer step.
    """
    model.train()
    # 0-d tensors on the device, so that a GPU is not made to wait every step.
    total_sse, total_count = torch.zeros((), device=inputs.device), 0.0
    for start in range(0, inputs.shape[0], batch_size):
        optimizer.zero_grad(set_to_none=True)  # the article never did this
        rows = order[start:start + batch_size]
        x = inputs.index_select(0, rows)
        # The target is the input itself, scored where the mask is 1 (feature columns and
        # unrated movies are 0 there).
        sse, count = masked_sse(model(x), x, observed.index_select(0, rows))
        (sse / count.clamp(min=1.0)).backward()  # the batch's mean squared error
        optimizer.step()
        total_sse, total_count = total_sse + sse.detach(), total_count + count
    return math.sqrt(float(total_sse) / max(float(total_count), 1.0))


class DenseTrainer:
    """:func:`train_epoch` with its optimizer and masks, and the model's outputs at the
    validation entries: what :func:`fit` needs from a trainer (the speed engine's
    ``SparseTrainer`` has the same four methods).

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
        self.observed = observed_ratings_mask(self.inputs, n_rating_columns)
        self.query_rows, self.query_cols = (torch.from_numpy(q).to(device) for q in queries)
        self.optimizer = build_optimizer(model.parameters(), config)

    def train_epoch(self, order: torch.Tensor, lr: float) -> float:
        """One pass over the users in the order ``order`` at learning rate ``lr``; the
        epoch's training RMSE."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return train_epoch(self.model, self.inputs, self.observed, self.optimizer,
                           order.to(self.inputs.device), self.batch_size)

    @torch.no_grad()
    def outputs(self) -> np.ndarray:
        """The model's outputs (eval mode) at the queried entries, ``[m]``."""
        self.model.eval()
        return self.model(self.inputs)[self.query_rows, self.query_cols].cpu().numpy()

    def snapshot(self) -> dict[str, torch.Tensor]:
        """A copy of the current weights, for :meth:`restore`."""
        return copy.deepcopy(self.model.state_dict())

    def restore(self, snapshot: dict[str, torch.Tensor] | None) -> None:
        """Put a :meth:`snapshot` back into the model (None: keep the current weights)."""
        if snapshot is not None:
            self.model.load_state_dict(snapshot)


@torch.no_grad()
def predict(model: StackedAutoencoder, inputs: np.ndarray | torch.Tensor,
            batch_size: int | None = None) -> np.ndarray:
    """Model outputs ``[n_users, n_columns]`` (float32, NumPy) for input rows
    ``[n_users, n_columns]``, in eval mode, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    x = as_float_tensor(inputs) if not isinstance(inputs, torch.Tensor) else inputs.float()
    step = batch_size or x.shape[0]
    parts = [model(x[i:i + step].to(device)).cpu() for i in range(0, x.shape[0], step)]
    return torch.cat(parts).numpy()


def fit(train: np.ndarray, n_rating_columns: int, config: TrainConfig | None = None,
        device: str | torch.device | None = None, threads: int | None = None,
        sparse: bool | None = None, model: torch.nn.Module | None = None) -> FitResult:
    """Train an autoencoder with the corrected trainer (default: a new
    :class:`StackedAutoencoder` built from ``config``).

    Args:
        train: training matrix ``[n_users, n_columns]`` (never the test matrix: the
            validation ratings are carved out of it, see
            :func:`recsae.splits.holdout_per_user`).
        n_rating_columns: number of rating columns (they come first).
        config: hyper-parameters (default :class:`TrainConfig`).
        device: see :func:`recsae.runtime.get_device` (None: CUDA if available).
        threads: torch CPU threads for the run (None: torch's default); see
            :func:`recsae.runtime.torch_threads`.
        sparse: compute each minibatch from its non-zero entries only (the speed engine,
            :class:`recsae._fast.sparse_trainer.SparseTrainer`; CPU only) or densely by
            :func:`train_epoch`; None: sparse on the CPU, dense elsewhere. Same loss,
            gradients and optimizer rules up to float rounding (``docs/benchmarks.md`` has
            the speed-up).
        model: any ``nn.Module`` mapping rows ``[batch, n_columns]`` to reconstructions of
            the same shape, e.g. a variational or denoising autoencoder; the speed engine
            knows only :class:`StackedAutoencoder`, so another model trains densely.

    Returns:
        :class:`FitResult`: the model (best validation epoch's weights, eval mode, on
        ``device``), the history DataFrame (``epoch, train_rmse, val_rmse, lr, seconds``;
        ``val_rmse`` is NaN without validation) and the best epoch. Predict the test
        ratings from the users' *full* training rows: ``predict(model, train)``.

    Raises:
        TypeError, ValueError: before training, for what is not a user matrix
            (:func:`recsae.article.check_matrix`) or a ``config`` that is not a TrainConfig.
    """
    check_matrix(train, n_rating_columns, "train")
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (TrainConfig.from_dict(d) for a dict), "
                        f"not a {type(config).__name__}.")
    with torch_threads(threads):
        return _fit(np.asarray(train, dtype=np.float32), n_rating_columns,
                    config or TrainConfig(), get_device(device), sparse, model)


def _fit(train: np.ndarray, n_rating_columns: int, config: TrainConfig,
         torch_device: torch.device, use_sparse: bool | None = None,
         model: torch.nn.Module | None = None) -> FitResult:
    generator = seed_everything(config.seed)
    if model is None:
        model = StackedAutoencoder(train.shape[1], config.hidden, config.activation,
                                   config.dropout)
    model = model.to(torch_device)
    stacked = isinstance(model, StackedAutoencoder)
    fit_input = train
    # The held-out ratings, row by row (what each epoch's validation predicts); none when
    # validation is off or too few ratings could be held out.
    val_rows = val_cols = np.zeros(0, dtype=np.int64)
    val_values = None
    if config.val_fraction > 0:
        fit_input, val_target = holdout_per_user(train, n_rating_columns,
                                                 config.val_fraction, config.seed)
        if val_target.any():
            val_rows, val_cols = (a.astype(np.int64) for a in np.nonzero(val_target))
            val_values = val_target[val_rows, val_cols].astype(np.float64)
    if use_sparse is None:
        use_sparse = torch_device.type == "cpu" and stacked
    if use_sparse and not stacked:
        raise ValueError("the sparse engine trains StackedAutoencoder only; pass sparse=False.")
    if use_sparse and torch_device.type != "cpu":
        raise ValueError(f"sparse minibatches run on the CPU only, not on {torch_device}; "
                         "pass sparse=False (or None) for other devices.")
    queries = (val_rows, val_cols)
    if use_sparse:
        from recsae._fast.sparse_trainer import SparseTrainer  # the speed engine; imports numba

        trainer = SparseTrainer(model, fit_input, n_rating_columns, queries, config)
    else:
        trainer = DenseTrainer(model, fit_input, n_rating_columns, queries, config)

    records = []
    best_val, best_epoch, best_state = math.inf, 0, None
    start = time.perf_counter()
    bar = tqdm(range(1, config.epochs + 1), desc="fit",
               disable=not progress_enabled(config.progress))
    for epoch in bar:
        lr = learning_rate(config, epoch)
        train_rmse = trainer.train_epoch(torch.randperm(train.shape[0], generator=generator), lr)
        val_rmse = math.nan
        if val_values is not None:
            # Input: the user's remaining training ratings; target: the held-out ones,
            # predictions clipped to 1..5 like the reported test RMSE.
            pred = clip_ratings(trainer.outputs().astype(np.float64))
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
