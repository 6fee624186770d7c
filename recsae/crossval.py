"""Cross-validation of rating models: accuracy and top-k ranking on the same folds.

:func:`cross_validate` fits one fresh model per (model, fold), then measures on that fold's
test part

* RMSE and MAE of the predictions clipped to the rating scale
  (:func:`recsae.protocol.evaluate_rating_model`);
* top-k ranking (:mod:`recsae.ranking`): every user is scored on every candidate item
  (:func:`recsae.protocol.candidate_items`: rated in training), the items the user rated
  in training are excluded, and a test rating ``>= threshold`` is relevant. Test ratings
  of items that are not in the training part cannot be ranked and are dropped from the
  relevant set.

:func:`summarise` turns the per-fold table into mean and standard deviation per model;
:func:`recsae.plots.cross_validation` draws them next to published numbers (copied from
papers and library docs, not measured here), each compared with what it is comparable to:
:data:`PUBLISHED_U1_RMSE` (the ``u1`` split) with our fold-1 results,
:data:`PUBLISHED_RANDOM_CV_RMSE` (a random 5-fold cross-validation) with our mean over
five folds. :data:`PUBLISHED_SOURCES` names where each number comes from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae.constants import DEFAULT_K, RELEVANT_RATING
from recsae.data import PathLike
from recsae.protocol import RatingModel, candidate_items, evaluate_rating_model, score_all
from recsae.ranking import rank_top_k_batched, ranking_metrics, sparse_ranking_masks
from recsae.splits import load_dataset_split

# Published RMSEs on ML-100K's own u1.base / u1.test split (others' numbers, quoted for
# comparison, not measured here; compare them with our fold-1 results). Sources in
# PUBLISHED_SOURCES. The papers use u1 because Monti et al. (2017) did.
PUBLISHED_U1_RMSE: dict[str, float] = {
    "sRGCNN": 0.929,
    "GC-MC + features": 0.905,
    "GraphRec + features": 0.897,
    "GLocal-K": 0.889,
}
# Published ML-100K RMSEs of a *random* 5-fold cross-validation (the mean over its folds):
# compare them with our mean over u1..u5 (also five disjoint 20% test folds), not with u1.
PUBLISHED_RANDOM_CV_RMSE: dict[str, float] = {
    "Surprise BaselineOnly": 0.944,
    "Surprise SVD": 0.934,
    "Surprise SVD++": 0.919,
}
# Published ML-1M RMSEs on a random 90/10 split (Sedhain et al. 2015; Han et al. 2021).
PUBLISHED_ML1M_RMSE: dict[str, float] = {"I-AutoRec": 0.831, "GLocal-K": 0.823}
PUBLISHED_SOURCES: dict[str, str] = {
    "sRGCNN": "Monti et al. 2017",
    "GC-MC + features": "van den Berg et al. 2017",
    "GraphRec + features": "Rashed et al. 2019",
    "GLocal-K": "Han et al. 2021",
    "Surprise BaselineOnly": "Surprise README",
    "Surprise SVD": "Surprise README",
    "Surprise SVD++": "Surprise README",
    "I-AutoRec": "Sedhain et al. 2015",
}

# ``memo(name, compute, **key)`` returns ``compute()`` or a stored result for the same name,
# key and code, e.g. :func:`recsae.course.cache.cached` (the notebooks pass it).
Memo = Callable[..., Any]


def model_key(model: object) -> dict[str, str]:
    """What an *unfitted* model's result depends on besides the data and the code: its class
    and its settings (``vars``: the config dataclasses, regularisation weights...), as text.

    Two unfitted models with equal keys train the same way, so a cached result of one is
    the result of the other (the models in recsae keep every setting in attributes).
    """
    settings = {name: repr(value) for name, value in sorted(vars(model).items())}
    return {"class": f"{type(model).__module__}.{type(model).__qualname__}", **settings}


# Pairs scored per predict call in :func:`evaluate_split`. Small blocks keep a factor
# model's gathered [pairs, factors] arrays in cache: scoring u1 (943 x 1650 pairs) with
# biased MF takes a quarter of the CPU time it takes in blocks of 1,000,000 pairs.
SCORE_BLOCK = 20_000
RANK_BATCH = 1 << 22  # scores (users x candidate items) ranked at a time in evaluate_split


def score_in_blocks(model: RatingModel, user_ids: np.ndarray, item_ids: np.ndarray,
                    block: int = SCORE_BLOCK) -> np.ndarray:
    """:func:`recsae.protocol.score_all` (``[n_users, n_items]``), ``block`` pairs at a time."""
    user_ids = np.asarray(user_ids)
    # A model whose every predict call has a large fixed cost (the Bayesian FM rebuilds its
    # relation blocks and walks every kept sample) asks for bigger blocks.
    block = max(block, getattr(model, "score_block", 0))
    step = max(1, block // max(1, len(item_ids)))
    return np.vstack([score_all(model, user_ids[start:start + step], item_ids)
                      for start in range(0, len(user_ids), step)])


def evaluate_split(model: RatingModel, train: pd.DataFrame, test: pd.DataFrame, k: int = DEFAULT_K,
                   threshold: float = RELEVANT_RATING, ranking: bool = True) -> dict[str, float]:
    """Accuracy and ranking metrics of a model already fitted on ``train``, on ``test``.

    Returns:
        ``rmse, mae, n_test`` and ``precision@k, recall@k, ndcg@k, map@k, hit_rate@k,
        n_rank_users`` (users with at least one relevant test item); with ``ranking=False``
        only the first three (ranking scores every user x movie pair: the costly part).
    """
    accuracy = evaluate_rating_model(model, test)
    if not ranking:
        return {"rmse": accuracy["rmse"], "mae": accuracy["mae"], "n_test": accuracy["n"]}
    users = np.union1d(train["user_id"].to_numpy(), test["user_id"].to_numpy())
    items = np.unique(train["item_id"].to_numpy())
    items = items[candidate_items(train, items)]  # every movie rated in training
    # Sparse masks and a batch of users at a time: never [n_users, n_items] (5.6 GiB of
    # float64 scores at ML-10M); the same top-k and metrics as the dense computation.
    seen, relevant = sparse_ranking_masks(train, test, users, items, threshold, on_unknown="drop")
    top = rank_top_k_batched(lambda rows: score_in_blocks(model, users[rows], items), seen, k,
                             batch_rows=max(1, RANK_BATCH // max(1, len(items))))
    ranking = ranking_metrics(top, relevant)
    ranking["n_rank_users"] = ranking.pop("n_users")
    return {"rmse": accuracy["rmse"], "mae": accuracy["mae"], "n_test": accuracy["n"], **ranking}


# A model that another model trains inside itself: (name of the whole, pick), where
# ``pick(fitted_whole)`` returns the part, already fitted.
Part = tuple[str, Callable[[Any], RatingModel]]


def _fit_and_evaluate(model: RatingModel, train: pd.DataFrame, test: pd.DataFrame, k: int,
                      threshold: float, parts: Mapping[str, Part],
                      ranking: bool = True) -> dict[str, dict[str, float]]:
    """Fit ``model`` on ``train`` and measure it, and each of its ``parts``, on ``test``.

    Returns ``{"": the model's row, part name: the part's row, ...}``.
    """
    start = time.perf_counter()
    model.fit(train)
    fitted = time.perf_counter()
    rows = {}
    for name, pick in [("", lambda whole: whole)] + [(n, pick) for n, (_, pick) in parts.items()]:
        begin = time.perf_counter()
        metrics = evaluate_split(pick(model), train, test, k, threshold, ranking)
        rows[name] = {"rmse": metrics.pop("rmse"), "mae": metrics.pop("mae"),
                      "seconds": fitted - start if name == "" else 0.0, **metrics,
                      "eval_seconds": time.perf_counter() - begin}
    return rows


def cross_validate(factories: Mapping[str, Callable[[], RatingModel]],
                   folds: Sequence[int | str] = (1, 2, 3, 4, 5), data_dir: PathLike = None,
                   progress: bool = False, dataset: str = "ml-100k", seed: int = 0, k: int = DEFAULT_K,
                   threshold: float = RELEVANT_RATING, memo: Memo | None = None,
                   ranking_only: Collection[str] = (), rating_only: Collection[str] = (),
                   parts: Mapping[str, Part] | None = None) -> pd.DataFrame:
    """Fit and evaluate every model on every fold.

    Args:
        factories: ``{name: factory}``; each call of ``factory()`` returns an unfitted model
            with ``fit(train)`` and ``predict(user_ids, item_ids)``. A fresh model per fold
            means nothing learnt on one fold leaks into another. A model is one more entry.
        folds: ML-100K: the shipped ``u{fold}`` folds. ML-1M: blocks of the seeded 90/10
            permutation (see :func:`recsae.splits.load_dataset_split`).
        dataset, seed: which data (``seed`` only matters for ML-1M).
        k, threshold: top-k cut-off and the rating that makes a test item relevant.
        memo: a results cache, called as ``memo("crossval_cell", compute, **key)`` with the
            model's :func:`model_key`, the fold and the protocol
            (:func:`recsae.course.cache.cached`): a (model, fold) already evaluated with the
            same code is read back instead of trained again. None: compute everything.
        ranking_only: names of models whose scores are not ratings (e.g. popularity's
            rating counts): their ``rmse`` and ``mae`` are NaN, their ranking is measured.
        rating_only: names of models whose ranking is not measured (its columns are
            absent, NaN in the table): for a model whose every prediction call is costly.
        parts: ``{name: (whole, pick)}`` for a model that the model ``whole`` of
            ``factories`` trains inside itself (e.g. the blend's first I-AutoRec):
            ``pick(fitted whole)`` returns it, fitted, and it is measured on the same fold
            without a second fit (its ``seconds`` are 0). Its row comes before the
            whole's. The cache key holds the part's name: rename a part whose ``pick``
            changes.

    Returns:
        One row per (fold, model), in that order: ``model, fold, rmse, mae, seconds`` (wall
        time of ``fit``, when it was computed), ``n_test``, the ranking metrics of
        :func:`evaluate_split`, and ``eval_seconds``.
    """
    parts = dict(parts or {})
    unknown = {whole for whole, _ in parts.values()} - set(factories)
    if unknown:
        raise ValueError(f"parts name wholes that are not in factories: {sorted(unknown)}.")
    rows = []
    bar = tqdm(total=len(folds) * len(factories), disable=not progress, desc="cross-validation")
    for fold in folds:
        train, test = load_dataset_split(dataset, fold, seed, data_dir)
        for name, factory in factories.items():
            bar.set_postfix_str(f"fold {fold}: {name}")
            model = factory()
            own = {part: spec for part, spec in parts.items() if spec[0] == name}
            compute = partial(_fit_and_evaluate, model, train, test, k, threshold, own,
                              name not in rating_only)
            results = compute() if memo is None else memo(
                "crossval_cell", compute, model=model_key(model), fold=str(fold),
                dataset=dataset, seed=seed, k=k, threshold=threshold, parts=sorted(own),
                **({"ranking": False} if name in rating_only else {}))
            for row_name in [*own, name]:
                result = results[row_name if row_name != name else ""]
                if row_name in ranking_only:
                    result = {**result, "rmse": np.nan, "mae": np.nan}
                rows.append({"model": row_name, "fold": fold, **result})
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def summarise(cv_table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation (ddof=1) of every metric, per model.

    Args:
        cv_table: the output of :func:`cross_validate` (``model``, ``fold``, numeric columns).

    Returns:
        One row per model, in order of first appearance, indexed by ``model``: ``n_folds``
        and ``<metric>_mean, <metric>_std`` for each numeric column (``n_*`` counts
        excluded). One fold gives a NaN std.
    """
    metrics = [c for c in cv_table.columns if c not in {"model", "fold"} and not c.startswith("n_")
               and pd.api.types.is_numeric_dtype(cv_table[c])]
    order = pd.unique(cv_table["model"])
    grouped = cv_table.groupby("model", sort=False)
    summary = pd.DataFrame({"n_folds": grouped.size()})
    for metric in metrics:
        summary[f"{metric}_mean"] = grouped[metric].mean()
        summary[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return summary.reindex(order).rename_axis("model")


def format_summary(summary: pd.DataFrame, metrics: Sequence[str] = ("rmse", "mae", "ndcg@10"),
                   digits: int = 4) -> pd.DataFrame:
    """``"mean ± std"`` strings of ``metrics`` from :func:`summarise`, for a report table
    (``"n/a"`` for a metric a model does not have, the mean alone for a single fold)."""
    def cell(mean: float, std: float) -> str:
        if np.isnan(mean):
            return "n/a"
        return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"

    return pd.DataFrame({
        metric: [cell(m, s) for m, s in
                 zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)]
        for metric in metrics}, index=summary.index)
