"""A plain-loop reference of the article's as-published user matrix.

Deliberately naive and independent of :mod:`recsae.features`: one Python loop per user and
per rating row, written from the article's rules, not from the vectorised code. The
equivalence test compares the two value for value, and ``bench/`` times the vectorised
builder against it.

The rules (what the article's code does, restated):

* rows are users ``1..n_users``, rating columns movies ``1..n_movies`` (0 = unrated);
* genre columns: per genre of ``genre_names``, how many movies the user rated
  ``>= threshold`` in *this* ratings file have that genre, where a movie's genres are those
  of the **ML-1M** movie with the same id; an id that ML-1M lacks adds nothing;
* attribute columns: from the **ML-1M** user with the same id: female flag, male flag,
  age bucket, occupation code (the article calls the last one "registration months").
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def genre_vocabulary_loop(movies_1m: pd.DataFrame) -> list[str]:
    """Every genre name of the ``|``-joined ``genres`` column, sorted ignoring case."""
    names: list[str] = []
    for genre_string in movies_1m["genres"]:
        for name in genre_string.split("|"):
            if name not in names:
                names.append(name)
    return sorted(names, key=str.lower)


def build_matrix_loop(ratings: pd.DataFrame, movies_1m: pd.DataFrame, users_1m: pd.DataFrame,
                      genre_names: list[str], n_users: int, n_movies: int,
                      threshold: float = 3) -> np.ndarray:
    """The article's user matrix for one ratings file, built with plain loops.

    Args:
        ratings: ``user_id, item_id, rating`` (e.g. ML-100K ``u1.base``).
        movies_1m: ML-1M movies, ``item_id, genres`` (``|``-joined).
        users_1m: ML-1M users, ``user_id, gender, age_group, occupation_code``.
        genre_names: genre column order (the article: sorted case-insensitively).
        n_users, n_movies: the largest user and movie id over train *and* test.
        threshold: a rating ``>=`` this counts toward the genre columns.

    Returns:
        ``[n_users, n_movies + len(genre_names) + 4]`` float64.
    """
    # Dicts so each lookup is a plain "find by id", as the article's .loc lookups are.
    genres_of_movie = {}
    for movie_id, genre_string in zip(movies_1m["item_id"], movies_1m["genres"], strict=True):
        genres_of_movie[int(movie_id)] = genre_string.split("|")
    user_record = {}
    for user in users_1m.itertuples(index=False):
        user_record[int(user.user_id)] = user

    rows_of_user: dict[int, list[tuple[int, float]]] = {u: [] for u in range(1, n_users + 1)}
    for user_id, movie_id, rating in zip(ratings["user_id"], ratings["item_id"],
                                         ratings["rating"], strict=True):
        rows_of_user[int(user_id)].append((int(movie_id), float(rating)))

    matrix = []
    for user_id in range(1, n_users + 1):
        movie_ratings = [0.0] * n_movies
        genre_count = [0.0] * len(genre_names)
        for movie_id, rating in rows_of_user[user_id]:
            movie_ratings[movie_id - 1] = rating
            if rating >= threshold and movie_id in genres_of_movie:
                for g, name in enumerate(genre_names):
                    if name in genres_of_movie[movie_id]:
                        genre_count[g] += 1
        person = user_record[user_id]  # the article fails here too if the id is missing
        attributes = [
            1.0 if person.gender == "F" else 0.0,
            1.0 if person.gender == "M" else 0.0,
            float(person.age_group),
            float(person.occupation_code),
        ]
        matrix.append(movie_ratings + genre_count + attributes)
    return np.array(matrix, dtype=np.float64)
