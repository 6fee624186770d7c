"""The user matrix: one row per user, ratings | genre counts | attributes.

Each user gets one row: the ratings of every movie (0 = unrated), then per genre how many
movies the user liked (:mod:`recsae.features`), then the user's attributes. The
:class:`ColumnIndex` that comes with every matrix says which columns hold what.
:func:`build_user_matrices` loads the recipe's side tables and builds the train and test
matrices; :func:`build_from_tables` does the same on tables already loaded;
:func:`user_row` encodes one new user with an existing :class:`ColumnIndex`.

Memory: the matrices are dense float32. For ML-100K that is 943 x ~1700 x 4 B = 6.4 MB per
matrix, and for ML-1M 6040 x ~3700 x 4 B = 90 MB, both fine. Larger datasets use
:func:`build_sparse_from_tables`: the same matrices as scipy CSR, the rating block built from
the ratings (never a dense ``[n_users, n_items]`` array: 36 GiB at ML-25M), the small genre
and attribute blocks computed densely and stored as entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recsae import data
from recsae.constants import LIKED_RATING
from recsae.data import validate_ratings
from recsae.features import (
    FEATURE_SETS,
    RECIPES,
    FeatureTables,
    attribute_block,
    check_choice,
    frozen_ids,
    genre_block,
    genre_shares,
    id_positions,
    load_feature_tables,
)

BLOCKS = ("rating", "genre", "attribute")
NEW_USER_ID = 2**31 - 1  # the row id of a user being encoded by user_row (no table holds it)


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
        object.__setattr__(self, "user_ids", frozen_ids(self.user_ids, "user_ids"))
        object.__setattr__(self, "item_ids", frozen_ids(self.item_ids, "item_ids"))
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
        return id_positions(np.asarray(list(item_ids), dtype=np.int64), self.item_ids, "item_id",
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


def rating_block(ratings: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """Ratings as a dense user-by-movie matrix, 0 where unrated.

    Args:
        ratings: ``user_id, item_id, rating`` (see :func:`recsae.data.validate_ratings`).
        user_ids: ``[n_users]`` the row order. Every rating's user must be here.
        item_ids: ``[n_items]`` the column order. Every rating's movie must be here.

    Returns:
        ``[n_users, n_items]`` float32.
    """
    checked = validate_ratings(ratings, "ratings", require_timestamp=False)
    user_ids = np.asarray(user_ids, dtype=np.int64)
    item_ids = np.asarray(item_ids, dtype=np.int64)
    rows = id_positions(checked["user_id"].to_numpy(), user_ids, "user_id", "the matrix's rows")
    cols = id_positions(checked["item_id"].to_numpy(), item_ids, "item_id", "the movie columns")
    block = np.zeros((user_ids.size, item_ids.size), dtype=np.float32)
    block[rows, cols] = checked["rating"].to_numpy()
    return block


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
                      genre_threshold: float = LIKED_RATING) -> UserMatrices:
    """:func:`build_user_matrices` on tables already loaded (no I/O)."""
    check_choice(tables.recipe, RECIPES, "recipe")
    check_choice(features, FEATURE_SETS, "feature set")
    train = validate_ratings(train, "train ratings", require_timestamp=False)
    test = validate_ratings(test, "test ratings", require_timestamp=False)
    user_ids, item_ids = _row_and_column_ids(tables, train, test)
    where = ("ML-100K u.user" if tables.recipe == "corrected" else "1..max user id")
    for name, frame in (("train", train), ("test", test)):
        id_positions(frame["user_id"].to_numpy(), user_ids, f"{name} user_id", where)
        id_positions(frame["item_id"].to_numpy(), item_ids, f"{name} item_id",
                   "the movie table" if tables.recipe == "corrected" else "1..max movie id")

    genre_names: tuple[str, ...] = ()
    attribute_names: tuple[str, ...] = ()
    matrices = []
    attributes = None
    if features == "ratings+genres+attributes":
        attributes, attribute_names = attribute_block(tables, tables.users, user_ids)
    for frame in (train, test):
        blocks = [rating_block(frame, user_ids, item_ids)]
        if features != "ratings":
            blocks.append(genre_block(tables, frame, user_ids, genre_threshold))
            genre_names = tables.genres.names
        if attributes is not None:
            blocks.append(attributes)  # a user's attributes are the same in both files
        matrices.append(np.concatenate(blocks, axis=1).astype(np.float32, copy=False))
    columns = ColumnIndex(user_ids, item_ids, genre_names, attribute_names)
    return UserMatrices(matrices[0], matrices[1], columns, tables.recipe, features)


def build_user_matrices(train: pd.DataFrame, test: pd.DataFrame, recipe: str = "as_published",
                        features: str = "ratings+genres+attributes",
                        genre_threshold: float = LIKED_RATING,
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
    check_choice(recipe, RECIPES, "recipe")
    check_choice(features, FEATURE_SETS, "feature set")
    return build_from_tables(train, test, load_feature_tables(recipe, data_dir), features,
                             genre_threshold)


def user_row(ratings: Mapping[int, float] | pd.Series, columns: ColumnIndex,
             tables: FeatureTables, attributes: Mapping[str, Any] | None = None,
             genre_threshold: float = LIKED_RATING) -> np.ndarray:
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
    check_choice(tables.recipe, RECIPES, "recipe")
    placeholder = np.array([NEW_USER_ID], dtype=np.int64)
    items = pd.Series(ratings, dtype="float64") if len(ratings) else pd.Series(dtype="float64")
    frame = pd.DataFrame({"user_id": NEW_USER_ID, "item_id": items.index.to_numpy().astype(np.int64),
                          "rating": items.to_numpy()})
    row = np.zeros(columns.n_columns, dtype=np.float32)
    if len(frame):
        frame = validate_ratings(frame, "the new user's ratings", require_timestamp=False)
        row[columns.rating_slice] = rating_block(frame, placeholder, columns.item_ids)[0]
    if columns.n_genres:
        if tuple(tables.genres.names) != columns.genre_names:
            raise ValueError("The tables' genres differ from the columns' genre names: "
                             f"{tables.genres.names} vs {columns.genre_names}.")
        if len(frame):
            row[columns.genre_slice] = genre_block(tables, frame, placeholder,
                                                    genre_threshold)[0]
    if columns.n_attributes:
        if attributes is None:
            raise ValueError("These columns include user attributes; pass `attributes`.")
        users = pd.DataFrame([{**dict(attributes), "user_id": NEW_USER_ID}])
        values, names = attribute_block(tables, users, placeholder)
        if names != columns.attribute_names:
            raise ValueError(f"The {tables.recipe} attributes {names} differ from the columns' "
                             f"attribute names {columns.attribute_names}.")
        row[columns.attribute_slice] = values[0]
    return row


@dataclass(frozen=True, eq=False)
class SparseUserMatrices:
    """:class:`UserMatrices` with ``train`` and ``test`` as scipy CSR ``[n_users, n_columns]``
    float32 (``.toarray()`` gives the dense builder's matrices); what ``training.fit`` takes."""

    train: sparse.csr_matrix
    test: sparse.csr_matrix
    columns: ColumnIndex
    recipe: str
    features: str


def rating_csr(ratings: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray,
               validate: bool = True) -> sparse.csr_matrix:
    """:func:`rating_block` as a CSR ``[n_users, n_items]`` float32 (``validate=False``: the
    frame was already checked by :func:`validate_ratings`)."""
    checked = validate_ratings(ratings, "ratings", require_timestamp=False) if validate else ratings
    user_ids = np.asarray(user_ids, dtype=np.int64)
    item_ids = np.asarray(item_ids, dtype=np.int64)
    rows = id_positions(checked["user_id"].to_numpy(), user_ids, "user_id", "the matrix's rows")
    cols = id_positions(checked["item_id"].to_numpy(), item_ids, "item_id", "the movie columns")
    block = sparse.csr_matrix((checked["rating"].to_numpy(dtype=np.float32),
                               (rows.astype(np.int32), cols.astype(np.int32))),
                              shape=(user_ids.size, item_ids.size), dtype=np.float32)
    block.sort_indices()
    return block


def _sparse_genre_block(tables: FeatureTables, block: sparse.csr_matrix, item_ids: np.ndarray,
                        threshold: float) -> np.ndarray:
    """:func:`recsae.features.genre_block` from a rating CSR: liked ratings times the
    movie-by-genre table, one sparse product (``[n_users, n_genres]`` float32)."""
    liked = sparse.csr_matrix(((block.data >= threshold).astype(np.float32), block.indices.copy(),
                               block.indptr.copy()), shape=block.shape)
    liked.eliminate_zeros()
    movie_genres = tables.genres.lookup(item_ids, allow_missing=tables.recipe == "as_published")
    counts = np.asarray(liked @ movie_genres.astype(np.float64), dtype=np.float32)
    if tables.recipe == "as_published":
        return counts
    return genre_shares(counts, np.diff(liked.indptr).astype(np.float32))


def build_sparse_from_tables(train: pd.DataFrame, test: pd.DataFrame, tables: FeatureTables,
                             features: str = "ratings+genres+attributes",
                             genre_threshold: float = LIKED_RATING,
                             scale: tuple[float, float, float] | None = None) -> SparseUserMatrices:
    """:func:`build_from_tables` as CSR (``.toarray()`` equals it), in memory proportional to
    the ratings; ``scale``: the ratings' ``(lowest, highest, step)`` (default whole stars)."""
    check_choice(tables.recipe, RECIPES, "recipe")
    check_choice(features, FEATURE_SETS, "feature set")
    train, test = (validate_ratings(f, f"{n} ratings", scale, require_timestamp=False)
                   for f, n in ((train, "train"), (test, "test")))
    user_ids, item_ids = _row_and_column_ids(tables, train, test)
    genre_names, attribute_names, attributes, matrices = (), (), None, []
    if features == "ratings+genres+attributes":
        attributes, attribute_names = attribute_block(tables, tables.users, user_ids)
    for frame in (train, test):
        block = rating_csr(frame, user_ids, item_ids, validate=False)  # ids checked here
        blocks = [block]
        if features != "ratings":
            blocks.append(sparse.csr_matrix(
                _sparse_genre_block(tables, block, item_ids, genre_threshold)))
            genre_names = tables.genres.names
        if attributes is not None:
            blocks.append(sparse.csr_matrix(attributes))
        matrices.append(sparse.hstack(blocks, format="csr", dtype=np.float32))
        matrices[-1].eliminate_zeros()
        matrices[-1].sort_indices()
    columns = ColumnIndex(user_ids, item_ids, genre_names, attribute_names)
    return SparseUserMatrices(matrices[0], matrices[1], columns, tables.recipe, features)


def build_sparse_user_matrices(train: pd.DataFrame, test: pd.DataFrame, recipe: str = "as_published",
                               features: str = "ratings+genres+attributes",
                               genre_threshold: float = LIKED_RATING,
                               data_dir: data.PathLike = None) -> SparseUserMatrices:
    """:func:`build_user_matrices` as CSR matrices (see :func:`build_sparse_from_tables`)."""
    check_choice(recipe, RECIPES, "recipe")
    check_choice(features, FEATURE_SETS, "feature set")
    return build_sparse_from_tables(train, test, load_feature_tables(recipe, data_dir), features,
                                    genre_threshold)
