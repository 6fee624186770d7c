"""The article's experiment table, regenerated: feature sets x depths x recipes.

Each cell trains a stacked autoencoder for ``epochs`` epochs on ``u1.base``'s user matrices
and scores it on ``u1.test`` with the article's metric and the honest ones (predictions
from the users' *training* rows, targets their *test* rows). Trainers (column ``trainer``):

* recipe ``"corrected"``: :func:`recsae.training.fit` with ``corrected_config`` (hidden
  sizes replaced by the cell's depth);
* recipe ``"as_published"``, cells named by ``exact``: the article's exact dynamics,
  :func:`recsae.article.train_as_published` (``"as_published (exact)"``);
* recipe ``"as_published"``, other cells: the corrected trainer with the article's
  settings (:meth:`TrainConfig.article_settings`: RMSprop lr 0.01, weight decay 0.5,
  sigmoid), ``"corrected (article settings)"``. The exact dynamics take one optimizer step
  per user (943 x 200 steps) updating every weight: minutes per cell for the 5- and 7-layer
  nets (1.1M and 1.2M weights) on a 2-core CPU, seconds for the 3-layer net. By default
  (``exact="depth3"``) every 3-layer as-published cell runs the exact dynamics.

Beware the stand-in: with gradients zeroed, weight decay 0.5 overwhelms each step's small
gradient and the net collapses to a near-constant output (test RMSE above 2 on u1); the article's
own loop escapes this only because its never-zeroed gradient *sum* outgrows the decay.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae import metrics
from recsae.article import train_as_published
from recsae.data import load_split
from recsae.features import FEATURE_SETS, RECIPES
from recsae.model import StackedAutoencoder, article_hidden_sizes
from recsae.runtime import progress_enabled, seed_everything
from recsae.training import TrainConfig, fit, predict
from recsae.user_matrix import UserMatrices, build_user_matrices

DEPTHS = (3, 5, 7)
HEADLINE = ("ratings+genres+attributes", 3)  # the article's best configuration
EXACT_CHOICES = ("none", "headline", "depth3", "all")
STAND_IN_CHOICES = ("all", "headline", "none")
DEEP_CHOICES = ("all", "headline")
TRAINER_EXACT = "as_published (exact)"
TRAINER_ARTICLE_SETTINGS = "corrected (article settings)"
TRAINER_CORRECTED = "corrected"

CORRECTED_CONFIG = TrainConfig()  # Adam, lr 3e-3, 64 users a step, early stopping (patience 40)

TABLE_COLUMNS = [
    "recipe", "features", "depth", "trainer", "epochs", "best_epoch", "n_columns",
    "article_metric", "n_users_in_article_metric", "global_rmse", "global_mae",
    "global_rmse_unclipped", "global_mae_unclipped", "per_user_rmse", "n_test_users",
    "n_test_ratings", "seconds",
]
EXTRA_COLUMNS = ("history", "model_state")  # exact-trainer rows only, not table columns


def architectures(n_inputs: Mapping[str, int], depths: Iterable[int] = DEPTHS) -> pd.DataFrame:
    """The networks of the grid: hidden sizes, ``nn.Linear`` layers and weight counts.

    Args:
        n_inputs: a label -> the columns of a user row, e.g. ``{"as published": 1704}``;
            one weight-count column per label (the first and last layers grow with it).
        depths: the article's names of the nets (:func:`recsae.model.article_hidden_sizes`).

    Returns:
        One row per depth: ``network``, ``hidden sizes``, ``sizes from`` (the 7-layer sizes
        are our choice), ``linear layers``, ``weights (<label>)`` (weights and biases).
    """
    rows = []
    for depth in depths:
        hidden = article_hidden_sizes(depth)
        row: dict[str, object] = {
            "network": f"{depth} layers", "hidden sizes": " - ".join(map(str, hidden)),
            "sizes from": "our choice" if depth == 7 else "the article",
            "linear layers": len(hidden) + 1}
        for label, n in n_inputs.items():
            row[f"weights ({label})"] = StackedAutoencoder(n, hidden).n_parameters()
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def exact_cells(exact: str | Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """The as-published ``(features, depth)`` cells to run with the exact dynamics: ``"none"``,
    ``"headline"`` (ratings+genres+attributes, 3 layers), ``"depth3"``, ``"all"``, or a list."""
    if isinstance(exact, str):
        if exact not in EXACT_CHOICES:
            raise ValueError(f"exact must be one of {EXACT_CHOICES} or a list of cells, "
                             f"not {exact!r}.")
        return {"none": set(), "headline": {HEADLINE},
                "depth3": {(f, 3) for f in FEATURE_SETS},
                "all": {(f, d) for f in FEATURE_SETS for d in DEPTHS}}[exact]
    return {(str(f), int(d)) for f, d in exact}


def score(pred: np.ndarray, matrices: UserMatrices) -> dict[str, float | int]:
    """The article's metric and the honest metrics of ``pred`` against the test matrix.

    Args:
        pred: model outputs ``[n_users, n_columns]`` computed from ``matrices.train``.
        matrices: the cell's train/test matrices.
    """
    n = matrices.columns.n_items
    values, counted = metrics.article_metric_per_user(pred, matrices.test, n)
    mask = metrics.rating_mask(matrices.test, n)
    honest = metrics.honest_metrics(pred[:, :n], matrices.test[:, :n], mask)
    return {
        "article_metric": float(values[counted].mean()),
        "n_users_in_article_metric": int(counted.sum()),
        "global_rmse": honest["global_rmse"],
        "global_mae": honest["global_mae"],
        "global_rmse_unclipped": honest["global_rmse_unclipped"],
        "global_mae_unclipped": honest["global_mae_unclipped"],
        "per_user_rmse": honest["per_user_rmse"],
        "n_test_users": honest["n_users"],
        "n_test_ratings": honest["n_ratings"],
    }


def run_cell(matrices: UserMatrices, depth: int, trainer: str, epochs: int = 200,
             seed: int = 0, corrected_config: TrainConfig = CORRECTED_CONFIG,
             progress: bool = False, threads: int | None = 1) -> dict[str, object]:
    """Train and score one cell; returns one row of the table (see :data:`TABLE_COLUMNS`).

    Exact-trainer rows also hold ``history`` (:func:`recsae.article.train_as_published`'s)
    and ``model_state`` (the trained ``state_dict``): notebook 4 reads its run from the
    results cache, and notebook 5's headline cell is the same run (:data:`EXTRA_COLUMNS`).

    Args:
        matrices: train/test matrices of the cell's recipe and feature set.
        depth: 3, 5 or 7 (:func:`recsae.model.article_hidden_sizes`).
        trainer: :data:`TRAINER_EXACT`, :data:`TRAINER_ARTICLE_SETTINGS` or
            :data:`TRAINER_CORRECTED`.
        epochs: epochs for every trainer (the corrected one may stop early).
        seed: seeds the initial weights (and the corrected trainer's shuffling/split).
        progress: tqdm bars (off when ``$TQDM_DISABLE`` is set).
        threads: torch CPU threads (see :func:`recsae.runtime.torch_threads`).
    """
    hidden = article_hidden_sizes(depth)
    n = matrices.columns.n_items
    start = time.perf_counter()
    if trainer == TRAINER_EXACT:
        seed_everything(seed)
        model = StackedAutoencoder(matrices.train.shape[1], hidden)
        history = train_as_published(model, matrices.train, n, epochs=epochs,
                                     progress=progress, threads=threads)
        epochs_run, best_epoch = len(history), len(history)
    elif trainer in (TRAINER_ARTICLE_SETTINGS, TRAINER_CORRECTED):
        if trainer == TRAINER_ARTICLE_SETTINGS:
            config = TrainConfig.article_settings(hidden, epochs=epochs, seed=seed,
                                                  progress=progress)
        else:
            config = replace(corrected_config, hidden=hidden, epochs=epochs, seed=seed,
                             progress=progress)
        model, history, best_epoch = fit(matrices.train, n, config, device="cpu",
                                         threads=threads)
        epochs_run = len(history)
    else:
        raise ValueError(f"unknown trainer {trainer!r}.")
    pred = predict(model, matrices.train)
    row: dict[str, object] = {
        "recipe": matrices.recipe, "features": matrices.features, "depth": depth,
        "trainer": trainer, "epochs": epochs_run, "best_epoch": best_epoch,
        "n_columns": matrices.columns.n_columns, **score(pred, matrices),
        "seconds": time.perf_counter() - start,
    }
    if trainer == TRAINER_EXACT:  # small (3-layer: ~70,000 weights); notebook 4 shows them
        row |= {"history": history, "model_state": {k: v.detach().clone()
                                                     for k, v in model.state_dict().items()}}
    return row


class Cell(NamedTuple):
    """One trained-and-scored configuration: what :func:`run_cell` needs."""

    matrices: UserMatrices
    depth: int
    trainer: str
    epochs: int = 200
    seed: int = 0
    corrected_config: TrainConfig = CORRECTED_CONFIG
    threads: int | None = 1


Memo = Callable[..., Any]  # memo(name, compute, **key): e.g. recsae.course.cache.cached


def _digest(array: np.ndarray) -> str:  # of the contents
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def cell_key(cell: Cell) -> dict[str, object]:
    """Everything a cell's result depends on besides the code: the matrices' contents (not
    their recipe's name: ratings-only matrices are the same for both recipes), the net, the
    trainer and its settings. Two cells with equal keys train the same model."""
    m = cell.matrices
    config = cell.corrected_config.to_dict() if cell.trainer == TRAINER_CORRECTED else None
    return {"train": _digest(m.train), "test": _digest(m.test), "shape": list(m.train.shape),
            "n_items": m.columns.n_items, "depth": cell.depth, "trainer": cell.trainer,
            "epochs": cell.epochs, "seed": cell.seed, "threads": cell.threads, "config": config}


def _run(cell: Cell) -> dict[str, object]:
    return run_cell(cell.matrices, cell.depth, cell.trainer, cell.epochs, cell.seed,
                    cell.corrected_config, False, cell.threads)


_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> ProcessPoolExecutor:
    """The process pool of ``workers`` processes, started on first use and kept for later
    calls (a process spends seconds importing torch and loading the numba kernels)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None or getattr(pool, "_broken", False):
            if not _POOLS:
                atexit.register(shutdown_pools)
            # "spawn": a forked child would inherit torch's thread pool state from the parent.
            pool = _POOLS[workers] = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_interrupts)
        return pool


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent (which stops them): no traceback per worker when
    a notebook's kernel is interrupted or shut down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def shutdown_pools(kill: bool = False) -> None:
    """Stop the worker processes that :func:`run_cells` keeps (also done at exit); ``kill``:
    at once, abandoning the cells they are training."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            if kill:
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.terminate()
            pool.shutdown(wait=not kill, cancel_futures=kill)
        _POOLS.clear()


def run_cells(cells: Sequence[Cell], workers: int = 1, memo: Memo | None = None,
              progress: bool = False) -> list[dict[str, object]]:
    """Train and score ``cells``; one row (see :data:`TABLE_COLUMNS`) per cell, in order.

    Args:
        cells: what to train.
        workers: cells trained at once, each in its own process (kept for later calls,
            :func:`shutdown_pools`). The cells are independent and seeded, so the rows do
            not depend on it; 2 workers of 1 thread halve the wall time on 2 cores.
        memo: a results cache, called as ``memo("experiment_cell", compute, **cell_key(c))``
            (:func:`recsae.course.cache.cached`): a cell that another notebook or an earlier
            run already trained is read back instead of trained again. None: train all.
        progress: one tqdm bar over the cells (off when ``$TQDM_DISABLE`` is set).
    """
    stop = threading.Event()

    def compute(cell: Cell) -> dict[str, object]:
        if workers <= 1:
            return _run(cell)
        if stop.is_set():
            raise RuntimeError("run_cells was interrupted.")
        return _pool(workers).submit(_run, cell).result()

    def one(cell: Cell) -> dict[str, object]:  # a stored row may be the other recipe's
        row = (compute(cell) if memo is None
               else memo("experiment_cell", lambda: compute(cell), **cell_key(cell)))
        return {**row, "recipe": cell.matrices.recipe, "features": cell.matrices.features}

    bar = tqdm(total=len(cells), desc="cells", disable=not progress_enabled(progress))
    # Threads only wait (on the cache, or on the process pool that trains):
    ex = ThreadPoolExecutor(max_workers=max(1, len(cells) if workers > 1 else 1))
    # Longest first (the exact loop, deeper nets, the corrected trainer's longer runs before
    # the stand-in's, more epochs): the pool's workers end evenly.
    order = sorted(range(len(cells)), key=lambda i: (
        cells[i].trainer != TRAINER_EXACT, -cells[i].depth,
        cells[i].trainer == TRAINER_ARTICLE_SETTINGS, -cells[i].epochs))
    futures = {ex.submit(one, cells[i]): i for i in order}
    rows: list[dict[str, object]] = [{} for _ in cells]
    try:
        for future in as_completed(futures):
            rows[futures[future]] = future.result()
            bar.update()
    except BaseException:  # Ctrl-C or a failed cell: stop the rest at once
        stop.set()
        for future in futures:
            future.cancel()
        shutdown_pools(kill=True)
        raise
    finally:
        ex.shutdown(wait=False)
        bar.close()
    return rows


def grid_cells(train: pd.DataFrame, test: pd.DataFrame, *,
               recipes: Iterable[str] = RECIPES, feature_sets: Iterable[str] = FEATURE_SETS,
               depths: Iterable[int] = DEPTHS, epochs: int = 200,
               exact: str | Iterable[tuple[str, int]] = "depth3", stand_ins: str = "all",
               seed: int = 0, corrected_config: TrainConfig = CORRECTED_CONFIG,
               matrices: Mapping[tuple[str, str], UserMatrices] | None = None,
               threads: int | None = 1, deep: str = "all") -> list[Cell]:
    """The cells of :func:`run_grid`, in the table's order (arguments as there)."""
    exact_set = exact_cells(exact)
    for name, value, choices in (("stand_ins", stand_ins, STAND_IN_CHOICES),
                                 ("deep", deep, DEEP_CHOICES)):
        if value not in choices:
            raise ValueError(f"{name} must be one of {choices}, not {value!r}.")
    depths = list(depths)
    cells = []
    for recipe in recipes:
        for features in feature_sets:
            if matrices is not None and (recipe, features) in matrices:
                cell_matrices = matrices[(recipe, features)]
            else:
                cell_matrices = build_user_matrices(train, test, recipe=recipe,
                                                    features=features)
            for depth in depths:
                if deep == "headline" and depth != HEADLINE[1] and features != HEADLINE[0]:
                    continue  # a deep cell left out
                if recipe == "corrected":
                    trainer = TRAINER_CORRECTED
                elif (features, depth) in exact_set:
                    trainer = TRAINER_EXACT
                elif stand_ins == "all" or stand_ins == "headline" and features == HEADLINE[0]:
                    trainer = TRAINER_ARTICLE_SETTINGS
                else:
                    continue  # a stand-in cell left out
                cells.append(Cell(cell_matrices, depth, trainer, epochs, seed,
                                  corrected_config, threads))
    return cells


def run_grid(train: pd.DataFrame | None = None, test: pd.DataFrame | None = None, *,
             recipes: Iterable[str] = RECIPES, feature_sets: Iterable[str] = FEATURE_SETS,
             depths: Iterable[int] = DEPTHS, epochs: int = 200,
             exact: str | Iterable[tuple[str, int]] = "depth3", stand_ins: str = "all",
             seed: int = 0, corrected_config: TrainConfig = CORRECTED_CONFIG,
             matrices: Mapping[tuple[str, str], UserMatrices] | None = None,
             progress: bool = False, threads: int | None = 1, workers: int = 1,
             memo: Memo | None = None, deep: str = "all") -> pd.DataFrame:
    """The article's experiment table, one row per (recipe, feature set, depth).

    Args:
        train, test: ratings frames (default: ``u1.base``/``u1.test``).
        recipes, feature_sets, depths: the grid's axes (default: all of the article's).
        epochs: per cell (the article: 200).
        exact: which as-published cells use the exact dynamics (:func:`exact_cells`);
            the others use the corrected trainer with the article's settings.
        stand_ins: which of those other (stand-in) cells to run: ``"all"``, ``"headline"``
            (ratings+genres+attributes only) or ``"none"``; the rest are left out.
        deep: which feature sets get the deeper nets (``depths`` other than 3): ``"all"``,
            or ``"headline"`` (ratings+genres+attributes only; the 3-layer cells stay).
        seed: the same seed for every cell.
        corrected_config: the corrected recipe's trainer settings (hidden sizes and epochs
            are set per cell).
        matrices: prebuilt matrices keyed by ``(recipe, features)`` (else built here).
        progress: a tqdm bar over the cells (off when ``$TQDM_DISABLE`` is set).
        threads: torch CPU threads per cell (1: robust on a busy machine; None: torch's
            default, faster for the 5- and 7-layer nets on idle cores).
        workers, memo: see :func:`run_cells` (neither changes the table).

    Returns:
        DataFrame with :data:`TABLE_COLUMNS`; ``attrs["note"]`` says which trainer ran
        which cells.
    """
    if train is None or test is None:
        train, test = load_split(1)
    cells = grid_cells(train, test, recipes=recipes, feature_sets=feature_sets, depths=depths,
                       epochs=epochs, exact=exact, stand_ins=stand_ins, seed=seed,
                       corrected_config=corrected_config,
                       matrices=matrices, threads=threads, deep=deep)
    rows = run_cells(cells, workers=workers, memo=memo, progress=progress)
    table = pd.DataFrame.from_records(rows, columns=TABLE_COLUMNS)
    table.attrs["note"] = grid_note(table)
    return table


def grid_note(table: pd.DataFrame) -> str:
    """One sentence per trainer saying which cells it ran (for the notebook's output)."""
    lines = []
    for trainer, group in table.groupby("trainer", sort=False):
        cells = ", ".join(f"{r.recipe}/{r.features}/{r.depth}-layer"
                          for r in group.itertuples())
        lines.append(f"{trainer}: {cells}")
    return "\n".join(lines)
