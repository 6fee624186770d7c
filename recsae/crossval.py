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
:func:`recsae.plots.cross_validation` draws them next to :data:`PUBLISHED_U1_RMSE`,
numbers copied from papers and library docs (not measured here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from recsae.constants import DEFAULT_K, RELEVANT_RATING
from recsae.data import PathLike
from recsae.protocol import RatingModel, candidate_items, evaluate_rating_model, score_all
from recsae.ranking import evaluate_ranking, ranking_masks
from recsae.splits import load_dataset_split

# Published ML-100K u1.test RMSEs (others' numbers, quoted for comparison, not ours).
# Global mean: the trivial baseline; Surprise's SVD/SVD++ benchmark; GC-MC (van den Berg et
# al. 2017, with side features); GraphRec (Rashed et al. 2019); GLocal-K (Han et al. 2021).
PUBLISHED_U1_RMSE: dict[str, float] = {
    "global mean": 1.154,
    "Surprise SVD": 0.95,
    "Surprise SVD++": 0.93,
    "GC-MC + features": 0.905,
    "GraphRec": 0.897,
    "GLocal-K": 0.889,
}
# Published ML-1M RMSEs on a random 90/10 split (Sedhain et al. 2015; Han et al. 2021).
PUBLISHED_ML1M_RMSE: dict[str, float] = {"I-AutoRec": 0.831, "GLocal-K": 0.823}

def evaluate_split(model: RatingModel, train: pd.DataFrame, test: pd.DataFrame, k: int = DEFAULT_K,
                   threshold: float = RELEVANT_RATING) -> dict[str, float]:
    """Accuracy and ranking metrics of a model already fitted on ``train``, on ``test``.

    Returns:
        ``rmse, mae, n_test`` and ``precision@k, recall@k, ndcg@k, map@k, hit_rate@k,
        n_rank_users`` (users with at least one relevant test item).
    """
    accuracy = evaluate_rating_model(model, test)
    users = np.union1d(train["user_id"].to_numpy(), test["user_id"].to_numpy())
    items = np.unique(train["item_id"].to_numpy())
    items = items[candidate_items(train, items)]  # every movie rated in training
    seen, relevant = ranking_masks(train, test, users, items, threshold, on_unknown="drop")
    ranking = evaluate_ranking(score_all(model, users, items), seen, relevant, k)
    ranking["n_rank_users"] = ranking.pop("n_users")
    return {"rmse": accuracy["rmse"], "mae": accuracy["mae"], "n_test": accuracy["n"], **ranking}


def cross_validate(factories: Mapping[str, Callable[[], RatingModel]],
                   folds: Sequence[int | str] = (1, 2, 3, 4, 5), data_dir: PathLike = None,
                   progress: bool = False, dataset: str = "ml-100k", seed: int = 0, k: int = DEFAULT_K,
                   threshold: float = RELEVANT_RATING) -> pd.DataFrame:
    """Fit and evaluate every model on every fold.

    Args:
        factories: ``{name: factory}``; each call of ``factory()`` returns an unfitted model
            with ``fit(train)`` and ``predict(user_ids, item_ids)``. A fresh model per fold
            means nothing learnt on one fold leaks into another.
        folds: ML-100K: the shipped ``u{fold}`` folds. ML-1M: blocks of the seeded 90/10
            permutation (see :func:`recsae.splits.load_dataset_split`).
        dataset, seed: which data (``seed`` only matters for ML-1M).
        k, threshold: top-k cut-off and the rating that makes a test item relevant.

    Returns:
        One row per (fold, model), in that order: ``model, fold, rmse, mae, seconds`` (wall
        time of ``fit``), ``n_test``, the ranking metrics of :func:`evaluate_split`, and
        ``eval_seconds``.
    """
    rows = []
    bar = tqdm(total=len(folds) * len(factories), disable=not progress, desc="cross-validation")
    for fold in folds:
        train, test = load_dataset_split(dataset, fold, seed, data_dir)
        for name, factory in factories.items():
            bar.set_postfix_str(f"fold {fold}: {name}")
            start = time.perf_counter()
            model = factory().fit(train)
            fitted = time.perf_counter()
            metrics = evaluate_split(model, train, test, k, threshold)
            rows.append({"model": name, "fold": fold, "rmse": metrics.pop("rmse"),
                         "mae": metrics.pop("mae"), "seconds": fitted - start, **metrics,
                         "eval_seconds": time.perf_counter() - fitted})
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
    """``"mean ± std"`` strings of ``metrics`` from :func:`summarise`, for a report table."""
    return pd.DataFrame({
        metric: [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in
                 zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)]
        for metric in metrics}, index=summary.index)
