"""REFERENCE ONLY: the article's user-matrix construction *with its cost structure*.

Not part of the package and never used to build anything: ``bench/stages.py`` times the
vectorised builder (:func:`recsae.user_matrix.build_from_tables`) against it.

``tests/article_reference.build_matrix_loop`` restates the article's rules with dict
look-ups (~0.3 s): a fair check of the *values*, but not of what the article's code costs.
This module is our own code that keeps the article's *access pattern* (steps 5-8):

* per rating row, the movie's genre vector is looked up with a boolean mask over the whole
  movie table (``movies.loc[movies.item_id == id]``), and an id missing from it yields an
  empty selection, i.e. no genres;
* per user, the whole ratings frame is boolean-masked for the user's movies, ratings and
  liked genre vectors, and the user table is masked once per attribute.

Both scans are O(rows) per look-up, which is what makes the article take about a minute
on ML-100K. Timing can be restricted to a subset of users (and their rating rows), for an
extrapolation that is labelled as such in the report.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class ArticleStyleResult:
    """Rows built for ``users`` and where the time went."""

    users: list[int]          # the user ids built, in order
    rows: np.ndarray          # [len(users), n_movies + n_genres + 4] float64
    lookup_seconds: float     # step 7: genre vector per rating row (mask over the movies)
    lookup_rows: int          # rating rows looked up
    per_user_seconds: float   # step 8: masks over the ratings and user tables per user


def genre_vector(genre_string: str, genre_names: Sequence[str]) -> np.ndarray:
    """Step 5: a 0/1 vector over ``genre_names`` for one ``|``-joined genre string."""
    present = genre_string.split("|")
    return np.array([1.0 if name in present else 0.0 for name in genre_names])


def article_style_rows(ratings: pd.DataFrame, movies_1m: pd.DataFrame, users_1m: pd.DataFrame,
                       genre_names: Sequence[str], n_movies: int, users: Sequence[int],
                       threshold: float = 3) -> ArticleStyleResult:
    """The as-published rows of ``users`` for one ratings file, the article's slow way.

    Args:
        ratings: ``user_id, item_id, rating`` (e.g. ``u1.base``).
        movies_1m: ML-1M movies, ``item_id, genres``.
        users_1m: ML-1M users, ``user_id, gender, age_group, occupation_code``.
        genre_names: genre column order.
        n_movies: rating columns (the largest movie id over train and test).
        users: user ids to build (all of ``1..n_users`` for the full matrix).
        threshold: a rating ``>=`` this counts toward the genre columns.
    """
    movies = movies_1m[["item_id", "genres"]].copy()
    movies["genre_vector"] = [genre_vector(g, genre_names) for g in movies["genres"]]  # step 6
    people = users_1m.copy()
    people["female_user"] = (people["gender"] == "F").astype(int)  # step 3
    people["male_user"] = (people["gender"] == "M").astype(int)

    # Step 7, for the rating rows of the users being built: one mask over the movies each.
    frame = ratings[["user_id", "item_id", "rating"]].reset_index(drop=True).copy()
    wanted = frame["user_id"].isin(list(users)).to_numpy()
    vectors: list[pd.Series | None] = [None] * len(frame)
    start = time.perf_counter()
    for i in np.flatnonzero(wanted):
        movie_id = frame.at[i, "item_id"]
        vectors[i] = movies.loc[movies["item_id"] == movie_id, "genre_vector"]
    lookup_seconds = time.perf_counter() - start
    frame["genre_vector"] = pd.Series(vectors, index=frame.index, dtype=object)

    # Step 8: per user, masks over the whole ratings frame and the user table.
    rows = []
    start = time.perf_counter()
    for user_id in users:
        mine = frame["user_id"] == user_id
        id_movies = frame["item_id"][mine].to_numpy()
        id_ratings = frame["rating"][mine].to_numpy()
        liked = frame["genre_vector"][mine & (frame["rating"] >= threshold)]
        female = float(people["female_user"][people["user_id"] == user_id].iloc[0])
        male = float(people["male_user"][people["user_id"] == user_id].iloc[0])
        age = float(people["age_group"][people["user_id"] == user_id].iloc[0])
        occupation = float(people["occupation_code"][people["user_id"] == user_id].iloc[0])
        genre_sum = np.zeros(len(genre_names))
        for selection in liked:
            if len(selection):  # an id missing from ML-1M selected nothing: no genres
                genre_sum = genre_sum + selection.iloc[0]
        row = np.zeros(n_movies)
        row[id_movies - 1] = id_ratings
        rows.append(np.concatenate([row, genre_sum, [female, male, age, occupation]]))
    per_user_seconds = time.perf_counter() - start
    return ArticleStyleResult(list(users), np.array(rows), lookup_seconds, int(wanted.sum()),
                              per_user_seconds)
