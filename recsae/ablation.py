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

import time
from dataclasses import replace

import numpy as np
import pandas as pd

from recsae import data
from recsae.article import train_as_published
from recsae.experiments import feature_column_effect, score
from recsae.features import FEATURE_SETS, FeatureTables, genre_table_from_flags, load_feature_tables
from recsae.model import StackedAutoencoder, article_hidden_sizes
from recsae.runtime import seed_everything
from recsae.training import TrainConfig, fit, predict
from recsae.user_matrix import UserMatrices, build_from_tables

HEADLINE_FEATURES = "ratings+genres+attributes"


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


def _exact(matrices: UserMatrices, epochs: int, seed: int, threads: int | None) -> np.ndarray:
    """Train the article's 3-layer net with its exact loop; returns predictions ``[n_users, n_columns]``."""
    seed_everything(seed)
    model = StackedAutoencoder(matrices.columns.n_columns, article_hidden_sizes(3))
    train_as_published(model, matrices.train, matrices.columns.n_items, epochs=epochs,
                       threads=threads)
    return predict(model, matrices.train)


def _fitted(matrices: UserMatrices, config: TrainConfig, threads: int | None) -> np.ndarray:
    """Train with the corrected trainer; returns predictions ``[n_users, n_columns]``."""
    result = fit(matrices.train, matrices.columns.n_items, config, device="cpu", threads=threads)
    return predict(result.model, matrices.train)


def bug_ladder(train: pd.DataFrame, test: pd.DataFrame, epochs: int = 200, seed: int = 0,
               threads: int | None = 1, data_dir: data.PathLike = None) -> pd.DataFrame:
    """Fix the article's bugs one at a time and score each rung on ``test``.

    Rungs (3-layer net, ``epochs`` epochs each):

    1. ``as published``: ML-1M joins, unscaled, exact loop;
    2. ``+ right joins``: ML-100K genres/users, still unscaled, exact loop;
    3. ``+ scaled features``: the corrected matrices, exact loop;
    4. ``ratings only``: no side features at all, exact loop (the article's first column);
    5. ``gradients reset``: as 1, but the optimizer loop done by the book (minibatches,
       gradients reset, the article's RMSprop and weight decay): collapses;
    6. ``corrected``: corrected matrices and the corrected trainer (masked loss, Adam,
       early stopping on a validation split of the training ratings).

    Returns:
        One row per rung: ``rung``, ``features``, ``trainer``, the article's metric and the
        honest metrics (:func:`recsae.experiments.score`), ``seconds``.
    """
    published_tables = load_feature_tables("as_published", data_dir)
    corrected_tables = load_feature_tables("corrected", data_dir)
    published = build_from_tables(train, test, published_tables, HEADLINE_FEATURES)
    right_joins = build_from_tables(train, test, right_join_tables(data_dir), HEADLINE_FEATURES)
    corrected = build_from_tables(train, test, corrected_tables, HEADLINE_FEATURES)
    ratings_only = build_from_tables(train, test, corrected_tables, "ratings")
    article_config = TrainConfig.article_settings(article_hidden_sizes(3), epochs=epochs, seed=seed)
    corrected_config = replace(TrainConfig(), epochs=epochs, seed=seed)

    rungs = [
        ("1. as published", published, "exact article loop",
         lambda m: _exact(m, epochs, seed, threads)),
        ("2. + right joins (ML-100K tables)", right_joins, "exact article loop",
         lambda m: _exact(m, epochs, seed, threads)),
        ("3. + scaled side features", corrected, "exact article loop",
         lambda m: _exact(m, epochs, seed, threads)),
        ("4. ratings only", ratings_only, "exact article loop",
         lambda m: _exact(m, epochs, seed, threads)),
        ("5. as published, gradients reset", published, "article settings, gradients reset",
         lambda m: _fitted(m, article_config, threads)),
        ("6. corrected", corrected, "corrected trainer",
         lambda m: _fitted(m, corrected_config, threads)),
    ]
    rows = []
    for name, matrices, trainer, run in rungs:
        start = time.perf_counter()
        pred = run(matrices)
        rows.append({"rung": name, "features": matrices.features, "trainer": trainer,
                     **score(pred, matrices), "seconds": time.perf_counter() - start})
    return pd.DataFrame.from_records(rows)


def metric_artifacts(train: pd.DataFrame, test: pd.DataFrame, recipe: str = "as_published",
                     data_dir: data.PathLike = None) -> pd.DataFrame:
    """The article's metric for one fixed predictor (the global training mean for every
    movie) against the test matrices of the three feature sets.

    The predictions never change, so every difference between the rows comes from the
    metric itself: the extra non-zero entries in its denominator and the users it counts.
    See :func:`recsae.experiments.feature_column_effect` for the columns.
    """
    tables = load_feature_tables(recipe, data_dir)
    test_matrices = {fs: build_from_tables(train, test, tables, fs).test for fs in FEATURE_SETS}
    n_users, n_items = test_matrices["ratings"].shape  # that matrix has only rating columns
    constant = np.full((n_users, n_items), float(train["rating"].mean()), dtype=np.float32)
    table = feature_column_effect(constant, test_matrices, n_items)
    table.insert(0, "predictor", "global mean")
    return table
