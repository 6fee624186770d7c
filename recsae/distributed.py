r"""Training past one machine: the corrected trainer under PyTorch DDP, launched by torchrun.

The torch path of :mod:`recsae.training` (:func:`recsae.training.train_epoch`, the reference
computation) run by ``torch.nn.parallel.DistributedDataParallel``: every process holds the
same model, takes its share of every *global* minibatch, and DDP averages the gradients over
the processes before each optimizer step, so all of them take the same step. Launch it with

.. code-block:: bash

    torchrun --standalone --nproc_per_node=2 -m recsae.distributed --epochs 20         # ML-100K u1
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \
        --rdzv-endpoint=HOST:29500 -m recsae.distributed --epochs 20      # two machines

or ``python -m recsae.distributed`` for one process (no launcher needed). Each process uses
``cuda:$LOCAL_RANK`` with the nccl backend when CUDA is available, else the CPU with gloo.

How a global minibatch is shared. Every process draws the same seeded permutation of the
users each epoch (the generator of :func:`recsae.training.fit`), cuts it into global batches
of ``batch_size`` users, and takes a contiguous slice of each (:func:`rank_rows`). The
single-process objective of a batch :math:`B` is :math:`\mathrm{SSE}_B / n_B` (see
:mod:`recsae.training`). Process :math:`r` computes the SSE of its slice, :math:`S_r`, and
the batch's rating count :math:`n_B` (from per-user counts), and back-propagates
:math:`S_r / (n_B / W)`; DDP averages over the :math:`W` processes:

.. math::

    \frac{1}{W} \sum_r \nabla \frac{S_r}{n_B / W} = \frac{\nabla \sum_r S_r}{n_B}
    = \nabla \frac{\mathrm{SSE}_B}{n_B},

the single-process gradient of the same global batch (to float rounding; with one process
the computation is :func:`recsae.training.train_epoch`'s, bit for bit). Dropout masks are
drawn per process, so the equality holds for ``dropout=0``.

Limits: every process holds the whole dense user matrix (``docs/scaling.md`` says what the
big data sets need instead), and only the plain torch path is distributed; the CPU speed
engine (``recsae._fast``) is a single-process path.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from recsae.constants import clip_ratings
from recsae.data import load_split
from recsae.loss import masked_sse
from recsae.metrics import global_rmse
from recsae.model import StackedAutoencoder
from recsae.runtime import get_device, seed_everything, torch_threads
from recsae.splits import holdout_per_user
from recsae.training import (
    FitResult,
    TrainConfig,
    build_optimizer,
    learning_rate,
    observed_ratings_mask,
    predict,
)
from recsae.user_matrix import build_user_matrices

EVAL_ROWS = 4096  # users per forward pass when predicting the validation ratings


class Process(NamedTuple):
    """Where this process stands in the group: ``rank`` of ``world_size``, its device."""

    rank: int
    world_size: int
    device: torch.device


def process_device(device: str | torch.device | None = None) -> torch.device:
    """This process's device, chosen by :func:`recsae.runtime.get_device` (``device``, else
    CUDA when available, else the CPU); a CUDA device without an index becomes
    ``cuda:$LOCAL_RANK``, one GPU per process."""
    torch_device = get_device(device)
    if torch_device.type == "cuda" and torch_device.index is None:
        torch_device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch_device


@contextmanager
def process_group(device: str | torch.device | None = None) -> Iterator[Process]:
    """Join the process group for the ``with`` block, and leave it afterwards.

    Under ``torchrun`` (``$WORLD_SIZE`` set) the group comes from the launcher's environment;
    otherwise this process forms a group of one. The backend is nccl on CUDA, gloo on the
    CPU. A group that is already initialised is used as it is and left alone.
    """
    torch_device = process_device(device)
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        if "WORLD_SIZE" in os.environ:
            dist.init_process_group(backend, device_id=torch_device
                                    if torch_device.type == "cuda" else None)
        else:
            dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield Process(dist.get_rank(), dist.get_world_size(), torch_device)
    finally:
        if owned:
            dist.destroy_process_group()


def rank_rows(rows: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Process ``rank``'s contiguous slice of a global batch ``rows`` (sizes differ by at
    most one; a slice is empty when the batch has fewer rows than processes)."""
    return torch.tensor_split(rows, world_size)[rank]


def train_epoch(model: DistributedDataParallel, inputs: torch.Tensor, observed: torch.Tensor,
                optimizer: torch.optim.Optimizer, order: torch.Tensor, batch_size: int,
                user_counts: torch.Tensor | None = None) -> float:
    """One epoch of this process's share of the global minibatches; the epoch's training
    RMSE over *all* processes (the same number on each).

    Args are those of :func:`recsae.training.train_epoch`, except that ``model`` is wrapped
    in DDP and ``batch_size`` is the *global* batch: ``order`` (the same on every process)
    is cut into batches of ``batch_size`` users and this process takes its
    :func:`rank_rows` slice of each. ``user_counts`` (``[n_users]``, ``observed.sum(1)``;
    computed when None) gives every process the global batch's rating count :math:`n_B`
    without a collective, since each holds all rows: DDP's gradient all-reduce is the only
    communication of a step.
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if user_counts is None:
        user_counts = observed.sum(dim=1)
    model.train()
    total_sse = torch.zeros((), device=inputs.device)
    total_count = torch.zeros((), dtype=torch.float64, device=inputs.device)
    for start in range(0, inputs.shape[0], batch_size):
        optimizer.zero_grad(set_to_none=True)
        batch = order[start:start + batch_size]
        rows = rank_rows(batch, rank, world_size)
        x = inputs.index_select(0, rows)
        sse, count = masked_sse(model(x), x, observed.index_select(0, rows))
        batch_count = user_counts.index_select(0, batch).sum()  # n_B, a whole number
        # DDP averages the W gradients: S_r / (n_B / W) makes that average grad(SSE_B / n_B).
        (sse / (batch_count.clamp(min=1.0) / world_size)).backward()
        optimizer.step()
        total_sse, total_count = total_sse + sse.detach(), total_count + count.detach()
    totals = torch.stack([total_sse.double(), total_count])
    dist.all_reduce(totals)
    return math.sqrt(float(totals[0]) / max(float(totals[1]), 1.0))


def _user_range(n_users: int, rank: int, world_size: int) -> tuple[int, int]:
    bounds = np.linspace(0, n_users, world_size + 1).round().astype(int)
    return int(bounds[rank]), int(bounds[rank + 1])


@torch.no_grad()
def _validation_rmse(module: torch.nn.Module, inputs: torch.Tensor, rows: np.ndarray,
                     cols: np.ndarray, values: np.ndarray) -> float:
    """The held-out ratings' RMSE (predictions clipped to 1..5, as :func:`recsae.training.fit`
    computes it), each process predicting the ratings of its own range of users."""
    rank, world_size = dist.get_rank(), dist.get_world_size()
    lo, hi = _user_range(inputs.shape[0], rank, world_size)
    first, last = np.searchsorted(rows, [lo, hi])  # rows are sorted (np.nonzero's order)
    module.eval()
    parts = []
    for start in range(lo, hi, EVAL_ROWS):
        stop = min(start + EVAL_ROWS, hi)
        a, b = np.searchsorted(rows, [start, stop])
        out = module(inputs[start:stop])
        r, c = (torch.from_numpy(v).to(inputs.device) for v in (rows[a:b] - start, cols[a:b]))
        parts.append(out[r, c].cpu().numpy())
    pred = clip_ratings(np.concatenate(parts or [np.zeros(0, np.float32)]).astype(np.float64))
    sse = float(np.sum((pred - values[first:last]) ** 2))
    totals = torch.tensor([sse, float(last - first)], dtype=torch.float64, device=inputs.device)
    dist.all_reduce(totals)
    dist.broadcast(totals, src=0)  # every process decides early stopping from the same bits
    return math.sqrt(float(totals[0]) / float(totals[1]))


def fit_distributed(train: np.ndarray, n_rating_columns: int, config: TrainConfig | None = None,
                    device: str | torch.device | None = None,
                    on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """:func:`recsae.training.fit` (its dense torch path) on every process of the group.

    Call it inside :func:`process_group` on every process, with the same arguments. The
    validation split, early stopping and model selection are ``fit``'s: the held-out
    ratings are carved on every process alike, each predicts its own users' and the RMSE
    is all-reduced. ``config.batch_size`` is the global batch. Returns the same
    :class:`recsae.training.FitResult` on every process (the plain model, not the DDP
    wrapper); with one process it equals ``fit(..., sparse=False)``. ``on_epoch`` is
    called with each epoch's history record (e.g. to print it on rank 0).
    """
    config = config or TrainConfig()
    generator = seed_everything(config.seed)  # the same initial weights and orders everywhere
    torch_device = process_device(device)
    module = StackedAutoencoder(train.shape[1], config.hidden, config.activation,
                                config.dropout).to(torch_device)
    model = DistributedDataParallel(module, device_ids=[torch_device.index]
                                    if torch_device.type == "cuda" else None)
    fit_input, val_values = np.asarray(train, dtype=np.float32), None
    val_rows = val_cols = np.zeros(0, dtype=np.int64)
    if config.val_fraction > 0:
        fit_input, val_target = holdout_per_user(fit_input, n_rating_columns,
                                                 config.val_fraction, config.seed)
        if val_target.any():
            val_rows, val_cols = (a.astype(np.int64) for a in np.nonzero(val_target))
            val_values = val_target[val_rows, val_cols].astype(np.float64)
    inputs = torch.from_numpy(np.ascontiguousarray(fit_input)).to(torch_device)
    observed = observed_ratings_mask(inputs, n_rating_columns)
    optimizer = build_optimizer(model.parameters(), config)
    user_counts = observed.sum(dim=1)

    records, best_val, best_epoch, best_state = [], math.inf, 0, None
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(train.shape[0], generator=generator).to(torch_device)
        train_rmse = train_epoch(model, inputs, observed, optimizer, order, config.batch_size,
                                 user_counts)
        val_rmse = math.nan
        if val_values is not None:
            val_rmse = _validation_rmse(module, inputs, val_rows, val_cols, val_values)
        records.append({"epoch": epoch, "train_rmse": train_rmse, "val_rmse": val_rmse,
                        "lr": lr, "seconds": time.perf_counter() - start})
        if on_epoch is not None:
            on_epoch(records[-1])
        if val_values is None:
            best_epoch = epoch
            continue
        if val_rmse < best_val:
            best_val, best_epoch = val_rmse, epoch
            best_state = copy.deepcopy(module.state_dict())
        elif config.patience is not None and epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return FitResult(module, pd.DataFrame.from_records(records), best_epoch)


def synthetic_matrix(n_users: int, n_items: int, n_features: int = 0, density: float = 0.05,
                     seed: int = 0) -> np.ndarray:
    """A seeded synthetic user matrix ``[n_users, n_items + n_features]`` float32: whole
    ratings 1..5 at a ``density`` of the rating columns (at least two per user), then
    ``n_features`` side-feature columns in [0, 1)."""
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, size=(n_users, n_items)).astype(np.float32)
    keep = rng.random((n_users, n_items)) < density
    keep[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    keep[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    features = rng.random((n_users, n_features), dtype=np.float32)
    return np.concatenate([np.where(keep, ratings, 0.0).astype(np.float32), features], axis=1)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recsae.distributed", description=(
        "Train the stacked autoencoder with DDP (launch with torchrun --nproc_per_node=N)."))
    p.add_argument("--fold", default="1", help="ML-100K fold: u{fold}.base / u{fold}.test")
    p.add_argument("--recipe", default="corrected", choices=("corrected", "as_published"))
    p.add_argument("--features", default="ratings+genres+attributes")
    p.add_argument("--synthetic", metavar="USERSxITEMS[+FEATURES]", help=(
        "train on a seeded synthetic matrix instead, e.g. 2000x500+4 (no data download)"))
    p.add_argument("--hidden", default="20,10,20", help="hidden sizes, comma-separated")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64, help="users per step, all processes")
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda:$LOCAL_RANK if any)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--save", default=None, help="rank 0 saves the history and weights here")
    return p.parse_args(argv)


def _load(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``(train, test or None, n_rating_columns)`` from the arguments."""
    if args.synthetic:
        match = re.fullmatch(r"(\d+)x(\d+)(?:\+(\d+))?", args.synthetic)
        if match is None:
            raise SystemExit(f"--synthetic takes USERSxITEMS[+FEATURES], not {args.synthetic!r}")
        users, items, feats = (int(g or 0) for g in match.groups())
        return synthetic_matrix(users, items, feats), None, items
    matrices = build_user_matrices(*load_split(args.fold), recipe=args.recipe,
                                   features=args.features)
    return matrices.train, matrices.test, matrices.columns.n_items


def _print_epoch(record: dict[str, Any]) -> None:
    print(f"epoch {record['epoch']:4d}  train RMSE {record['train_rmse']:.4f}  "
          f"val RMSE {record['val_rmse']:.4f}  {record['seconds']:7.2f} s", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """The command line (``python -m recsae.distributed --help``): rank 0 prints each
    epoch's training and validation RMSE and, on ML-100K, the test RMSE."""
    args = _arguments(argv)
    config = TrainConfig(
        hidden=tuple(int(h) for h in args.hidden.split(",")), epochs=args.epochs,
        batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay,
        val_fraction=args.val_fraction, patience=args.patience, seed=args.seed)
    train, test, n_items = _load(args)
    with torch_threads(args.threads), process_group(args.device) as proc:
        if proc.rank == 0:
            print(f"{proc.world_size} process(es), {dist.get_backend()} on {proc.device}; "
                  f"matrix {train.shape[0]} x {train.shape[1]}; global batch {config.batch_size} "
                  f"users (~{math.ceil(config.batch_size / proc.world_size)} per process)",
                  flush=True)
        result = fit_distributed(train, n_items, config, proc.device,
                                 _print_epoch if proc.rank == 0 else None)
        if proc.rank != 0:
            return
        print(f"best epoch {result.best_epoch}")
        if test is not None:
            pred = predict(result.model, train)[:, :n_items]
            mask = test[:, :n_items] != 0
            print(f"test RMSE {global_rmse(pred, test[:, :n_items], mask):.4f}")
        if args.save:
            torch.save({"history": result.history.to_dict("list"), "best_epoch": result.best_epoch,
                        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()}},
                       args.save)


if __name__ == "__main__":
    main()
