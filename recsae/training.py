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
  It takes the user matrix dense or as a SciPy CSR matrix (big data: nothing of size
  users x columns is made dense, and the same matrix gives the same result); elsewhere
  than on the CPU a CSR trains in plain torch (:mod:`recsae.sparse_torch`).
  ``TrainConfig(optimizer="sparse_adam")`` makes an epoch cost O(ratings)
  (:mod:`recsae.trainconfig`); :mod:`recsae.inference` predicts in user batches.

Shapes: a user matrix is ``[n_users, n_columns]`` float32, rating columns first, then any
genre-count and attribute columns; 0 = no rating.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae.article import check_matrix
from recsae.constants import clip_ratings
from recsae.loss import masked_sse
from recsae.model import StackedAutoencoder
from recsae.runtime import as_float_tensor, get_device, progress_enabled, seed_everything, torch_threads
from recsae.sparse_torch import SparseTorchTrainer
from recsae.splits import canonical_csr, holdout_per_user
from recsae.trainconfig import (
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    build_optimizer,
    learning_rate,
)

__all__ = ["OPTIMIZERS", "SCHEDULES", "DenseTrainer", "FitResult", "TrainConfig",
           "build_optimizer", "fit", "learning_rate", "observed_ratings_mask", "predict",
           "train_epoch"]

class FitResult(NamedTuple):
    """What :func:`fit` returns; unpacks as ``model, history, best_epoch``."""

    model: torch.nn.Module
    history: pd.DataFrame
    best_epoch: int


def observed_ratings_mask(inputs: torch.Tensor, n_rating_columns: int) -> torch.Tensor:
    """Where a training row ``[n_users, n_columns]`` is scored: its non-zero *rating*
    columns, as 0/1 floats of the same shape, dtype and device (0 on every feature column).
    Made once per run, so each minibatch's loss is two passes over full-width rows."""
    mask = (inputs != 0).to(inputs.dtype)
    mask[:, n_rating_columns:] = 0.0
    return mask


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
def predict(model: StackedAutoencoder, inputs: np.ndarray | torch.Tensor | sp.csr_matrix,
            batch_size: int | None = None) -> np.ndarray:
    """Model outputs ``[n_users, n_columns]`` (float32, NumPy) for input rows
    ``[n_users, n_columns]`` (dense, or a SciPy CSR made dense batch by batch), in eval
    mode, on the model's device. The whole output is dense: for big data predict pairs or
    top-k lists in user batches (:mod:`recsae.inference`)."""
    model.eval()
    device = next(model.parameters()).device
    if sp.issparse(inputs):
        step = batch_size or inputs.shape[0]
        parts = [model(as_float_tensor(inputs[i:i + step].toarray()).to(device)).cpu()
                 for i in range(0, inputs.shape[0], step)]
        return torch.cat(parts).numpy()
    x = as_float_tensor(inputs) if not isinstance(inputs, torch.Tensor) else inputs.float()
    step = batch_size or x.shape[0]
    parts = [model(x[i:i + step].to(device)).cpu() for i in range(0, x.shape[0], step)]
    return torch.cat(parts).numpy()


def fit(train: np.ndarray | sp.csr_matrix, n_rating_columns: int,
        config: TrainConfig | None = None, device: str | torch.device | None = None,
        threads: int | None = None, sparse: bool | str | None = None,
        model: torch.nn.Module | None = None) -> FitResult:
    """Train an autoencoder with the corrected trainer (default: a new
    :class:`StackedAutoencoder` built from ``config``).

    Args:
        train: training matrix ``[n_users, n_columns]`` (never the test matrix: the
            validation ratings are carved out of it, see
            :func:`recsae.splits.holdout_per_user`): dense, or a SciPy CSR matrix/array
            (side features as explicit entries), which the sparse engines take without
            ever making it dense; the same matrix gives the same result either way.
        n_rating_columns: number of rating columns (they come first).
        config: hyper-parameters (default :class:`TrainConfig`).
        device: see :func:`recsae.runtime.get_device` (None: CUDA if available).
        threads: torch CPU threads for the run (None: torch's default); see
            :func:`recsae.runtime.torch_threads`.
        sparse: the engine. True: each minibatch from its non-zero entries only, in numba
            (:class:`recsae._fast.sparse_trainer.SparseTrainer`; CPU only). ``"torch"``:
            the same in plain torch on any device
            (:class:`recsae.sparse_torch.SparseTorchTrainer`: the first layer an
            ``EmbeddingBag``, the output layer at the scored entries only). False: densely
            by :func:`train_epoch` (a CSR is made dense). None: True on the CPU,
            ``"torch"`` elsewhere for a CSR or ``optimizer="sparse_adam"``, else False.
            Same loss, gradients and optimizer rules up to float rounding
            (``docs/benchmarks.md`` has the speed-up).
        model: any ``nn.Module`` mapping rows ``[batch, n_columns]`` to reconstructions of
            the same shape, e.g. a variational or denoising autoencoder; the sparse
            engines know only :class:`StackedAutoencoder`, so another model trains densely.

    Returns:
        :class:`FitResult`: the model (best validation epoch's weights, eval mode, on
        ``device``), the history DataFrame (``epoch, train_rmse, val_rmse, lr, seconds``;
        ``val_rmse`` is NaN without validation) and the best epoch. Predict the test
        ratings from the users' *full* training rows: ``predict(model, train)``, or
        :func:`recsae.inference.predict_pairs` for big data.

    Raises:
        TypeError, ValueError: before training, for what is not a user matrix
            (:func:`recsae.article.check_matrix`) or a ``config`` that is not a TrainConfig.
    """
    check_matrix(train, n_rating_columns, "train")
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig (TrainConfig.from_dict(d) for a dict), "
                        f"not a {type(config).__name__}.")
    if sparse not in (None, True, False, "torch"):
        raise ValueError(f"sparse must be None, True, False or 'torch', not {sparse!r}.")
    matrix = canonical_csr(train) if sp.issparse(train) else np.asarray(train, dtype=np.float32)
    with torch_threads(threads):
        return _fit(matrix, n_rating_columns, config or TrainConfig(), get_device(device),
                    sparse, model)


def _engine(use_sparse: bool | str | None, device: torch.device, stacked: bool, csr: bool,
            config: TrainConfig) -> str:
    """``"numba"``, ``"torch"`` or ``"dense"``: see :func:`fit`'s ``sparse``."""
    lazy = config.optimizer == "sparse_adam"
    if use_sparse is None:
        if not stacked:
            use_sparse = False
        elif device.type == "cpu":
            use_sparse = True
        else:
            use_sparse = "torch" if csr or lazy else False
    if use_sparse and not stacked:
        raise ValueError("the sparse engines train StackedAutoencoder only; pass sparse=False.")
    if use_sparse is True and device.type != "cpu":
        raise ValueError(f"sparse minibatches in numba run on the CPU only, not on {device}; "
                         "pass sparse='torch' (or None) for other devices.")
    if not use_sparse and lazy:
        raise ValueError("optimizer='sparse_adam' needs a sparse engine (sparse=True or "
                         "'torch', and a StackedAutoencoder).")
    return "numba" if use_sparse is True else "torch" if use_sparse else "dense"


def _fit(train: np.ndarray | sp.csr_matrix, n_rating_columns: int, config: TrainConfig,
         torch_device: torch.device, use_sparse: bool | str | None = None,
         model: torch.nn.Module | None = None) -> FitResult:
    generator = seed_everything(config.seed)
    if model is None:
        model = StackedAutoencoder(train.shape[1], config.hidden, config.activation,
                                   config.dropout)
    model = model.to(torch_device)
    csr = sp.issparse(train)
    engine = _engine(use_sparse, torch_device, isinstance(model, StackedAutoencoder), csr,
                     config)
    fit_input = train
    # The held-out ratings, row by row (what each epoch's validation predicts); none when
    # validation is off or too few ratings could be held out.
    val_rows = val_cols = np.zeros(0, dtype=np.int64)
    val_values = None
    if config.val_fraction > 0:
        fit_input, val_target = holdout_per_user(train, n_rating_columns,
                                                 config.val_fraction, config.seed)
        if csr and val_target.nnz:
            val_rows = np.repeat(np.arange(val_target.shape[0], dtype=np.int64),
                                 np.diff(val_target.indptr))
            val_cols = val_target.indices.astype(np.int64)
            val_values = val_target.data.astype(np.float64)
        elif not csr and val_target.any():
            val_rows, val_cols = (a.astype(np.int64) for a in np.nonzero(val_target))
            val_values = val_target[val_rows, val_cols].astype(np.float64)
    queries = (val_rows, val_cols)
    if engine == "numba":
        from recsae._fast.sparse_trainer import SparseTrainer  # the speed engine; imports numba

        trainer: Any = SparseTrainer(model, fit_input, n_rating_columns, queries, config)
    elif engine == "torch":
        trainer = SparseTorchTrainer(model, fit_input, n_rating_columns, queries, config)
    else:
        dense = fit_input.toarray() if csr else fit_input
        trainer = DenseTrainer(model, dense, n_rating_columns, queries, config)

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
