"""Typed loaders for the MovieLens files, and the one validator of a ratings frame.

Every loader looks its dataset up in the dataset table (:mod:`recsae.datasets`), fetches
the file through :func:`recsae.download.fetch` (cache, mirror, GroupLens), parses it with
named columns and fixed dtypes, and validates what it read. :func:`validate_ratings` is
the one rule for a ratings frame, wherever it comes from (a file, a notebook, a new user).

Column conventions (:mod:`recsae.constants`, so every module agrees):

* ratings: ``user_id`` (int32), ``item_id`` (int32), ``rating`` (int32 on a whole-star
  scale, else float32: half stars are exact), ``timestamp`` (int64, Unix seconds): about 20
  bytes a rating, parsed straight into these dtypes (ML-25M's 25 M ratings take ~500 MB);
* ML-100K users: ``user_id, age, gender, occupation, zip_code``;
* ML-1M users: ``user_id, gender, age_group, occupation_code, zip_code`` (ML-1M gives an
  age *bucket* and an occupation *code*, see :data:`ML1M_AGE_GROUPS`, :data:`ML1M_OCCUPATIONS`);
* movies: ``item_id, title, genres`` (``|``-joined genre names; ``""`` for none), plus for
  ML-100K ``release_date, imdb_url`` and one int8 flag column per genre in :data:`ML100K_GENRES`.

Formats: tab/``|``-separated (ML-100K), ``::``-separated (ML-1M, ML-10M), CSV with a header
row (ml-latest-small, ML-20M, ML-25M: :data:`RATINGS_CSV_HEADER`, :data:`MOVIES_CSV_HEADER`).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from recsae.constants import RATING, RATING_COLUMNS, RATING_DTYPES, RATING_MAX, RATING_MIN, RATING_STEP
from recsae.datasets import DatasetSpec, get_spec
from recsae.download import DataError, fetch

# The 19 genre flags of u.item, in file order (the same as u.genre).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)
ML1M_AGE_GROUPS = {1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49",
                   50: "50-55", 56: "56+"}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
RATINGS_CSV_HEADER = ("userId", "movieId", "rating", "timestamp")
MOVIES_CSV_HEADER = ("movieId", "title", "genres")  # the CSV datasets' header rows, checked
NO_GENRES = "(no genres listed)"  # the CSV datasets' genres of a movie with none; read as ""
_BLOCK_ROWS = 1 << 16  # validate_ratings checks this many rows at a time (bounded temporaries)

PathLike = str | os.PathLike[str] | None
Scale = tuple[float, float, float]


class DataFormatError(DataError, ValueError):
    """A data file was read but its content is not what its format promises."""


def _read_csv(source: str | Path | IO[bytes], path: Path, **options) -> pd.DataFrame:
    """``pd.read_csv(source, **options)``; any parse problem, or a row with more fields than
    names (which pandas would drop or shift silently), is a DataFormatError naming ``path``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(source, index_col=False, **options)
    except DataFormatError:
        raise
    except (ValueError, OverflowError, pd.errors.ParserWarning) as exc:
        raise DataFormatError(f"{path} could not be parsed: {exc}") from exc


class _DoubleColonReader(io.RawIOBase):
    """A ``::``-separated file served as tab-separated bytes (pandas' fast C parser cannot
    split on ``::``), a block of whole lines at a time: never the whole text in memory.
    A line without exactly ``n_fields`` fields is a DataFormatError naming it."""

    def __init__(self, path: Path, n_fields: int, block_bytes: int = 1 << 22) -> None:
        super().__init__()
        self.path, self.n_fields, self.block_bytes = path, n_fields, block_bytes
        self._file = open(path, "rb")  # closed by close(), i.e. at the end of a with block
        self._tail, self._out, self._lines = b"", memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()
        super().close()

    def readinto(self, buffer: memoryview) -> int:
        raw = b"-"
        while raw and not self._out:  # the next block of whole lines (the rest at the end)
            raw = self._file.read(self.block_bytes)
            data = self._tail + raw
            cut = data.rfind(b"\n") + 1 if raw else len(data)
            self._out, self._tail = memoryview(self._checked(data[:cut])), data[cut:]
        n = min(len(buffer), len(self._out))
        buffer[:n], self._out = self._out[:n], self._out[n:]
        return n

    def _checked(self, block: bytes) -> bytes:
        n_lines = block.count(b"\n") + (not block.endswith(b"\n") and bool(block))
        if block.count(b"::") != (self.n_fields - 1) * n_lines:
            for line_no, line in enumerate(block.split(b"\n"), start=self._lines + 1):
                if (found := len(line.split(b"::"))) != self.n_fields:
                    raise DataFormatError(f"{self.path}, line {line_no}: expected {self.n_fields} "
                                          f"'::'-separated fields, found {found}: {line[:80]!r}")
        self._lines += n_lines
        return block.replace(b"::", b"\t")


def _read_double_colon(path: Path, names: list[str], encoding: str) -> pd.DataFrame:
    """A ``::``-separated table (ML-1M, ML-10M) as text columns ``names``."""
    with _DoubleColonReader(path, len(names)) as source:
        return _read_csv(source, path, sep="\t", header=None, names=names, dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False, encoding=encoding)


def _rating_dtype(scale: Scale | None) -> str:
    """int32 ratings on a whole-star scale (1..5 in steps of 1), float32 on any other."""
    low, _, step = scale or (RATING_MIN, RATING_MAX, RATING_STEP)
    return "float32" if step != 1 or low != round(low) else "int32"


def _parse_ratings(open_file: Callable[[], IO[bytes]], path: Path, scale: Scale | None,
                   **options) -> pd.DataFrame:
    """A ratings file read straight into compact dtypes (int32 ids, int32 or float32 ratings,
    int64 timestamps: ~20 bytes a rating). A value that does not fit them (an empty field,
    ``2.5`` as an id, a word) makes it read the file again without dtypes, so that
    :func:`validate_ratings` names the offending row."""
    options.update(header=None, names=RATING_COLUMNS, quoting=csv.QUOTE_NONE)
    try:
        with open_file() as source:
            return _read_csv(source, path, dtype={**RATING_DTYPES, RATING: _rating_dtype(scale)},
                             **options)
    except DataFormatError:
        with open_file() as source:
            return _read_csv(source, path, **options)


def _check_header(path: Path, expected: tuple[str, ...], encoding: str) -> None:
    """Raise DataFormatError unless the first line of ``path`` is ``expected``, comma-joined."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        found = fh.readline().lstrip("\ufeff").rstrip("\r\n")
    if found.split(",") != list(expected):
        raise DataFormatError(f"{path}: expected the header row {','.join(expected)!r}, found "
                              f"{found[:80]!r}. Is this the right file of the right dataset?")


def _first_bad_row(ratings: pd.DataFrame, bad: np.ndarray) -> str:
    """``row N: user U, item I, rating R`` of the first True in ``bad``."""
    at = int(np.flatnonzero(bad)[0])
    row = ratings.iloc[at]

    def show(column: str) -> str:
        value = row.get(column)
        return f"{value:g}" if isinstance(value, int | float | np.number) else repr(value)

    return f"row {at}: user {show('user_id')}, item {show('item_id')}, rating {show('rating')}"


def validate_ratings(ratings: pd.DataFrame, source: str = "ratings",
                     scale: tuple[float, float, float] | None = None,
                     require_timestamp: bool = True) -> pd.DataFrame:
    """Check a ratings frame and return it with the canonical columns and dtypes.

    The rule: a DataFrame with the columns ``user_id, item_id, rating`` (and
    ``timestamp`` unless ``require_timestamp=False``), at least one row, no missing value,
    integer ids (2.5 is refused, never truncated), ratings on the dataset's scale (between
    its lowest and highest rating, in its steps: whole stars 1..5 by default, half stars
    where the dataset's table says so), and each (user, movie) pair at most once.

    Args:
        ratings: the frame to check.
        source: what to call it in an error message (a file path, "train ratings", ...).
        scale: ``(lowest, highest, step)``; default the 1..5 whole-star scale.
        require_timestamp: refuse a frame without ``timestamp``.

    Returns:
        A new frame ``user_id, item_id, rating[, timestamp]`` with a fresh index.

    Raises:
        DataFormatError: what is wrong, with the first offending row.
    """
    low, high, step = scale or (RATING_MIN, RATING_MAX, RATING_STEP)
    if not isinstance(ratings, pd.DataFrame):
        raise DataFormatError(f"{source} must be a pandas DataFrame with the columns "
                              f"{RATING_COLUMNS[:3]}, not a {type(ratings).__name__}.")
    needed = RATING_COLUMNS if require_timestamp else RATING_COLUMNS[:3]
    missing = [c for c in needed if c not in ratings.columns]
    if missing:
        raise DataFormatError(f"{source} lacks the columns {missing}; it has "
                              f"{list(ratings.columns)}. Expected {needed}.")
    if ratings.empty:
        raise DataFormatError(f"{source} is empty: there are no ratings.")
    columns = [c for c in RATING_COLUMNS if c in ratings.columns]
    frame = ratings[columns].reset_index(drop=True)
    for column in columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(
                frame[column]):
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = (numbers.isna() & frame[column].notna()).to_numpy()
            if bad.any():
                raise DataFormatError(
                    f"{source}: {column} must be numeric; {int(bad.sum())} values are not "
                    f"({_first_bad_row(frame, bad)}). Is the separator right?")
            frame[column] = numbers
    bad = np.logical_or.reduce([frame[c].isna().to_numpy() for c in columns])
    if bad.any():
        raise DataFormatError(f"{source} has empty fields (NaN) in {columns}; first at "
                              f"{_first_bad_row(frame, bad)}.")
    for column in ("user_id", "item_id", "timestamp"):
        if column not in frame:
            continue
        least = -np.inf if column == "timestamp" else 1
        values = frame[column].to_numpy()
        bad = values < least if values.dtype.kind in "iu" else _bad_rows(
            values, lambda v, least=least: (v != np.round(v)) | ~np.isfinite(v) | (v < least))
        if bad.any():
            what = "an integer" if column == "timestamp" else "an integer id >= 1"
            raise DataFormatError(f"{source}: every {column} must be {what}; "
                                  f"{int(bad.sum())} are not (first: {_first_bad_row(frame, bad)}).")
    bad = _bad_rows(frame["rating"].to_numpy(), lambda v: ~np.isfinite(v) | (v < low) | (v > high)
                    | ((v - low) / step != np.round((v - low) / step)))
    if bad.any():
        raise DataFormatError(
            f"{source}: ratings must lie on the scale {low:g}..{high:g} in steps of {step:g}; "
            f"{int(bad.sum())} do not (first: {_first_bad_row(frame, bad)}).")
    # One int64 key per (user, movie) pair, sorted in place: repeats are equal neighbours.
    users, items = frame["user_id"].to_numpy(), frame["item_id"].to_numpy()
    keys = users.astype(np.int64)
    keys *= int(items.max()) + 1
    keys += items if items.dtype.kind in "iu" else items.astype(np.int64)  # ids checked whole
    keys.sort()
    repeats = np.flatnonzero(keys[1:] == keys[:-1])
    if repeats.size:  # name the second rating of the smallest repeated pair
        pair = (users.astype(np.int64) * (int(items.max()) + 1) + items.astype(np.int64)) == keys[repeats[0]]
        pair[np.flatnonzero(pair)[0]] = False
        raise DataFormatError(f"{source} rates the same movie twice for one user "
                              f"({repeats.size} repeats; first: {_first_bad_row(frame, pair)}).")
    del keys, repeats
    dtypes = {**{c: RATING_DTYPES[c] for c in columns}, RATING: _rating_dtype(scale)}
    return frame.astype(dtypes)  # no copy of a column already in its dtype (copy-on-write)


def _bad_rows(values: np.ndarray, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``test`` of ``values`` as float64 a block of rows at a time (no whole-column temporaries)."""
    bad = np.empty(len(values), dtype=bool)
    for start in range(0, len(values), _BLOCK_ROWS):
        bad[start:start + _BLOCK_ROWS] = test(values[start:start + _BLOCK_ROWS].astype(np.float64))
    return bad


def _read_ratings(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Parse a ratings file in the dataset's ``rating_format`` (not yet validated)."""
    whole_file, scale, encoding = partial(open, path, "rb"), spec.rating_scale, spec.encoding
    if spec.rating_format == "tab":
        return _parse_ratings(whole_file, path, scale, sep="\t", encoding=encoding)
    if spec.rating_format == "double_colon":
        return _parse_ratings(partial(_DoubleColonReader, path, 4), path, scale, sep="\t", encoding=encoding)
    if spec.rating_format == "csv":
        _check_header(path, RATINGS_CSV_HEADER, encoding)
        return _parse_ratings(whole_file, path, scale, sep=",", skiprows=1, encoding=encoding)
    raise ValueError(f"{spec.name}: unknown rating_format {spec.rating_format!r}.")


def load_ratings(name: str | None = None, dataset: str = "ml-100k",
                 data_dir: PathLike = None) -> pd.DataFrame:
    """Load one ratings file of a dataset in the table (:mod:`recsae.datasets`).

    Args:
        name: a member holding ratings; default the dataset's full ratings file
            (ML-100K: ``u.data``, or a fold's ``u1.base`` .. ``u5.test``, ``ua.*``,
            ``ub.*``; ML-1M, ML-10M: ``ratings.dat``; the CSV datasets: ``ratings.csv``).
        dataset: a name in :data:`recsae.datasets.DATASETS`.
        data_dir: cache folder (default: see :func:`recsae.download.default_data_dir`).

    Returns:
        DataFrame ``[n_ratings, 4]``: ``user_id, item_id, rating, timestamp``.
    """
    spec = get_spec(dataset)
    name = spec.ratings if name is None else name
    if name not in spec.rating_files:
        raise ValueError(f"{dataset} has no ratings file {name!r}; choose from {spec.rating_files}.")
    path = fetch(dataset, name, data_dir)
    return validate_ratings(_read_ratings(path, spec), source=str(path), scale=spec.rating_scale)


def read_double_colon_ratings(path: str | os.PathLike[str], encoding: str = "latin-1",
                              scale: Scale | None = None) -> pd.DataFrame:
    """Parse and validate a ``user::item::rating::timestamp`` file (ML-1M's, ML-10M's
    ``ratings.dat``) on ``scale`` (default whole stars 1..5; ML-10M: ``(0.5, 5, 0.5)``),
    streamed in blocks straight into compact dtypes; a line without 4 fields is named."""
    path = Path(path)
    frame = _parse_ratings(partial(_DoubleColonReader, path, 4), path, scale, sep="\t", encoding=encoding)
    return validate_ratings(frame, source=str(path), scale=scale)


def load_split(fold: int | str = 1, data_dir: PathLike = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ML-100K train/test pair ``u{fold}.base``/``u{fold}.test`` (fold 1..5, 'a' or 'b');
    :func:`recsae.splits.load_dataset_split` does the same for any dataset."""
    base, test = get_spec("ml-100k").fold_files(fold)
    return (load_ratings(base, data_dir=data_dir), load_ratings(test, data_dir=data_dir))

def load_users(dataset: str = "ml-100k", data_dir: PathLike = None) -> pd.DataFrame:
    """Load the user table.

    Returns:
        ML-100K: ``[943, 5]`` ``user_id, age, gender, occupation, zip_code``.
        ML-1M: ``[6040, 5]`` ``user_id, gender, age_group, occupation_code, zip_code``.
    """
    spec = get_spec(dataset)
    if spec.users is None:
        raise ValueError(f"{dataset} has no user table.")
    path = fetch(dataset, spec.users, data_dir)
    if spec.table_format == "ml-100k":
        users = _read_csv(path, path, sep="|", header=None, encoding="latin-1",
                          names=["user_id", "age", "gender", "occupation", "zip_code"],
                          dtype={"zip_code": str, "occupation": str, "gender": str})
        users = users.astype({"user_id": "int32", "age": "int32"})
    else:
        users = _read_double_colon(path, ["user_id", "gender", "age_group", "occupation_code",
                                          "zip_code"], spec.encoding)
        try:
            users = users.astype({"user_id": "int32", "age_group": "int32", "occupation_code": "int32"})
        except ValueError as exc:
            raise DataFormatError(f"{path}: non-numeric id, age group or occupation: {exc}") from exc
        if not users["occupation_code"].between(0, len(ML1M_OCCUPATIONS) - 1).all():
            raise DataFormatError(f"{path}: occupation codes must be 0..{len(ML1M_OCCUPATIONS) - 1}.")
    if not users["gender"].isin(["M", "F"]).all():
        raise DataFormatError(f"{path}: gender must be 'M' or 'F'.")
    if users["user_id"].duplicated().any():
        raise DataFormatError(f"{path}: duplicate user ids.")
    return users


def load_occupations(data_dir: PathLike = None) -> list[str]:
    """The 21 ML-100K occupation names of ``u.occupation``, in file order."""
    path = fetch("ml-100k", "u.occupation", data_dir)
    return [line.strip() for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def load_movies(dataset: str = "ml-100k", data_dir: PathLike = None) -> pd.DataFrame:
    """Load the movie table.

    Returns:
        ML-100K: ``[1682, 5 + 19]``: ``item_id, title, release_date, imdb_url, genres`` and
        one int8 0/1 column per name in :data:`ML100K_GENRES`.
        ML-1M (``[3883, 3]``), ML-10M and the CSV datasets: ``item_id, title, genres``.
        ``genres`` is the ``|``-joined genre names in all (ML-100K: in flag order; "" for none).
    """
    spec = get_spec(dataset)
    if spec.movies is None:
        raise ValueError(f"{dataset} has no movie table.")
    path = fetch(dataset, spec.movies, data_dir)
    if spec.table_format == "ml-100k":
        names = ["item_id", "title", "release_date", "video_release_date", "imdb_url",
                 *ML100K_GENRES]
        text = path.read_text(encoding="latin-1")
        n_fields = {line.count("|") + 1 for line in text.splitlines() if line}
        if n_fields != {len(names)}:
            raise DataFormatError(f"{path}: expected {len(names)} '|'-separated fields per line, "
                                  f"found {sorted(n_fields)}.")
        movies = pd.read_csv(io.StringIO(text), sep="|", header=None, names=names,
                             dtype={"title": str, "imdb_url": str})
        flags = movies[list(ML100K_GENRES)]
        if not flags.isin([0, 1]).all().all():
            raise DataFormatError(f"{path}: genre flags must be 0 or 1.")
        movies[list(ML100K_GENRES)] = flags.astype("int8")
        movies["release_date"] = pd.to_datetime(movies["release_date"], format="%d-%b-%Y")
        genre_names = np.array(ML100K_GENRES, dtype=object)
        movies["genres"] = ["|".join(genre_names[row.astype(bool)]) for row in flags.to_numpy()]
        movies = movies.drop(columns="video_release_date")  # empty in every row
        movies = movies[["item_id", "title", "release_date", "imdb_url", "genres",
                         *ML100K_GENRES]]
    elif spec.table_format == "csv":
        _check_header(path, MOVIES_CSV_HEADER, spec.encoding)
        # Quoted titles hold commas; keep_default_na=False: a title "NA" stays one.
        movies = _read_csv(path, path, encoding=spec.encoding, dtype=str, keep_default_na=False,
                           header=None, names=["item_id", "title", "genres"], skiprows=1)
        movies["genres"] = movies["genres"].replace(NO_GENRES, "")
    else:
        movies = _read_double_colon(path, ["item_id", "title", "genres"], spec.encoding)
    try:
        movies["item_id"] = movies["item_id"].astype("int32")
    except (ValueError, OverflowError) as exc:
        raise DataFormatError(f"{path}: non-numeric movie id: {exc}") from exc
    if movies["item_id"].duplicated().any():
        raise DataFormatError(f"{path}: duplicate movie ids.")
    return movies.reset_index(drop=True)
