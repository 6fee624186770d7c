"""Side features: per-genre "liked" counts and user attributes, in two recipes.

A user's row in the user matrix (:mod:`recsae.user_matrix`) is their ratings, then per
genre how many movies they liked (rated at or above :data:`recsae.constants.LIKED_RATING`),
then their attributes. This module builds the two side-feature blocks.

Two recipes, chosen by name (:data:`RECIPES`):

* ``"as_published"`` reproduces the article's joins exactly. Its ratings come from ML-100K
  (``u1.base``/``u1.test``), but its genres and user attributes come from **ML-1M**
  (``movies.dat``/``users.dat``) looked up by the ML-100K ids. The two datasets number
  their movies and users differently, so ML-100K movie 2 ("GoldenEye") gets the genres of
  ML-1M movie 2 ("Jumanji"), 45 ML-100K movie ids do not exist in ML-1M at all (they
  contribute no genres, as the article's empty lookup does), and the attributes belong to
  other people. The fourth attribute, which the article calls "registration months", is
  ML-1M's occupation code; the third is ML-1M's age *bucket* (1, 18, 25, ...), not an age.
  The genre counts and attribute codes are left unscaled, as in the article.
* ``"corrected"`` uses ML-100K's own ``u.item`` genres and ``u.user`` attributes, and
  scales every side feature into [0, 1] so that no column dwarfs the 1..5 ratings (see
  :func:`genre_shares` and :func:`attribute_block_corrected`).

Loading (:func:`load_feature_tables`) is kept apart from the pure builders
(:func:`genre_counts`, :func:`attribute_block_as_published`, ...), which take DataFrames and
can be tested on tiny synthetic frames.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsae import data
from recsae.constants import LIKED_RATING
from recsae.data import validate_ratings

RECIPES = ("as_published", "corrected")
FEATURE_SETS = ("ratings", "ratings+genres", "ratings+genres+attributes")

# The article's four attributes, named for what they really are. The ML-1M suffix makes
# plain that they describe ML-1M users.dat rows, not the ML-100K raters.
AS_PUBLISHED_ATTRIBUTES = (
    "female_ml1m",
    "male_ml1m",
    "age_group_ml1m",
    'occupation_code_ml1m (article: "registration months")',
)
# A fixed constant (not the data's min/max) so a new user is encoded exactly like the
# training users. ML-100K ages are 7..73, so age / 100 lies in [0.07, 0.73].
AGE_SCALE = 100.0


# --------------------------------------------------------------------------- helpers


def frozen_ids(ids: Any, what: str) -> np.ndarray:
    """``ids`` as a read-only 1-D int64 array of unique values."""
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {array.dtype}.")
    array = array.astype(np.int64, copy=True)
    if np.unique(array).size != array.size:
        raise ValueError(f"{what} contains duplicate ids.")
    array.setflags(write=False)
    return array


# --------------------------------------------------------------------------- checks


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {what} {value!r}; choose one of {choices}.")


def id_positions(ids: np.ndarray, index_ids: np.ndarray, what: str, where: str,
               allow_missing: bool = False) -> np.ndarray:
    """Position of each of ``ids`` in ``index_ids``; -1 (or ValueError) for unknown ids."""
    ids = np.asarray(ids, dtype=np.int64)
    index_ids = np.asarray(index_ids, dtype=np.int64)
    if index_ids.size == 0:
        positions = np.full(ids.shape, -1, dtype=np.int64)
    else:
        # Binary search in the sorted ids: O(n log m), no Python-level dict.
        order = np.argsort(index_ids, kind="stable")
        sorted_ids = index_ids[order]
        found = np.minimum(np.searchsorted(sorted_ids, ids), sorted_ids.size - 1)
        positions = np.where(sorted_ids[found] == ids, order[found], -1)
    if not allow_missing and np.any(positions < 0):
        unknown = np.unique(ids[positions < 0])
        raise ValueError(f"{unknown.size} {what}(s) are not in {where}: "
                         f"{unknown[:10].tolist()}{' ...' if unknown.size > 10 else ''}.")
    return positions


# --------------------------------------------------------------------------- genres


def genre_vocabulary(genre_strings: Iterable[str]) -> tuple[str, ...]:
    """Every genre name in ``|``-joined strings, sorted case-insensitively (the article's order).

    ML-1M ``movies.dat`` gives 18 names, from ``Action`` to ``Western``.
    """
    # First-appearance order, then a stable case-insensitive sort: like the article, names
    # differing only in case keep the order they first appear in (a set would not).
    names = dict.fromkeys(name for text in genre_strings for name in str(text).split("|") if name)
    if not names:
        raise ValueError("No genre names found in the genre strings.")
    return tuple(sorted(names, key=str.lower))


@dataclass(frozen=True, eq=False)
class GenreTable:
    """A 0/1 movie-by-genre matrix and its ids.

    ``matrix`` is ``[n_movies, n_genres]`` float32; row ``k`` is movie ``item_ids[k]``,
    column ``g`` is genre ``names[g]``.
    """

    item_ids: np.ndarray  # [n_movies] int64
    names: tuple[str, ...]  # [n_genres]
    matrix: np.ndarray  # [n_movies, n_genres] float32 0/1

    def __post_init__(self) -> None:
        object.__setattr__(self, "item_ids", frozen_ids(self.item_ids, "item_ids"))
        matrix = np.array(self.matrix, dtype=np.float32)
        if matrix.shape != (self.item_ids.size, len(self.names)):
            raise ValueError(f"Genre matrix has shape {matrix.shape}, expected "
                             f"({self.item_ids.size}, {len(self.names)}).")
        matrix.setflags(write=False)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "names", tuple(self.names))

    def lookup(self, item_ids: np.ndarray, allow_missing: bool = False) -> np.ndarray:
        """Genre rows ``[len(item_ids), n_genres]`` of the given movie ids.

        With ``allow_missing`` an id absent from the table gets a row of zeros (what the
        article's empty ``movies.loc`` lookup amounts to); otherwise it is a ValueError.
        """
        positions = id_positions(np.asarray(item_ids, dtype=np.int64), self.item_ids, "item_id",
                               "the movie table", allow_missing=allow_missing)
        rows = np.zeros((positions.size, len(self.names)), dtype=np.float32)
        known = positions >= 0
        rows[known] = self.matrix[positions[known]]
        return rows

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame indexed by ``item_id`` with one column per genre."""
        return pd.DataFrame(self.matrix, index=pd.Index(self.item_ids, name="item_id"),
                            columns=list(self.names))


def genre_table_from_strings(movies: pd.DataFrame,
                             vocabulary: tuple[str, ...] | None = None) -> GenreTable:
    """Genre table from a ``|``-joined ``genres`` column (how ML-1M ``movies.dat`` stores it).

    Args:
        movies: ``[n_movies, ...]`` with ``item_id`` and ``genres``.
        vocabulary: genre names in column order; default :func:`genre_vocabulary` of the
            frame (18 names for ML-1M). Names outside a given vocabulary are a ValueError.

    Returns:
        GenreTable with ``matrix`` ``[n_movies, n_genres]``.
    """
    _require_columns(movies, ["item_id", "genres"], "movies")
    names = genre_vocabulary(movies["genres"]) if vocabulary is None else tuple(vocabulary)
    movies = movies.reset_index(drop=True)  # row k of the matrix is row k of the frame
    # One-hot through a sparse (movie, genre) pair list instead of a per-movie loop.
    exploded = movies["genres"].astype(str).str.split("|").explode()
    exploded = exploded[exploded != ""]
    column = pd.Index(names).get_indexer(exploded.to_numpy())
    if np.any(column < 0):
        unknown = sorted(set(exploded.to_numpy()[column < 0]))
        raise ValueError(f"Genres {unknown} are not in the vocabulary {names}.")
    matrix = np.zeros((len(movies), len(names)), dtype=np.float32)
    matrix[exploded.index.to_numpy(), column] = 1.0
    return GenreTable(movies["item_id"].to_numpy(), names, matrix)


def genre_table_from_flags(movies: pd.DataFrame,
                           names: tuple[str, ...] = data.ML100K_GENRES) -> GenreTable:
    """Genre table from one 0/1 column per genre (how ML-100K ``u.item`` stores it).

    Args:
        movies: ``[n_movies, ...]`` with ``item_id`` and a column per name in ``names``.
        names: the flag columns, in column order (default: the 19 of ``u.item``, file order).

    Returns:
        GenreTable with ``matrix`` ``[n_movies, n_genres]``.
    """
    _require_columns(movies, ["item_id", *names], "movies")
    flags = movies[list(names)].to_numpy()
    if not np.isin(flags, [0, 1]).all():
        raise ValueError("Genre flag columns must hold only 0 and 1.")
    return GenreTable(movies["item_id"].to_numpy(), tuple(names), flags)


def _require_columns(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; it has {list(frame.columns)}.")


# --------------------------------------------------------------------------- blocks


def genre_counts(ratings: pd.DataFrame, genres: GenreTable, user_ids: np.ndarray,
                 threshold: float = LIKED_RATING, allow_missing: bool = False) -> np.ndarray:
    """Per user and genre, how many movies of that genre the user rated ``>= threshold``.

    Args:
        ratings: ``user_id, item_id, rating``.
        genres: the movie-by-genre table the movie ids are looked up in.
        user_ids: ``[n_users]`` the row order; users without liked movies get zeros.
        threshold: a rating at or above it counts as liked (the article: ``>= 3``).
        allow_missing: movies absent from ``genres`` contribute nothing (the article's
            behaviour) instead of raising ValueError.

    Returns:
        ``[n_users, n_genres]`` float32 counts.
    """
    checked = validate_ratings(ratings, "ratings", require_timestamp=False)
    liked = checked[checked["rating"].to_numpy() >= threshold]
    user_ids = np.asarray(user_ids, dtype=np.int64)
    rows = id_positions(liked["user_id"].to_numpy(), user_ids, "user_id", "the matrix's rows")
    movie_genres = genres.lookup(liked["item_id"].to_numpy(), allow_missing=allow_missing)
    # Sum the liked movies' genre rows per user: one bincount over flat (user, genre) cells,
    # ~20x faster than np.add.at on rows.
    n_genres = len(genres.names)
    cells = (rows[:, None] * n_genres + np.arange(n_genres)).ravel()
    counts = np.bincount(cells, weights=movie_genres.ravel(), minlength=user_ids.size * n_genres)
    return counts.reshape(user_ids.size, n_genres).astype(np.float32)


def liked_counts(ratings: pd.DataFrame, user_ids: np.ndarray,
                 threshold: float = LIKED_RATING) -> np.ndarray:
    """``[n_users]`` float32: how many movies each user rated ``>= threshold``."""
    checked = validate_ratings(ratings, "ratings", require_timestamp=False)
    liked = checked[checked["rating"].to_numpy() >= threshold]
    rows = id_positions(liked["user_id"].to_numpy(), np.asarray(user_ids, dtype=np.int64),
                      "user_id", "the matrix's rows")
    return np.bincount(rows, minlength=len(user_ids)).astype(np.float32)


def genre_shares(counts: np.ndarray, n_liked: np.ndarray) -> np.ndarray:
    """Scale genre counts to the share of a user's liked movies in each genre.

    ``counts`` ``[n_users, n_genres]`` divided row-wise by ``n_liked`` ``[n_users]``; rows
    with no liked movie stay 0. Each share lies in [0, 1] (a movie may have several genres,
    so a row may sum above 1). We chose shares over e.g. ``log1p`` scaling because they need
    no dataset-wide constant (a new user is scaled exactly like a training user) and they
    describe taste, not how many movies a user happened to rate (raw counts reach the
    hundreds for heavy raters and would dwarf the 1..5 ratings).
    """
    n_liked = np.asarray(n_liked, dtype=np.float32)[:, None]
    return np.divide(counts, n_liked, out=np.zeros_like(counts, dtype=np.float32),
                     where=n_liked > 0).astype(np.float32)


def attribute_block_as_published(users: pd.DataFrame, user_ids: np.ndarray
                                 ) -> tuple[np.ndarray, tuple[str, ...]]:
    """The article's four attributes, looked up by user id in an ML-1M-style user table.

    Args:
        users: ``user_id, gender, age_group, occupation_code`` (ML-1M ``users.dat``).
        user_ids: ``[n_users]`` the row order. The article fails on an id missing from the
            table (``float()`` of an empty selection), so that is a ValueError here.

    Returns:
        ``[n_users, 4]`` float32 (female flag, male flag, raw age bucket, raw occupation code)
        and the names :data:`AS_PUBLISHED_ATTRIBUTES`.
    """
    _require_columns(users, ["user_id", "gender", "age_group", "occupation_code"], "users")
    positions = id_positions(np.asarray(user_ids, dtype=np.int64),
                           users["user_id"].to_numpy().astype(np.int64), "user_id",
                           "the user table (the article cannot build a row without it)")
    rows = users.iloc[positions]
    gender = rows["gender"].astype(str).to_numpy()
    values = np.column_stack([
        gender == "F",
        gender == "M",
        rows["age_group"].to_numpy(dtype=np.float64),
        rows["occupation_code"].to_numpy(dtype=np.float64),
    ]).astype(np.float32)
    return values, AS_PUBLISHED_ATTRIBUTES


def corrected_attribute_names(occupations: Iterable[str]) -> tuple[str, ...]:
    """Column names of :func:`attribute_block_corrected` for an occupation vocabulary."""
    return ("female", "male", f"age/{AGE_SCALE:g}", *(f"occupation={o}" for o in occupations))


def attribute_block_corrected(users: pd.DataFrame, user_ids: np.ndarray,
                              occupations: Iterable[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """ML-100K attributes, every column in [0, 1]: gender flags, age / 100, occupation one-hot.

    Args:
        users: ``user_id, gender, age, occupation`` (ML-100K ``u.user``).
        user_ids: ``[n_users]`` the row order; each must be in ``users``.
        occupations: the occupation vocabulary (21 names of ``u.occupation``); an occupation
            outside it is a ValueError.

    Returns:
        ``[n_users, 3 + n_occupations]`` float32 and the column names.
    """
    _require_columns(users, ["user_id", "gender", "age", "occupation"], "users")
    occupations = tuple(occupations)
    positions = id_positions(np.asarray(user_ids, dtype=np.int64),
                           users["user_id"].to_numpy().astype(np.int64), "user_id",
                           "the user table")
    rows = users.iloc[positions]
    gender = rows["gender"].astype(str).to_numpy()
    if not np.isin(gender, ["F", "M"]).all():
        raise ValueError(f"gender must be 'F' or 'M'; found {sorted(set(gender) - {'F', 'M'})}.")
    age = rows["age"].to_numpy(dtype=np.float64)
    if np.any(~np.isfinite(age)) or np.any(age < 0) or np.any(age > AGE_SCALE):
        raise ValueError(f"ages must lie in 0..{AGE_SCALE:g}; found {age.min()}..{age.max()}.")
    occupation = pd.Index(occupations).get_indexer(rows["occupation"].astype(str).to_numpy())
    if np.any(occupation < 0):
        unknown = sorted(set(rows["occupation"].astype(str).to_numpy()[occupation < 0]))
        raise ValueError(f"Occupations {unknown} are not in the vocabulary {occupations}.")
    values = np.zeros((len(rows), 3 + len(occupations)), dtype=np.float32)
    values[:, 0] = gender == "F"
    values[:, 1] = gender == "M"
    values[:, 2] = age / AGE_SCALE
    values[np.arange(len(rows)), 3 + occupation] = 1.0
    return values, corrected_attribute_names(occupations)


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True, eq=False)
class FeatureTables:
    """The side tables a recipe joins onto the ratings (see :func:`load_feature_tables`).

    ``genres`` is the movie-by-genre table; ``users`` the user table (ML-1M ``users.dat``
    for ``as_published``, ML-100K ``u.user`` for ``corrected``); ``occupations`` the
    occupation vocabulary (``corrected`` only, else empty); ``movie_ids`` the movie table's
    ids, which fix the rating columns for ``corrected`` (None for ``as_published``, whose
    columns are 1..the largest rated id, as in the article).
    """

    recipe: str
    genres: GenreTable
    users: pd.DataFrame
    occupations: tuple[str, ...] = ()
    movie_ids: np.ndarray | None = None


def load_feature_tables(recipe: str = "as_published",
                        data_dir: data.PathLike = None) -> FeatureTables:
    """Load the tables ``recipe`` needs through :mod:`recsae.data`."""
    check_choice(recipe, RECIPES, "recipe")
    if recipe == "as_published":
        return FeatureTables(recipe, genre_table_from_strings(data.load_movies("ml-1m", data_dir)),
                             data.load_users("ml-1m", data_dir))
    movies = data.load_movies("ml-100k", data_dir)
    return FeatureTables(recipe, genre_table_from_flags(movies),
                         data.load_users("ml-100k", data_dir),
                         tuple(data.load_occupations(data_dir)),
                         movies["item_id"].to_numpy().astype(np.int64))


def attribute_block(tables: FeatureTables, users: pd.DataFrame,
                     user_ids: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    if tables.recipe == "as_published":
        return attribute_block_as_published(users, user_ids)
    return attribute_block_corrected(users, user_ids, tables.occupations)


def genre_block(tables: FeatureTables, ratings: pd.DataFrame, user_ids: np.ndarray,
                 threshold: float) -> np.ndarray:
    if tables.recipe == "as_published":
        # Raw counts; ML-100K ids absent from ML-1M contribute nothing, as in the article.
        return genre_counts(ratings, tables.genres, user_ids, threshold, allow_missing=True)
    counts = genre_counts(ratings, tables.genres, user_ids, threshold)
    return genre_shares(counts, liked_counts(ratings, user_ids, threshold))


