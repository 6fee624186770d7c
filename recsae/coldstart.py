"""Cold start: do user side features help when a user has rated (almost) nothing?

The article's hypothesis is that genres and user attributes (age, gender, occupation) help
the autoencoder. They can only matter much where the ratings say little, so this study
starves the test users of ratings and measures how accuracy and ranking recover.

Protocol (ML-100K ``u1``, the ``"corrected"`` recipe: ML-100K's own ``u.item`` genres and
``u.user`` attributes, scaled to [0, 1]; see :mod:`recsae.features`):

1. **Training.** One :class:`~recsae.model.StackedAutoencoder` per feature set (default
   ``"ratings"`` and ``"ratings+genres+attributes"``) is trained once with
   :func:`recsae.training.fit` and ``config`` (default :class:`~recsae.training.TrainConfig`),
   by default (``holdout_users=True``, the strict protocol) on the ``u1.base`` rows of the
   users who are *not* test users, so that a cold user is truly new to the model. ``fit``
   has no input dropout or denoising (its target is the input row; only the validation
   ratings are hidden), so the models never see a sparse row during training: what this
   measures is how a model trained the standard way copes with a cold user.
2. **Which users.** The test users are the users with a ``u1.test`` rating (459 on ``u1``;
   each has 4 to 582 ``u1.base`` ratings, so a budget above 4 keeps fewer for some users;
   the ``mean_kept`` column says how many were kept on average).
3. **Budgets.** For a budget ``n`` each test user keeps ``min(n, available)`` of their
   ``u1.base`` ratings, chosen at random with ``seed`` (:func:`truncate_ratings`). The
   random order is drawn once per user, so budgets are nested: the 3 ratings kept for
   budget 3 include the 1 kept for budget 1. Other users keep all their ratings.
4. **Inputs.** A test user's input row is rebuilt from the kept ratings only, by the same
   builder as the training rows (:func:`recsae.user_matrix.build_from_tables` on the reduced
   ratings): rating block = kept ratings, genre block = genre shares of the kept liked
   movies (all 0 with no liked movie), attribute block unchanged. With budget 0 the
   ``"ratings"`` model sees an all-zero row (every cold user gets the same predictions)
   while the side-feature model still sees the attributes: the hypothesis's best case.
5. **Metrics**, on all of the test users' ``u1.test`` ratings (the same set for every model
   and budget): RMSE and MAE of predictions clipped to 1..5, and top-10 ranking
   (:mod:`recsae.ranking`): relevant = test rating ``>= 4``; candidates are the movies with
   at least one ``u1.base`` rating (a model can learn nothing about the others); **all** the
   user's ``u1.base`` movies are excluded, kept or hidden. The hidden training movies are
   known to the user and are not test items, so ranking them would only add misses; and
   excluding the same set at every budget keeps the candidate set fixed, so budgets differ
   only in the information the model gets. Beware: the autoencoders predict a rating, and
   for a movie rated once (a 5) in training they predict ~5 for everyone, so with every
   training movie a candidate their top 10 is made of such movies and their NDCG@10 is
   ~0, warm users included. ``min_item_ratings`` (e.g. 20) restricts the candidates to
   movies with enough training ratings, for every model alike.
6. **Baselines** on the same budgets: :class:`~recsae.baselines.BiasModel` refit on the
   reduced ratings (a cold user's prediction is ``mu + b_i`` plus a user bias shrunk by the
   few kept ratings) and :class:`~recsae.baselines.Popularity` (rating counts of the reduced
   ratings; a ranking baseline only, so its RMSE and MAE are NaN).

The two protocols (``holdout_users``). ``True`` (the default, strict): the autoencoders
never see the test users' rows in training (they are trained on the other ~484 users).
``False``: they are trained on every user's full ``u1.base`` row, test users included, and
at test time get a reduced row, the "new information arrives for a known user" protocol
of many autoencoder papers. The model has then seen the hidden ratings, and a side-feature
row (age, gender and occupation together nearly identify an ML-100K user) could let it
recall them: a leak in favour of the side features. Pass ``holdout_users=(True, False)``
to train both and compare them in one table (the ``holdout_users`` column says which row
is which). The bias and popularity baselines are always fitted on the reduced ratings,
which is already the strict protocol for them, so they appear once, as strict rows.

Cost: with ``TrainConfig()`` (200 epochs), one ``fit`` per (protocol, feature set); a fit
on 943 users is the benchmarks' ``fit`` (``docs/benchmarks.md``), on 484 users less.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsae import metrics
from recsae.baselines import BiasModel, Popularity
from recsae.constants import RELEVANT_RATING
from recsae.data import PathLike
from recsae.features import FeatureTables, load_feature_tables
from recsae.protocol import candidate_items, score_all
from recsae.ranking import evaluate_ranking, rating_matrix
from recsae.runtime import torch_threads
from recsae.training import TrainConfig, fit, predict
from recsae.user_matrix import build_from_tables

BUDGETS = (0, 1, 3, 5, 10)
FEATURE_SETS = ("ratings", "ratings+genres+attributes")
RECIPE = "corrected"
BIAS = "bias"
POPULARITY = "popularity"


def ae_name(features: str) -> str:
    """The table's ``model`` name of the autoencoder trained on ``features``."""
    return f"AE {features}"


def table_columns(k: int = 10) -> list[str]:
    """Columns of :func:`cold_start_study`'s table for cut-off ``k``."""
    return ["model", "features", "holdout_users", "budget", "mean_kept", "rmse", "mae",
            f"ndcg@{k}", f"precision@{k}", f"recall@{k}", "n_users", "n_ratings",
            "n_rank_users"]


# --------------------------------------------------------------------------- inputs


def truncate_ratings(train: pd.DataFrame, user_ids: Sequence[int] | np.ndarray, budget: int,
                     seed: int = 0) -> pd.DataFrame:
    """Keep a seeded random ``min(budget, available)`` of each listed user's ratings.

    Args:
        train: ratings ``[n_ratings, >=3]`` with ``user_id, item_id, rating``.
        user_ids: the users to truncate; everyone else keeps all their ratings.
        budget: ratings to keep per listed user (0: none).
        seed: the random order of each user's ratings. It does not depend on ``budget``, so
            for one seed a smaller budget keeps a subset of a larger one's ratings; nor on
            the frame's row order (the frame is sorted by user and item first).

    Returns:
        The reduced frame, same columns, sorted by ``user_id, item_id``, fresh index.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, not {budget}.")
    frame = train.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)
    keys = np.random.default_rng(seed).random(len(frame))
    # Position of each rating in its user's random order: 0, 1, 2, ...
    order = (pd.Series(keys).groupby(frame["user_id"].to_numpy()).rank(method="first")
             .to_numpy() - 1)
    cold = frame["user_id"].isin(np.asarray(user_ids)).to_numpy()
    return frame[~cold | (order < budget)].reset_index(drop=True)


def cold_inputs(reduced_train: pd.DataFrame, test: pd.DataFrame, tables: FeatureTables,
                features: str, user_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Input rows ``[len(user_ids), n_columns]`` float32 of ``user_ids``, built from
    ``reduced_train`` by :func:`recsae.user_matrix.build_from_tables` (so the genre block comes
    from the kept ratings, exactly as a training row's comes from its ratings).

    ``test`` only fixes the matrix layout (for ``"corrected"``: every ``u.user`` user and
    ``u.item`` movie), as in the training matrices.
    """
    matrices = build_from_tables(reduced_train, test, tables, features)
    rows = pd.Index(matrices.columns.user_ids).get_indexer(np.asarray(user_ids))
    if np.any(rows < 0):
        raise ValueError("some user_ids have no row in the user matrix.")
    return matrices.train[rows]


# --------------------------------------------------------------------------- scoring


def score_predictions(pred: np.ndarray, target: np.ndarray, seen: np.ndarray,
                      candidates: np.ndarray, k: int = 10,
                      threshold: float = RELEVANT_RATING) -> dict[str, float]:
    """Accuracy and top-``k`` ranking of one model's predictions for the cold users.

    Args:
        pred: predicted ratings ``[n_users, n_items]``, clipped to 1..5 for RMSE/MAE and
            used raw as ranking scores.
        target: test ratings ``[n_users, n_items]``, 0 = none.
        seen: ``[n_users, n_items]`` bool, the items excluded from the ranking.
        candidates: ``[n_items]`` bool, the items that may be ranked at all.
        k, threshold: ranking cut-off; a test rating ``>= threshold`` is relevant.

    Returns:
        ``rmse, mae, n_users, n_ratings`` (``rmse``/``mae`` NaN when ``pred`` is all NaN, a
        ranking-only model) and ``ndcg@k, precision@k, recall@k, n_rank_users``.
    """
    mask = target != 0
    out: dict[str, float] = {"rmse": np.nan, "mae": np.nan,
                             "n_users": int(mask.any(axis=1).sum()), "n_ratings": int(mask.sum())}
    if not np.isnan(pred).all():
        out["rmse"] = metrics.global_rmse(pred, target, mask)
        out["mae"] = metrics.global_mae(pred, target, mask)
    ranking = evaluate_ranking(pred[:, candidates], seen[:, candidates],
                               target[:, candidates] >= threshold, k)
    out.update({key: ranking[key] for key in (f"ndcg@{k}", f"precision@{k}", f"recall@{k}")})
    out["n_rank_users"] = ranking["n_users"]
    return out


# --------------------------------------------------------------------------- the study


def cold_start_study(train: pd.DataFrame, test: pd.DataFrame,
                     budgets: Sequence[int] = BUDGETS, seed: int = 0,
                     config: TrainConfig | None = None,
                     feature_sets: Sequence[str] = FEATURE_SETS,
                     data_dir: PathLike = None, threads: int | None = 1,
                     holdout_users: bool | Sequence[bool] = True, k: int = 10,
                     min_item_ratings: int = 1, device: str | None = "cpu") -> pd.DataFrame:
    """Run the cold-start study of the module docstring.

    Args:
        train, test: ratings frames, e.g. ``recsae.data.load_split(1)``.
        budgets: training ratings kept per test user.
        seed: which ratings are kept (:func:`truncate_ratings`); the models' own seed is
            ``config.seed``.
        config: the autoencoders' training settings (default ``TrainConfig()``).
        feature_sets: one autoencoder per name in :data:`recsae.features.FEATURE_SETS`.
        data_dir: cache folder of the side tables.
        threads: torch CPU threads for training and prediction.
        holdout_users: ``True`` (strict, default): train the autoencoders without the test
            users' rows; ``False``: on every user's full row; a sequence such as
            ``(True, False)``: both, one set of autoencoders per protocol.
        k: ranking cut-off.
        min_item_ratings: only movies with at least this many ``u1.base`` ratings are
            ranking candidates (default 1: every movie rated in training). Raise it (e.g. to
            20) to see past rating-trained models ranking movies with a single 5-star
            rating first (see the module docstring).
        device: where the autoencoders train (None: CUDA if available).

    Returns:
        One row per (model, protocol, budget), columns :func:`table_columns`: per budget the
        autoencoders (protocols in the given order, ``feature_sets`` order within each), then
        ``bias`` and ``popularity`` (once, ``holdout_users=True``). ``attrs["fits"]`` holds,
        per ``(features, holdout_users)``: ``best_epoch``, ``epochs_run``, ``seconds``,
        ``n_train_users`` and ``full_row_rmse`` (the test RMSE when the test users give all
        their ``u1.base`` ratings, the warm case); ``attrs["seconds"]`` the total.
    """
    start = time.perf_counter()
    config = config or TrainConfig()
    protocols = [bool(holdout_users)] if isinstance(holdout_users, bool | np.bool_) else [
        bool(h) for h in holdout_users]
    if not protocols or len(set(protocols)) != len(protocols):
        raise ValueError(f"holdout_users must be a bool or distinct bools, not {holdout_users!r}.")
    tables = load_feature_tables(RECIPE, data_dir)
    test_users = np.unique(test["user_id"].to_numpy())

    # The corrected recipe's rating columns: every u.item movie, for every feature set.
    item_ids = np.asarray(tables.movie_ids)
    n_items = item_ids.size
    # Fixed for every budget: the targets, the excluded items (all of the user's u1.base
    # movies, kept or hidden) and the rankable candidates (movies rated in u1.base).
    target = rating_matrix(test, test_users, item_ids)
    seen = rating_matrix(train, test_users, item_ids, on_unknown="drop") > 0
    candidates = candidate_items(train, item_ids, max(1, min_item_ratings))

    models, fits = {}, {}
    for held in protocols:
        for features in feature_sets:
            full = build_from_tables(train, test, tables, features)
            rows = full.train
            if held:
                rows = rows[~np.isin(full.columns.user_ids, test_users)]
            fitted = fit(rows, n_items, config, device=device, threads=threads)
            models[features, held] = fitted.model
            warm = full.train[pd.Index(full.columns.user_ids).get_indexer(test_users)]
            with torch_threads(threads):
                warm_pred = predict(fitted.model, warm)[:, :n_items]
            fits[features, held] = {
                "best_epoch": fitted.best_epoch, "epochs_run": len(fitted.history),
                "seconds": float(fitted.history["seconds"].iloc[-1]),
                "n_train_users": int(rows.shape[0]),
                "full_row_rmse": metrics.global_rmse(warm_pred, target, target != 0)}

    records = []
    for budget in budgets:
        reduced = truncate_ratings(train, test_users, int(budget), seed)
        kept = reduced["user_id"].isin(test_users).sum() / test_users.size
        info = {"budget": int(budget), "mean_kept": float(kept)}
        inputs = {features: cold_inputs(reduced, test, tables, features, test_users)
                  for features in feature_sets}
        for (features, held), model in models.items():
            with torch_threads(threads):
                pred = predict(model, inputs[features])[:, :n_items]
            records.append({"model": ae_name(features), "features": features, **info,
                            "holdout_users": held,
                            **score_predictions(pred, target, seen, candidates, k)})
        strict = {**info, "holdout_users": True}
        bias = BiasModel().fit(reduced)
        records.append({"model": BIAS, "features": "ratings", **strict, **score_predictions(
            score_all(bias, test_users, item_ids), target, seen, candidates, k)})
        popularity = Popularity("count").fit(reduced)
        scores = score_all(popularity, test_users, item_ids)
        # A ranking baseline: its counts are not ratings, so no RMSE (NaN).
        records.append({"model": POPULARITY, "features": "none", **strict,
                        **score_predictions(scores, target, seen, candidates, k),
                        "rmse": np.nan, "mae": np.nan})
    table = pd.DataFrame.from_records(records, columns=table_columns(k))
    table.attrs["fits"] = fits
    table.attrs["seconds"] = time.perf_counter() - start
    return table
