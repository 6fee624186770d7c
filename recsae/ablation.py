"""What each of the article's bugs costs: fix them one at a time and measure.

The article's headline run (ratings + genre counts + attributes, 3 layers, 200 epochs) has
four problems that change its numbers:

1. **wrong joins**: genres and user attributes come from ML-1M looked up by ML-100K ids,
   so they describe other movies and other people (and "registration months" is ML-1M's
   occupation code);
2. **unscaled side features**: genre counts in the tens or hundreds and codes up to 56 next
   to ratings of 1 to 5;
3. **the optimizer loop**: gradients are never reset, so every step follows the running
   sum of all gradients so far (with weight decay 0.5, resetting them makes the network
   collapse: the loop only works *because* of the bug);
4. **the metric**: averaged over every user whose test row has any non-zero entry (all 943
   once attributes are present, though only 459 have test ratings) and divided by a count
   that includes the genre and attribute entries.

:func:`bug_ladder` trains the same 3-layer network on a ladder of fixes, each rung fixing
one more thing, and scores every rung with the article's metric and the honest ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from recsae import data, metrics
from recsae.experiments import (
    EXTRA_COLUMNS,
    TRAINER_ARTICLE_SETTINGS,
    TRAINER_CORRECTED,
    TRAINER_EXACT,
    Cell,
    Memo,
    run_cells,
)
from recsae.features import FEATURE_SETS, FeatureTables, genre_table_from_flags, load_feature_tables
from recsae.user_matrix import UserMatrices, build_from_tables

HEADLINE_FEATURES = "ratings+genres+attributes"


class Rung(NamedTuple):
    """One rung of :func:`bug_ladder`: its data, its trainer, and what it changes."""

    name: str
    compare_with: int  # the rung it differs from by one change (0: none, the start)
    changed: str
    features: str
    trainer: str


RUNGS = (
    Rung("1. as published", 0, "nothing: the article's run",
         "ML-1M genres and attributes (wrong joins), unscaled", "exact article loop"),
    Rung("2. + right joins (ML-100K tables)", 1,
         "genres and attributes of the right movies and people (ML-100K's own tables)",
         "ML-100K genres and attributes, unscaled", "exact article loop"),
    Rung("3. + scaled side features", 2,
         "side features re-encoded and scaled into [0, 1] (genre shares, one-hot "
         "occupation, age / 100)", "ML-100K genres and attributes, scaled", "exact article loop"),
    Rung("4. ratings only", 3, "no side features at all: the reference (the article's first "
         "column)", "ratings only", "exact article loop"),
    Rung("5. as published, gradients reset", 1,
         "the trainer by the book: minibatches of 64, gradients reset every step, loss over "
         "observed ratings, early stopping on 10% of each user's training ratings (RMSprop, "
         "lr 0.01, weight decay 0.5 kept)",
         "ML-1M genres and attributes (wrong joins), unscaled",
         "article settings, gradients reset"),
    Rung("6. corrected", 3, "the corrected trainer: minibatches of 64, gradients reset, loss "
         "over observed ratings, Adam (lr 0.003, no weight decay), early stopping on 10% of "
         "each user's training ratings",
         "ML-100K genres and attributes, scaled", "corrected trainer"),
)
_TRAINERS = {"exact article loop": TRAINER_EXACT,
             "article settings, gradients reset": TRAINER_ARTICLE_SETTINGS,
             "corrected trainer": TRAINER_CORRECTED}


def rung_changes() -> pd.DataFrame:
    """The ladder as a table: each rung, the rung it is compared with and the one change."""
    return pd.DataFrame.from_records(
        [{"rung": r.name, "compared with": f"rung {r.compare_with}" if r.compare_with else "",
          "what changed": r.changed, "features": r.features, "trainer": r.trainer}
         for r in RUNGS])


def right_join_tables(data_dir: data.PathLike = None) -> FeatureTables:
    """ML-100K's own genres and users, laid out and left unscaled exactly as the article does.

    The article's attribute block expects ML-1M columns; here ``age_group`` holds the real
    age in years and ``occupation_code`` the index of the user's occupation in
    ``u.occupation``, so only the *joins* differ from the published recipe (the attribute
    column names keep their ML-1M labels). Genres are ``u.item``'s 19 flags, raw counts.
    """
    movies = data.load_movies("ml-100k", data_dir)
    users = data.load_users("ml-100k", data_dir)
    codes = {name: i for i, name in enumerate(data.load_occupations(data_dir))}
    users_ml1m_layout = users.assign(age_group=users["age"],
                                     occupation_code=users["occupation"].map(codes))
    return FeatureTables("as_published", genre_table_from_flags(movies), users_ml1m_layout)


def rung_matrices(train: pd.DataFrame, test: pd.DataFrame,
                  data_dir: data.PathLike = None) -> list[UserMatrices]:
    """The train/test matrices of rungs 1-6, in order."""
    corrected_tables = load_feature_tables("corrected", data_dir)
    published = build_from_tables(train, test, load_feature_tables("as_published", data_dir),
                                  HEADLINE_FEATURES)
    right_joins = build_from_tables(train, test, right_join_tables(data_dir), HEADLINE_FEATURES)
    corrected = build_from_tables(train, test, corrected_tables, HEADLINE_FEATURES)
    ratings_only = build_from_tables(train, test, corrected_tables, "ratings")
    return [published, right_joins, corrected, ratings_only, published, corrected]


def bug_ladder(train: pd.DataFrame, test: pd.DataFrame, epochs: int = 200, seed: int = 0,
               threads: int | None = 1, data_dir: data.PathLike = None, workers: int = 1,
               memo: Memo | None = None) -> pd.DataFrame:
    """Fix the article's bugs one at a time and score each rung on ``test``.

    Rungs (3-layer net, ``epochs`` epochs each; :data:`RUNGS` says what each changes):

    1. ``as published``: ML-1M joins, unscaled, exact loop;
    2. ``+ right joins``: ML-100K genres/users, still unscaled, exact loop;
    3. ``+ scaled features``: the corrected matrices, exact loop;
    4. ``ratings only``: no side features at all, exact loop (the article's first column);
    5. ``gradients reset``: as 1, but the optimizer loop done by the book (minibatches,
       gradients reset, the article's RMSprop and weight decay): collapses;
    6. ``corrected``: corrected matrices and the corrected trainer (masked loss, Adam,
       early stopping on a validation split of the training ratings).

    Every rung is a :class:`recsae.experiments.Cell`: rungs 1, 4 and 6 are cells of the
    experiment grid too, so with a ``memo`` they are read back from notebook 5's run.

    Args:
        workers, memo: see :func:`recsae.experiments.run_cells`.

    Returns:
        One row per rung: ``rung``, ``features``, ``trainer``, the article's metric and the
        honest metrics (:func:`recsae.experiments.score`), ``seconds``.
    """
    cells = [Cell(m, 3, _TRAINERS[r.trainer], epochs, seed, threads=threads)
             for r, m in zip(RUNGS, rung_matrices(train, test, data_dir), strict=True)]
    rows = run_cells(cells, workers=workers, memo=memo)
    table = pd.DataFrame.from_records(rows).drop(columns=["recipe", "depth", "epochs",
                                                          "best_epoch", "n_columns",
                                                          *EXTRA_COLUMNS], errors="ignore")
    table["trainer"] = [r.trainer for r in RUNGS]
    table.insert(0, "rung", [r.name for r in RUNGS])
    return table


def seed_noise(train: pd.DataFrame, test: pd.DataFrame, seeds: Iterable[int] = range(5),
               trainer: str = "corrected", epochs: int = 200, threads: int | None = 1,
               data_dir: data.PathLike = None, workers: int = 1,
               memo: Memo | None = None) -> pd.DataFrame:
    """Do scaled side features beat ratings only by more than a change of seed does?

    Trains the 3-layer net with and without the scaled side features once per seed (the
    seed sets the initial weights, and for the corrected trainer also the validation split
    and batch order) and pairs the runs by seed.

    Args:
        trainer: ``"corrected"`` (rung 6 against its ratings-only twin, notebook 5's
            corrected 3-layer cell; seconds per run) or ``"exact"`` (rung 3 against rung 4,
            the article's loop; about half a minute per run).

    Returns:
        One row per seed: ``seed``, ``with side features``, ``ratings only`` (test RMSE)
        and ``difference`` (with - ratings only; negative: the side features helped).
    """
    names = {"corrected": TRAINER_CORRECTED, "exact": TRAINER_EXACT}
    if trainer not in names:
        raise ValueError(f"trainer must be one of {sorted(names)}, not {trainer!r}.")
    seeds = [int(s) for s in seeds]
    matrices = rung_matrices(train, test, data_dir)
    pair = (matrices[2], matrices[3])  # scaled side features (rungs 3, 6); ratings only
    cells = [Cell(m, 3, names[trainer], epochs, s, threads=threads) for s in seeds for m in pair]
    rmse = [row["global_rmse"] for row in run_cells(cells, workers=workers, memo=memo)]
    table = pd.DataFrame({"seed": seeds, "with side features": rmse[0::2],
                          "ratings only": rmse[1::2]})
    table["difference"] = table["with side features"] - table["ratings only"]
    return table


def metric_artifacts(train: pd.DataFrame, test: pd.DataFrame, recipe: str = "as_published",
                     data_dir: data.PathLike = None) -> pd.DataFrame:
    """The article's metric for one fixed predictor (the global training mean for every
    movie) against the test matrices of the three feature sets.

    The predictions never change, so every difference between the rows comes from the
    metric itself: the extra non-zero entries in its denominator and the users it counts.
    See :func:`feature_column_effect` for the columns.
    """
    tables = load_feature_tables(recipe, data_dir)
    test_matrices = {fs: build_from_tables(train, test, tables, fs).test for fs in FEATURE_SETS}
    n_users, n_items = test_matrices["ratings"].shape  # that matrix has only rating columns
    constant = np.full((n_users, n_items), float(train["rating"].mean()), dtype=np.float32)
    table = feature_column_effect(constant, test_matrices, n_items)
    table.insert(0, "predictor", "global mean")
    return table


def feature_column_effect(pred_ratings: np.ndarray, test_matrices: Mapping[str, np.ndarray],
                          n_rating_columns: int) -> pd.DataFrame:
    """The article's metric for the *same* rating predictions against test matrices that
    differ only in their extra (genre/attribute) columns.

    The rating predictions do not change, so any change in the article's metric comes from
    its denominator (non-zero entries of the whole row) and from which users it averages
    over; the global RMSE column stays constant.

    Args:
        pred_ratings: ``[n_users, n_rating_columns]`` predicted ratings.
        test_matrices: feature-set name -> test matrix ``[n_users, n_columns]``.
        n_rating_columns: rating columns (first in every matrix).

    Returns:
        One row per feature set: ``features``, ``n_columns``, ``article_metric``,
        ``article_metric_rated_users`` (same, averaged only over users with a test
        rating: isolates the denominator effect), ``n_users_in_article_metric``,
        ``n_users_with_test_ratings``, ``global_rmse``.
    """
    rows = []
    for name, test in test_matrices.items():
        pred = np.zeros(test.shape, dtype=np.float32)
        pred[:, :n_rating_columns] = pred_ratings  # other columns never enter the metric
        values, counted = metrics.article_metric_per_user(pred, test, n_rating_columns)
        mask = metrics.rating_mask(test, n_rating_columns)
        rated = mask.any(axis=1)
        rows.append({
            "features": name, "n_columns": test.shape[1],
            "article_metric": float(values[counted].mean()),
            "article_metric_rated_users": float(values[rated].mean()),
            "n_users_in_article_metric": int(counted.sum()),
            "n_users_with_test_ratings": int(rated.sum()),
            "global_rmse": metrics.global_rmse(pred_ratings, test[:, :n_rating_columns], mask),
        })
    return pd.DataFrame.from_records(rows)
