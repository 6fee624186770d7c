"""The corrected trainer's settings: :class:`TrainConfig`, the optimizer it names and the
learning-rate schedule (re-exported by :mod:`recsae.training`, where they are used).

Optimizers: torch's ``adam``, ``adamw``, ``rmsprop`` and ``sgd`` (dense updates of every
weight each minibatch), and ``sparse_adam``: Adam, lazy on the first layer's weight rows
and the output layer's rows (only the rows a minibatch touched move, as
``torch.optim.SparseAdam`` does), dense on the small hidden layers. An epoch then costs
O(ratings), not O(users x columns): the choice for big data (``docs/scaling.md``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from recsae.article import ARTICLE_EPOCHS, ARTICLE_LR, ARTICLE_WEIGHT_DECAY
from recsae.model import ACTIVATIONS

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd", "sparse_adam")
DENSE_OPTIMIZERS = OPTIMIZERS[:4]  # what torch.optim runs on dense gradients
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
        optimizer: one of :data:`OPTIMIZERS` (``sparse_adam``: lazy Adam, see the module
            docstring; it needs a sparse engine, which :func:`recsae.training.fit` picks).
        lr: learning rate.
        weight_decay: the optimizer's L2 penalty (decoupled for ``adamw``; for
            ``sparse_adam`` added to the gradient of the rows a minibatch touches).
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


def build_optimizer(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The ``torch.optim`` optimizer named in ``config`` (the dense path; the sparse CPU
    path applies the same rules on flat arrays).

    Adam, AdamW and SGD use torch's fused kernels (one pass over the weights instead of a
    dozen ``foreach`` passes); RMSprop, which has no fused kernel, uses ``foreach``.
    ``sparse_adam`` is refused: dense gradients have no rows to be lazy about (see
    :class:`recsae.sparse_torch.SparseTorchTrainer`).
    """
    if config.optimizer not in DENSE_OPTIMIZERS:
        raise ValueError(f"optimizer {config.optimizer!r} needs sparse gradients: train with "
                         "a sparse engine (recsae.training.fit's sparse=True or 'torch').")
    common = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, fused=True, **common)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, fused=True, **common)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, momentum=config.momentum, foreach=True, **common)
    return torch.optim.SGD(params, momentum=config.momentum, fused=True, **common)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based): ``config.lr``, or with ``schedule="cosine"``
    annealed to 0 over ``config.epochs`` (the closed form of torch's ``CosineAnnealingLR``)."""
    if config.schedule == "cosine":
        return config.lr * (1.0 + math.cos(math.pi * (epoch - 1) / config.epochs)) / 2.0
    return config.lr

