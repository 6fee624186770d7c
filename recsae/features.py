"""User-by-column feature matrices: ratings, genre counts and user attributes.

Each user gets one row: the ratings of every movie (0 = unrated), then per genre how many
movies the user liked (rated at or above a threshold), then the user's attributes. The
:class:`ColumnIndex` that comes with every matrix says which columns hold what.

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
(:func:`rating_block`, :func:`genre_counts`, :func:`attribute_block_as_published`, ...),
which take DataFrames and can be tested on tiny synthetic frames.
:func:`build_user_matrices` does both; :func:`user_row` encodes one new user with an
existing :class:`ColumnIndex`.

Memory: the matrices are dense float32. For ML-100K that is 943 x ~1700 x 4 B = 6.4 MB per
matrix, and for ML-1M 6040 x ~3700 x 4 B = 90 MB, both fine. ML-10M (70k x 10.7k, ~3 GB)
and ML-25M (162k x 59k, ~38 GB) would need the rating block kept sparse (COO index arrays
or ``torch.sparse_csr_tensor``) and densified one mini-batch of users at a time; the genre
and attribute blocks stay small and dense.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsae import data

RECIPES = ("as_published", "corrected")
FEATURE_SETS = ("ratings", "ratings+genres", "ratings+genres+attributes")
GENRE_THRESHOLD = 3  # the article counts a movie as liked when rated >= 3

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

BLOCKS = ("rating", "genre", "attribute")
_RATING_FRAME_COLUMNS = ("user_id", "item_id", "rating")


# --------------------------------------------------------------------------- column index


def _frozen_ids(ids: Any, what: str) -> np.ndarray:
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


@dataclass(frozen=True, eq=False)
class ColumnIndex:
    """What each row and column of a user matrix is.

    Columns come in three blocks, always in this order: one rating column per movie in
    ``item_ids``, one genre-count column per name in ``genre_names``, one column per name in
    ``attribute_names``. Row ``r`` belongs to user ``user_ids[r]``.
    """

    user_ids: np.ndarray  # [n_users] int64, user id of each row
    item_ids: np.ndarray  # [n_items] int64, movie id of each rating column
    genre_names: tuple[str, ...]  # genre-count columns, after the rating columns
    attribute_names: tuple[str, ...]  # attribute columns, last

    def __post_init__(self) -> None:
        # Frozen: the arrays are copied and made read-only, the names become tuples.
        object.__setattr__(self, "user_ids", _frozen_ids(self.user_ids, "user_ids"))
        object.__setattr__(self, "item_ids", _frozen_ids(self.item_ids, "item_ids"))
        for field in ("genre_names", "attribute_names"):
            names = tuple(str(name) for name in getattr(self, field))
            if len(set(names)) != len(names):
                raise ValueError(f"{field} contains duplicate names: {names}.")
            object.__setattr__(self, field, names)

    @property
    def n_users(self) -> int:
        return int(self.user_ids.size)

    @property
    def n_items(self) -> int:
        return int(self.item_ids.size)

    @property
    def n_genres(self) -> int:
        return len(self.genre_names)

    @property
    def n_attributes(self) -> int:
        return len(self.attribute_names)

    @property
    def n_columns(self) -> int:
        return self.n_items + self.n_genres + self.n_attributes

    @property
    def rating_slice(self) -> slice:
        return slice(0, self.n_items)

    @property
    def genre_slice(self) -> slice:
        return slice(self.n_items, self.n_items + self.n_genres)

    @property
    def attribute_slice(self) -> slice:
        return slice(self.n_items + self.n_genres, self.n_columns)

    @property
    def names(self) -> list[str]:
        """One unique name per column: ``item:<id>``, ``genre:<name>``, ``attribute:<name>``."""
        return ([f"item:{i}" for i in self.item_ids.tolist()]
                + [f"genre:{g}" for g in self.genre_names]
                + [f"attribute:{a}" for a in self.attribute_names])

    def block_of(self, column: int | str) -> str:
        """``"rating"``, ``"genre"`` or ``"attribute"`` for a column position or name."""
        if isinstance(column, str):
            names = self.names
            if column not in names:
                raise ValueError(f"No column named {column!r}.")
            position = names.index(column)
        else:
            position = int(column)
            if not -self.n_columns <= position < self.n_columns:
                raise IndexError(f"Column {column} is outside 0..{self.n_columns - 1}.")
            position %= self.n_columns
        if position < self.n_items:
            return "rating"
        if position < self.n_items + self.n_genres:
            return "genre"
        return "attribute"

    def item_positions(self, item_ids: Iterable[int]) -> np.ndarray:
        """Rating-column position of each movie id; ValueError for ids without a column."""
        return _positions(np.asarray(list(item_ids), dtype=np.int64), self.item_ids, "item_id",
                          "the matrix's rating columns")

    def to_dict(self) -> dict[str, list[int] | list[str]]:
        """Plain lists of ints and strings, safe for JSON and ``torch.load(weights_only=True)``."""
        return {
            "user_ids": [int(u) for u in self.user_ids.tolist()],
            "item_ids": [int(i) for i in self.item_ids.tolist()],
            "genre_names": list(self.genre_names),
            "attribute_names": list(self.attribute_names),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnIndex:
        """Inverse of :meth:`to_dict`."""
        missing = [k for k in ("user_ids", "item_ids", "genre_names", "attribute_names")
                   if k not in d]
        if missing:
            raise ValueError(f"ColumnIndex dict lacks the keys {missing}.")
        return cls(np.asarray(d["user_ids"], dtype=np.int64),
                   np.asarray(d["item_ids"], dtype=np.int64),
                   tuple(d["genre_names"]), tuple(d["attribute_names"]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColumnIndex):
            return NotImplemented
        return (np.array_equal(self.user_ids, other.user_ids)
                and np.array_equal(self.item_ids, other.item_ids)
                and self.genre_names == other.genre_names
                and self.attribute_names == other.attribute_names)

    __hash__ = None  # type: ignore[assignment]  # equal by value, holds arrays


@dataclass(frozen=True, eq=False)
class UserMatrices:
    """The train and test user matrices of one recipe and feature set.

    ``train`` and ``test`` are ``[n_users, n_columns]`` float32 with the same rows and
    columns (``columns``). The test genre counts are computed from the test ratings, as the
    article does, so its metric can be reproduced; a model's *input* at test time is always
    the train row, and the test row only supplies target ratings.
    """

    train: np.ndarray  # [n_users, n_columns] float32
    test: np.ndarray  # [n_users, n_columns] float32
    columns: ColumnIndex
    recipe: str
    features: str


# --------------------------------------------------------------------------- validation


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"Unknown {what} {value!r}; choose one of {choices}.")


def check_ratings(ratings: pd.DataFrame, name: str = "ratings") -> pd.DataFrame:
    """Validate a ratings frame and return ``user_id, item_id`` (int64) and ``rating`` (float).

    Needs the columns ``user_id, item_id, rating`` (``timestamp`` is not used); ids must be
    integers, ratings finite and > 0 (0 means "unrated" in the matrix), and each
    (user, movie) pair may appear only once.
    """
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(ratings).__name__}.")
    missing = [c for c in _RATING_FRAME_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; it has {list(ratings.columns)}. "
                         f"Expected {list(_RATING_FRAME_COLUMNS)}.")
    if ratings.empty:
        raise ValueError(f"{name} is empty: there are no ratings to build a matrix from.")
    frame = ratings[list(_RATING_FRAME_COLUMNS)]
    if frame.isna().any().any():
        raise ValueError(f"{name} has missing values (NaN) in {list(_RATING_FRAME_COLUMNS)}.")
    out = {}
    for column in ("user_id", "item_id"):
        values = frame[column].to_numpy()
        if not np.issubdtype(values.dtype, np.number) or np.any(values != np.round(values)):
            raise ValueError(f"{name}: {column} must hold integer ids, got {values.dtype}.")
        out[column] = values.astype(np.int64)
    rating = frame["rating"].to_numpy()
    if not np.issubdtype(rating.dtype, np.number):
        raise ValueError(f"{name}: rating must be numeric, got {rating.dtype}.")
    rating = rating.astype(np.float64)
    if not np.all(np.isfinite(rating)) or np.any(rating <= 0):
        raise ValueError(f"{name}: ratings must be finite and > 0 (0 means unrated); "
                         f"found min {rating.min()}.")
    out["rating"] = rating
    # One int64 key per (user, movie) pair; a sort finds repeats faster than DataFrame.duplicated.
    users, items = out["user_id"], out["item_id"]
    keys = np.sort((users - users.min()) * (items.max() - items.min() + 1) + (items - items.min()))
    repeats = np.flatnonzero(keys[1:] == keys[:-1])
    if repeats.size:
        stride = items.max() - items.min() + 1
        user, item = divmod(int(keys[repeats[0]]), int(stride))
        raise ValueError(f"{name} rates the same movie twice for one user ({repeats.size} "
                         f"repeats; first: user {user + users.min()}, item {item + items.min()}).")
    return pd.DataFrame(out)


def _positions(ids: np.ndarray, index_ids: np.ndarray, what: str, where: str,
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
        object.__setattr__(self, "item_ids", _frozen_ids(self.item_ids, "item_ids"))
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
        positions = _positions(np.asarray(item_ids, dtype=np.int64), self.item_ids, "item_id",
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


def rating_block(ratings: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """Ratings as a dense user-by-movie matrix, 0 where unrated.

    Args:
        ratings: ``user_id, item_id, rating`` (see :func:`check_ratings`).
        user_ids: ``[n_users]`` the row order. Every rating's user must be here.
        item_ids: ``[n_items]`` the column order. Every rating's movie must be here.

    Returns:
        ``[n_users, n_items]`` float32.
    """
    checked = check_ratings(ratings)
    user_ids = np.asarray(user_ids, dtype=np.int64)
    item_ids = np.asarray(item_ids, dtype=np.int64)
    rows = _positions(checked["user_id"].to_numpy(), user_ids, "user_id", "the matrix's rows")
    cols = _positions(checked["item_id"].to_numpy(), item_ids, "item_id", "the movie columns")
    block = np.zeros((user_ids.size, item_ids.size), dtype=np.float32)
    block[rows, cols] = checked["rating"].to_numpy()
    return block


def genre_counts(ratings: pd.DataFrame, genres: GenreTable, user_ids: np.ndarray,
                 threshold: float = GENRE_THRESHOLD, allow_missing: bool = False) -> np.ndarray:
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
    checked = check_ratings(ratings)
    liked = checked[checked["rating"].to_numpy() >= threshold]
    user_ids = np.asarray(user_ids, dtype=np.int64)
    rows = _positions(liked["user_id"].to_numpy(), user_ids, "user_id", "the matrix's rows")
    movie_genres = genres.lookup(liked["item_id"].to_numpy(), allow_missing=allow_missing)
    # Sum the liked movies' genre rows per user: one bincount over flat (user, genre) cells,
    # ~20x faster than np.add.at on rows.
    n_genres = len(genres.names)
    cells = (rows[:, None] * n_genres + np.arange(n_genres)).ravel()
    counts = np.bincount(cells, weights=movie_genres.ravel(), minlength=user_ids.size * n_genres)
    return counts.reshape(user_ids.size, n_genres).astype(np.float32)


def liked_counts(ratings: pd.DataFrame, user_ids: np.ndarray,
                 threshold: float = GENRE_THRESHOLD) -> np.ndarray:
    """``[n_users]`` float32: how many movies each user rated ``>= threshold``."""
    checked = check_ratings(ratings)
    liked = checked[checked["rating"].to_numpy() >= threshold]
    rows = _positions(liked["user_id"].to_numpy(), np.asarray(user_ids, dtype=np.int64),
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
    positions = _positions(np.asarray(user_ids, dtype=np.int64),
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
    positions = _positions(np.asarray(user_ids, dtype=np.int64),
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
    _check_choice(recipe, RECIPES, "recipe")
    if recipe == "as_published":
        return FeatureTables(recipe, genre_table_from_strings(data.load_movies("ml-1m", data_dir)),
                             data.load_users("ml-1m", data_dir))
    movies = data.load_movies("ml-100k", data_dir)
    return FeatureTables(recipe, genre_table_from_flags(movies),
                         data.load_users("ml-100k", data_dir),
                         tuple(data.load_occupations(data_dir)),
                         movies["item_id"].to_numpy().astype(np.int64))


def _attribute_block(tables: FeatureTables, users: pd.DataFrame,
                     user_ids: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    if tables.recipe == "as_published":
        return attribute_block_as_published(users, user_ids)
    return attribute_block_corrected(users, user_ids, tables.occupations)


def _genre_block(tables: FeatureTables, ratings: pd.DataFrame, user_ids: np.ndarray,
                 threshold: float) -> np.ndarray:
    if tables.recipe == "as_published":
        # Raw counts; ML-100K ids absent from ML-1M contribute nothing, as in the article.
        return genre_counts(ratings, tables.genres, user_ids, threshold, allow_missing=True)
    counts = genre_counts(ratings, tables.genres, user_ids, threshold)
    return genre_shares(counts, liked_counts(ratings, user_ids, threshold))


def _row_and_column_ids(tables: FeatureTables, train: pd.DataFrame,
                        test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if tables.recipe == "as_published":
        # The article: rows 1..max user id, rating columns 1..max movie id, over both files.
        n_users = int(max(train["user_id"].max(), test["user_id"].max()))
        n_items = int(max(train["item_id"].max(), test["item_id"].max()))
        return np.arange(1, n_users + 1), np.arange(1, n_items + 1)
    movie_ids = tables.movie_ids if tables.movie_ids is not None else tables.genres.item_ids
    return tables.users["user_id"].to_numpy().astype(np.int64), np.asarray(movie_ids)


def build_from_tables(train: pd.DataFrame, test: pd.DataFrame, tables: FeatureTables,
                      features: str = "ratings+genres+attributes",
                      genre_threshold: float = GENRE_THRESHOLD) -> UserMatrices:
    """:func:`build_user_matrices` on tables already loaded (no I/O)."""
    _check_choice(tables.recipe, RECIPES, "recipe")
    _check_choice(features, FEATURE_SETS, "feature set")
    train = check_ratings(train, "train ratings")
    test = check_ratings(test, "test ratings")
    user_ids, item_ids = _row_and_column_ids(tables, train, test)
    where = ("ML-100K u.user" if tables.recipe == "corrected" else "1..max user id")
    for name, frame in (("train", train), ("test", test)):
        _positions(frame["user_id"].to_numpy(), user_ids, f"{name} user_id", where)
        _positions(frame["item_id"].to_numpy(), item_ids, f"{name} item_id",
                   "the movie table" if tables.recipe == "corrected" else "1..max movie id")

    genre_names: tuple[str, ...] = ()
    attribute_names: tuple[str, ...] = ()
    matrices = []
    attributes = None
    if features == "ratings+genres+attributes":
        attributes, attribute_names = _attribute_block(tables, tables.users, user_ids)
    for frame in (train, test):
        blocks = [rating_block(frame, user_ids, item_ids)]
        if features != "ratings":
            blocks.append(_genre_block(tables, frame, user_ids, genre_threshold))
            genre_names = tables.genres.names
        if attributes is not None:
            blocks.append(attributes)  # a user's attributes are the same in both files
        matrices.append(np.concatenate(blocks, axis=1).astype(np.float32, copy=False))
    columns = ColumnIndex(user_ids, item_ids, genre_names, attribute_names)
    return UserMatrices(matrices[0], matrices[1], columns, tables.recipe, features)


def build_user_matrices(train: pd.DataFrame, test: pd.DataFrame, recipe: str = "as_published",
                        features: str = "ratings+genres+attributes",
                        genre_threshold: float = GENRE_THRESHOLD,
                        data_dir: data.PathLike = None) -> UserMatrices:
    """Train and test user matrices for one recipe and feature set.

    Args:
        train, test: ratings frames (``user_id, item_id, rating``), e.g. from
            :func:`recsae.data.load_split`.
        recipe: ``"as_published"`` (the article's ML-1M joins, raw values) or
            ``"corrected"`` (ML-100K's own tables, scaled); see the module docstring.
        features: ``"ratings"``, ``"ratings+genres"`` or ``"ratings+genres+attributes"``
            (the article's three experiments).
        genre_threshold: a rating ``>=`` this counts as liked in the genre counts.
        data_dir: cache folder for the side tables (see :mod:`recsae.download`).

    Returns:
        :class:`UserMatrices`, ``train``/``test`` ``[n_users, n_items + n_genres +
        n_attributes]`` float32. For ``u1`` and ``as_published``: ``[943, 1682 + 18 + 4]``;
        for ``corrected``: ``[943, 1682 + 19 + 24]``.
    """
    _check_choice(recipe, RECIPES, "recipe")
    _check_choice(features, FEATURE_SETS, "feature set")
    return build_from_tables(train, test, load_feature_tables(recipe, data_dir), features,
                             genre_threshold)


def user_row(ratings: Mapping[int, float] | pd.Series, columns: ColumnIndex,
             tables: FeatureTables, attributes: Mapping[str, Any] | None = None,
             genre_threshold: float = GENRE_THRESHOLD) -> np.ndarray:
    """Encode one (possibly new) user as a row laid out by ``columns``.

    Args:
        ratings: movie id -> rating; every movie must have a rating column in ``columns``.
            May be empty (a user who has rated nothing yet).
        columns: the index of the matrices the row must match (e.g. from a checkpoint).
        tables: the recipe's side tables (:func:`load_feature_tables`).
        attributes: needed when ``columns`` has attribute columns. ``as_published``:
            ``gender`` ('F'/'M'), ``age_group`` and ``occupation_code`` (ML-1M codes);
            ``corrected``: ``gender``, ``age`` (years) and ``occupation`` (a ``u.occupation``
            name).
        genre_threshold: as in :func:`build_user_matrices`.

    Returns:
        ``[n_columns]`` float32, encoded by the same code as the training rows.
    """
    _check_choice(tables.recipe, RECIPES, "recipe")
    placeholder = np.array([-1], dtype=np.int64)  # a user id no table holds
    items = pd.Series(ratings, dtype="float64") if len(ratings) else pd.Series(dtype="float64")
    frame = pd.DataFrame({"user_id": -1, "item_id": items.index.to_numpy().astype(np.int64),
                          "rating": items.to_numpy()})
    row = np.zeros(columns.n_columns, dtype=np.float32)
    if len(frame):
        frame = check_ratings(frame, "the new user's ratings")
        row[columns.rating_slice] = rating_block(frame, placeholder, columns.item_ids)[0]
    if columns.n_genres:
        if tuple(tables.genres.names) != columns.genre_names:
            raise ValueError("The tables' genres differ from the columns' genre names: "
                             f"{tables.genres.names} vs {columns.genre_names}.")
        if len(frame):
            row[columns.genre_slice] = _genre_block(tables, frame, placeholder,
                                                    genre_threshold)[0]
    if columns.n_attributes:
        if attributes is None:
            raise ValueError("These columns include user attributes; pass `attributes`.")
        users = pd.DataFrame([{**dict(attributes), "user_id": -1}])
        values, names = _attribute_block(tables, users, placeholder)
        if names != columns.attribute_names:
            raise ValueError(f"The {tables.recipe} attributes {names} differ from the columns' "
                             f"attribute names {columns.attribute_names}.")
        row[columns.attribute_slice] = values[0]
    return row
