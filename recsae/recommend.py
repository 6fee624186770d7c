"""Turn an autoencoder's reconstruction into top-k movie recommendations.

Scoring and recommending are separate: :func:`score_rows` predicts a rating for every movie
from user rows laid out by a :class:`~recsae.user_matrix.ColumnIndex`; :func:`recommend` drops
the movies a user already rated and returns the best ``k`` with titles and genres. Because
a row is just ratings (plus side features), a brand-new user gets recommendations without
retraining: :func:`new_user_row` encodes them with the same code as the training rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from recsae.baselines import Popularity
from recsae.features import FeatureTables
from recsae.protocol import candidate_items
from recsae.ranking import rank_top_k
from recsae.user_matrix import ColumnIndex, user_row


@torch.no_grad()
def score_rows(model: torch.nn.Module, rows: np.ndarray, columns: ColumnIndex) -> np.ndarray:
    """Predicted ratings of every movie for each row.

    Args:
        model: an autoencoder mapping ``[n, n_columns]`` to ``[n, n_columns]``; it is used on
            the device its parameters are on.
        rows: ``[n, n_columns]`` (or ``[n_columns]``) user rows.
        columns: the layout of ``rows``.

    Returns:
        ``[n, n_items]`` float32 scores, one per rating column (``columns.item_ids`` order).
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
    if rows.shape[1] != columns.n_columns:
        raise ValueError(f"rows have {rows.shape[1]} columns, the column index {columns.n_columns}.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        output = model(torch.from_numpy(rows).to(device))
    finally:
        model.train(was_training)
    return output[:, columns.rating_slice].float().cpu().numpy()


def too_few_ratings(train: pd.DataFrame, columns: ColumnIndex, min_ratings: int) -> np.ndarray:
    """``[n_items]`` bool: True for movies with fewer than ``min_ratings`` training ratings.

    An autoencoder trained on observed ratings only never gets a training signal for the
    column of a movie nobody rated, and hardly any for one rated a few times: its output
    there is whatever the biases make it, often above 5. Excluding such movies from the
    candidates is the usual practical fix.
    """
    return ~candidate_items(train, columns.item_ids, min_ratings)


def recommend(scores: np.ndarray, rated: np.ndarray, columns: ColumnIndex, movies: pd.DataFrame,
              k: int = 10) -> pd.DataFrame:
    """The ``k`` best-scored movies a user has not rated.

    Args:
        scores: ``[n_items]`` predicted ratings (one row of :func:`score_rows`).
        rated: ``[n_items]`` bool, True for movies to exclude (already rated, or not
            candidates, e.g. :func:`too_few_ratings`).
        columns: gives the movie id of each score.
        movies: movie table with ``item_id, title, genres``.
        k: how many to return; at most the number of unrated movies.

    Returns:
        DataFrame ``[k, 5]``: ``rank, item_id, title, genres, predicted_rating``, best first.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    rated = np.asarray(rated, dtype=bool).ravel()
    if scores.shape != (columns.n_items,) or rated.shape != (columns.n_items,):
        raise ValueError(f"scores and rated must have {columns.n_items} entries, one per movie.")
    available = int((~rated).sum())
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and the {available} candidate movies (not rated "
                         f"by this user, not excluded); got k={k}.")
    # The same ranking code as the evaluation (ties keep catalogue order).
    best = rank_top_k(scores[None, :], rated[None, :], k)[0]
    item_ids = columns.item_ids[best]
    info = movies.set_index("item_id").reindex(item_ids)
    return pd.DataFrame({
        "rank": np.arange(1, k + 1),
        "item_id": item_ids,
        "title": info["title"].to_numpy(),
        "genres": info["genres"].to_numpy(),
        "predicted_rating": scores[best].round(2),
    })


def resolve_movies(ratings: Mapping[int | str, float], movies: pd.DataFrame) -> dict[int, float]:
    """Map ``{movie id or exact title: rating}`` to ``{movie id: rating}``, checking values.

    Titles match case-insensitively (``"toy story (1995)"``); an unknown title's error lists
    the closest titles. Ratings must be 1..5.
    """
    by_title = {t.casefold(): int(i) for i, t in zip(movies["item_id"], movies["title"], strict=True)}
    known_ids = set(movies["item_id"].astype(int))
    resolved: dict[int, float] = {}
    for key, rating in ratings.items():
        if isinstance(key, str):
            item_id = by_title.get(key.strip().casefold())
            if item_id is None:
                close = difflib.get_close_matches(key, movies["title"].tolist(), n=3)
                hint = f" Did you mean {close}?" if close else ""
                raise ValueError(f"No movie titled {key!r}.{hint}")
        else:
            item_id = int(key)
            if item_id not in known_ids:
                raise ValueError(f"No movie with id {item_id}; ids run from "
                                 f"{min(known_ids)} to {max(known_ids)}.")
        if not 1 <= float(rating) <= 5:
            raise ValueError(f"Ratings must be between 1 and 5; got {rating} for {key!r}.")
        resolved[item_id] = float(rating)
    return resolved


def new_user_row(ratings: Mapping[int | str, float], columns: ColumnIndex, tables: FeatureTables,
                 movies: pd.DataFrame, attributes: Mapping[str, Any] | None = None) -> np.ndarray:
    """Encode a user who is not in the training data as one ``[n_columns]`` row.

    Args:
        ratings: ``{movie id or title: rating 1..5}``, possibly empty.
        columns, tables: the layout and side tables the model was trained with.
        movies: the movie table used to resolve titles.
        attributes: the recipe's user attributes (see :func:`recsae.user_matrix.user_row`);
            ignored when the columns have no attribute block.
    """
    resolved = resolve_movies(ratings, movies)
    return user_row(resolved, columns, tables, attributes if columns.n_attributes else None)


def popularity_scores(train: pd.DataFrame, columns: ColumnIndex, min_ratings: int = 20) -> np.ndarray:
    """Fallback scores for a user with no ratings and no side features: ``[n_items]``.

    A movie's mean training rating, shrunk toward the global mean by ``min_ratings`` pseudo
    ratings, so a movie with one 5-star rating does not top the list.
    """
    popularity = Popularity(score="mean", shrinkage=min_ratings).fit(train)
    return popularity.predict(columns.item_ids, columns.item_ids)


def recommend_for_new_user(model: torch.nn.Module, ratings: Mapping[int | str, float],
                           columns: ColumnIndex, tables: FeatureTables, movies: pd.DataFrame,
                           train: pd.DataFrame, attributes: Mapping[str, Any] | None = None,
                           k: int = 10, min_ratings: int = 0) -> pd.DataFrame:
    """Top-``k`` for a new user, without retraining.

    With at least one rating, or with attribute columns and ``attributes`` given, the model
    scores the encoded row. With neither (nothing known about the user), the documented
    fallback is :func:`popularity_scores` on ``train``. The result has a ``source`` column
    saying which was used. Movies with fewer than ``min_ratings`` training ratings are not
    recommended (see :func:`too_few_ratings`).
    """
    resolved = resolve_movies(ratings, movies)
    rated = np.isin(columns.item_ids, list(resolved)) | too_few_ratings(train, columns, min_ratings)
    if resolved or (columns.n_attributes and attributes is not None):
        row = new_user_row(resolved, columns, tables, movies, attributes)
        scores = score_rows(model, row, columns)[0]
        source = "model"
    else:
        scores = popularity_scores(train, columns)
        source = "popularity (no ratings, no attributes)"
    return recommend(scores, rated, columns, movies, k).assign(source=source)
