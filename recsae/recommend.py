"""Turn an autoencoder's reconstruction into top-k movie recommendations.

Scoring and recommending are separate: :func:`score_rows` predicts a rating for every movie
from user rows laid out by a :class:`~recsae.user_matrix.ColumnIndex`; :func:`recommend` drops
the movies a user already rated and returns the best ``k`` with titles and genres. Because
a row is just ratings (plus side features), a brand-new user gets recommendations without
retraining: :func:`new_user_row` encodes them with the same code as the training rows.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import re
import unicodedata
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
    check_k(k)
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


# Articles that MovieLens moves to the end of a title ("Godfather, The (1972)").
_ARTICLES = ("the", "a", "an", "la", "le", "les", "il", "el", "das", "der", "die")
_YEAR = re.compile(r"\s*\((\d{4})\)(?:\s*\([^)]*\))?$")  # "(1995)", "(1995) (V)"
_INVERTED = re.compile(rf"^(.*), ({'|'.join(_ARTICLES)})$")


@functools.lru_cache(maxsize=1 << 16)  # a catalogue's titles are keyed once, not per look-up
def title_key(title: str) -> tuple[str, str | None]:
    """``(name, year)`` of a title, the same for "Godfather, The (1972)", "the godfather
    (1972)" and (year None) "The Godfather": case, accents, spacing and a leading article
    dropped."""
    text = " ".join(unicodedata.normalize("NFKD", str(title).casefold()).split())
    text = "".join(c for c in text if not unicodedata.combining(c))  # "misérables": "miserables"
    year = None
    if match := _YEAR.search(text):
        text, year = text[:match.start()], match.group(1)
    if inverted := _INVERTED.match(text):
        text = inverted.group(1)
    elif (parts := text.split(" ", 1))[0] in _ARTICLES and len(parts) == 2:
        text = parts[1]
    return text.strip(), year


def find_movie(title: str, movies: pd.DataFrame) -> int:
    """The id of the movie called ``title`` in ``movies`` (``item_id, title``).

    The exact title matches case-insensitively; failing that, the same title up to a
    leading article and, when ``title`` has no year, any year: ``"godfather"`` and ``"The
    Godfather"`` find "Godfather, The (1972)".

    Raises:
        ValueError: no such movie (naming the closest titles), or several (naming their ids).
    """
    titles, ids = movies["title"].astype(str).tolist(), movies["item_id"].astype(int).tolist()
    query = " ".join(title.casefold().split())
    found = [n for n, t in enumerate(titles) if " ".join(t.casefold().split()) == query]
    name, year = title_key(title)
    keys = [title_key(t) for t in titles]
    if not found:
        found = [n for n, key in enumerate(keys) if key[0] == name and year in (None, key[1])]
    if len(found) == 1:
        return ids[found[0]]
    if found:
        listed = "; ".join(f"{titles[n]} (id {ids[n]})" for n in found)
        raise ValueError(f"{title!r} matches {len(found)} movies: {listed}. Pass one of these "
                         "ids instead (or the full title with its year).")
    names = [key[0] for key in keys]
    close = [t for t, n in zip(titles, names, strict=True) if name and name in n]
    for n in difflib.get_close_matches(name, names, n=5, cutoff=0.6):
        close.extend(t for t, m in zip(titles, names, strict=True) if m == n)
    close = list(dict.fromkeys(close))[:5]
    hint = f" Did you mean {close}?" if close else " Check the spelling, or pass the movie's id."
    raise ValueError(f"No movie titled {title!r}.{hint}")


def resolve_movies(ratings: Mapping[int | str, float], movies: pd.DataFrame) -> dict[int, float]:
    """Map ``{movie id or title: rating}`` to ``{movie id: rating}``, checking values.

    Titles are found by :func:`find_movie` (case-insensitive; "The Godfather" finds
    "Godfather, The (1972)"); an unknown title's error lists the closest titles. Ratings
    must be whole numbers 1..5, and each movie may be rated once (not by title and by id).
    """
    if not isinstance(ratings, Mapping):
        raise TypeError("ratings must be a mapping {movie id or title: rating 1..5}, e.g. "
                        f"{{'Star Wars (1977)': 5, 1: 4}}; got a {type(ratings).__name__}.")
    known_ids = set(movies["item_id"].astype(int))
    resolved: dict[int, float] = {}
    given_as: dict[int, int | str] = {}
    for key, rating in ratings.items():
        if isinstance(key, str):
            item_id = find_movie(key, movies)
        elif (isinstance(key, numbers.Real) and not isinstance(key, bool)
              and float(key).is_integer()):
            item_id = int(key)
            if item_id not in known_ids:
                raise ValueError(f"No movie with id {item_id}; ids run from "
                                 f"{min(known_ids)} to {max(known_ids)}.")
        else:
            raise TypeError(f"Movie {key!r}: give a movie by its id (an int) or its title "
                            f"(a str), not a {type(key).__name__}.")
        if item_id in given_as:
            raise ValueError(f"Movie {item_id} is rated twice, as {given_as[item_id]!r} and as "
                             f"{key!r}; rate each movie once.")
        given_as[item_id] = key
        if isinstance(rating, bool) or not isinstance(rating, numbers.Real):
            raise ValueError(f"The rating of {key!r} is {rating!r}; ratings must be numbers "
                             "1..5 (whole stars), e.g. 4.")
        if not (1 <= rating <= 5 and float(rating).is_integer()):
            raise ValueError(f"Ratings must be whole numbers between 1 and 5; got {rating} for "
                             f"{key!r}.")
        resolved[item_id] = float(rating)
    return resolved


def check_k(k: Any) -> None:
    """Refuse a ``k`` (list length) that is not a whole number (bools, floats, None, str)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k (how many movies to recommend) must be a whole number >= 1, e.g. "
                        f"k=10; got {k!r} ({type(k).__name__}).")


def normalise_attributes(attributes: Mapping[str, Any] | None,
                         tables: FeatureTables) -> dict[str, Any] | None:
    """``attributes`` with ``occupation`` spelled as in ``tables.occupations`` and
    ``gender`` upper-cased, so that ``"Engineer"`` and ``"f"`` are accepted.

    Raises:
        ValueError: an occupation outside the vocabulary (the message lists it).
    """
    if attributes is None:
        return None
    if not isinstance(attributes, Mapping):
        raise TypeError("attributes must be a mapping such as {'gender': 'F', 'age': 31, "
                        f"'occupation': 'engineer'}}, not a {type(attributes).__name__}.")
    values = dict(attributes)
    if tables.occupations and "occupation" in values:
        spelled = {o.casefold(): o for o in tables.occupations}
        given = values["occupation"]
        match = spelled.get(given.strip().casefold()) if isinstance(given, str) else None
        if match is None:
            raise ValueError(f"Unknown occupation {given!r}; choose one of "
                             f"{list(tables.occupations)} (any case).")
        values["occupation"] = match
    if isinstance(values.get("gender"), str) and values["gender"].strip().upper() in ("F", "M"):
        values["gender"] = values["gender"].strip().upper()
    return values


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
    attributes = normalise_attributes(attributes, tables) if columns.n_attributes else None
    return user_row(resolved, columns, tables, attributes)


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
    check_k(k)
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
