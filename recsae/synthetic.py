"""Seeded synthetic data of MovieLens shapes: ML-1M, ML-10M, ML-20M and ML-25M sizes.

What the scale benchmark (``bench/run.py --scale``) and the smoke tests run on: the real
large archives are not shipped, and the pipeline's cost depends on the *shape* of the data
(users, movies, ratings, how skewed), not on who rated what. :func:`generate` draws

* per-user rating counts: heavy-tailed (log-normal), every user at least
  :data:`MIN_PER_USER` ratings (MovieLens' own rule), at most half the movies;
* movies per user without repeats, from a Zipf-like popularity (``1 / rank``) mixed with a
  uniform share, so a few movies are rated by most users and many by a handful;
* ratings on the dataset's scale (:data:`recsae.datasets.DATASETS`: whole stars for ML-1M,
  half stars from ML-10M on) from user and movie biases plus a rank-4 taste term and
  noise, so models have something to learn;
* timestamps (Unix seconds), genres per movie (``|``-joined, ML-1M's 18 names) and, where
  the real dataset has a user table (ML-1M), users with gender, age group and occupation;

all from one seed, in compact dtypes (int32 ids, int32/float32 ratings, int64 timestamps:
about 20 bytes a rating, the loaders' own dtypes). :func:`write_dataset` writes the frames
in the real files' formats, so the loaders of :mod:`recsae.data` can parse them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsae.datasets import get_spec

MIN_PER_USER = 20  # MovieLens keeps users with at least 20 ratings
GENRES = ("Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")  # ML-1M's 18 genre names
AGE_GROUPS = (1, 18, 25, 35, 45, 50, 56)  # ML-1M's age buckets
_UNIFORM_SHARE = 0.1  # of the movie popularity: keeps every movie reachable
_CHUNK = 1 << 21  # ratings drawn per block (bounded temporaries)
_ROUNDS = 20  # rounds of popularity draws before the last few users are filled uniformly


@dataclass(frozen=True)
class Shape:
    """A dataset's size: users, movies and ratings, and the table entry it imitates."""

    dataset: str
    n_users: int
    n_items: int
    n_ratings: int

    def scaled(self, factor: float) -> Shape:
        """A smaller (or larger) dataset: ``factor`` times the users and ratings (the same
        ratings per user), ``sqrt(factor)`` times the movies (the density grows as it shrinks)."""
        n_users = max(2, round(self.n_users * factor))
        n_items = max(4 * MIN_PER_USER, round(self.n_items * factor**0.5))
        n_ratings = max(MIN_PER_USER * n_users, round(self.n_ratings * factor))
        return Shape(self.dataset, n_users, n_items, n_ratings)


# The real datasets' sizes (GroupLens' README files).
SHAPES: dict[str, Shape] = {s.dataset: s for s in (
    Shape("ml-1m", 6_040, 3_706, 1_000_209),
    Shape("ml-10m", 69_878, 10_677, 10_000_054),
    Shape("ml-20m", 138_493, 26_744, 20_000_263),
    Shape("ml-25m", 162_541, 59_047, 25_000_095),
)}


@dataclass(frozen=True, eq=False)
class SyntheticData:
    """What :func:`generate` returns: frames laid out as :mod:`recsae.data` loads them.

    ``ratings``: ``user_id, item_id, rating, timestamp`` sorted by user then movie;
    ``movies``: ``item_id, title, genres``; ``users``: ``user_id, gender, age_group,
    occupation_code, zip_code`` (None where the real dataset has no user table).
    """

    shape: Shape
    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None


def get_shape(shape: str | Shape) -> Shape:
    """A :class:`Shape`, or the one named (``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``, ``"ml-25m"``)."""
    if isinstance(shape, Shape):
        return shape
    try:
        return SHAPES[shape]
    except KeyError:
        raise ValueError(f"Unknown shape {shape!r}; choose one of {sorted(SHAPES)}.") from None


def _user_counts(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """``[n_users]`` int64 counts, each in ``MIN_PER_USER..n_items // 2``, summing to n_ratings."""
    cap = shape.n_items // 2
    if not MIN_PER_USER * shape.n_users <= shape.n_ratings <= cap * shape.n_users:
        raise ValueError(f"{shape}: cannot give every user {MIN_PER_USER}..{cap} ratings.")
    weights = rng.lognormal(0.0, 1.2, shape.n_users)
    counts = MIN_PER_USER + rng.multinomial(shape.n_ratings - MIN_PER_USER * shape.n_users,
                                            weights / weights.sum())
    while (excess := int(np.maximum(counts - cap, 0).sum())) > 0:  # move the overflow on
        counts = np.minimum(counts, cap)
        room = cap - counts
        counts += rng.multinomial(excess, room / room.sum())
    return counts.astype(np.int64)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy's hash-based unique is slower on these int64 keys)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys


def _draw_items(counts: np.ndarray, popularity: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``counts[u]`` distinct movie positions, drawn by ``popularity``.

    Draw what is missing, with replacement; drop repeats; draw again for the users still
    short (each round touches only them). The few users
    still short after :data:`_ROUNDS` rounds get uniform picks among their unrated movies.
    Returns ``(user positions, movie positions)``, sorted by user then movie.
    """
    n_items = popularity.size
    cumulative = np.cumsum(popularity)
    cumulative /= cumulative[-1]
    done: list[np.ndarray] = []
    active = np.zeros(0, dtype=np.int64)  # the keys user * n_items + movie of unfinished users
    missing = counts.copy()
    complete = np.zeros(counts.size, dtype=bool)
    for _ in range(_ROUNDS):
        short = np.flatnonzero(missing)
        if not short.size:
            break
        users = np.repeat(short, missing[short])
        items = np.minimum(np.searchsorted(cumulative, rng.random(users.size), side="right"),
                           n_items - 1)
        active = _sorted_unique(np.concatenate([active, users * n_items + items]))
        owner = active // n_items
        missing = np.where(complete, 0, counts - np.bincount(owner, minlength=counts.size))
        complete |= missing == 0
        finished = complete[owner]
        done.append(active[finished])
        active = active[~finished]
    bounds = np.searchsorted(active, np.arange(counts.size + 1) * n_items)
    for user in np.flatnonzero(missing):  # the last few: uniform among unrated movies
        own = active[bounds[user]:bounds[user + 1]]
        extra = rng.choice(np.setdiff1d(np.arange(n_items), own % n_items), missing[user],
                           replace=False)
        done.append(np.concatenate([own, user * n_items + extra]))
    keys = np.sort(np.concatenate(done))
    return keys // n_items, keys % n_items


def _ratings(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
             scale: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """One rating per pair on ``scale``: biases + a rank-4 taste term + noise, rounded."""
    low, high, step = scale
    user_bias = rng.normal(0.0, 0.45, n_users).astype(np.float32)
    item_bias = rng.normal(0.0, 0.5, n_items).astype(np.float32)
    user_taste = rng.normal(0.0, 0.45, (n_users, 4)).astype(np.float32)
    item_taste = rng.normal(0.0, 0.45, (n_items, 4)).astype(np.float32)
    out = np.empty(users.size, dtype=np.float32)
    for start in range(0, users.size, _CHUNK):
        u, i = users[start:start + _CHUNK], items[start:start + _CHUNK]
        value = (3.55 + user_bias[u] + item_bias[i]
                 + np.einsum("nk,nk->n", user_taste[u], item_taste[i])
                 + rng.normal(0.0, 0.6, u.size).astype(np.float32))
        out[start:start + _CHUNK] = np.clip(low + np.round((value - low) / step) * step, low, high)
    return out


def generate(shape: str | Shape = "ml-1m", seed: int = 0) -> SyntheticData:
    """Seeded synthetic ratings, movies and (where the dataset has them) users of ``shape``.

    Args:
        shape: a name in :data:`SHAPES` or a :class:`Shape` (e.g. ``SHAPES["ml-1m"].scaled(0.1)``).
        seed: the one seed everything is drawn from; the same seed gives the same frames.

    Returns:
        :class:`SyntheticData`. Movie ids have gaps (as in the real files: 1..~2 x n_items);
        user ids are ``1..n_users``.
    """
    shape = get_shape(shape)
    spec = get_spec(shape.dataset)
    rng = np.random.default_rng(seed)
    n_users, n_items = shape.n_users, shape.n_items
    item_ids = np.sort(rng.choice(np.arange(1, 2 * n_items + 1), n_items, replace=False))
    rank = rng.permutation(n_items)  # popularity rank of each movie
    zipf = 1.0 / (rank + 1.0)
    popularity = (1 - _UNIFORM_SHARE) * zipf / zipf.sum() + _UNIFORM_SHARE / n_items
    users, items = _draw_items(_user_counts(shape, rng), popularity, rng)
    rating = _ratings(users, items, n_users, n_items, spec.rating_scale, rng)
    start = rng.integers(956_700_000, 1_500_000_000, n_users)  # ML-1M's first: 956703932
    span = rng.integers(3_600, 200_000_000, n_users)
    timestamp = start[users] + (rng.random(users.size) * span[users]).astype(np.int64)
    whole = spec.rating_scale[2] == 1
    ratings = pd.DataFrame({
        "user_id": (users + 1).astype(np.int32), "item_id": item_ids[items].astype(np.int32),
        "rating": rating.astype(np.int32) if whole else rating,
        "timestamp": timestamp.astype(np.int64)})
    del users, items, rating, timestamp
    n_genres = rng.integers(1, 4, n_items)
    genre_sets = [rng.choice(len(GENRES), k, replace=False) for k in n_genres]
    movies = pd.DataFrame({
        "item_id": item_ids.astype(np.int32),
        "title": [f"Movie {i} ({y})" for i, y in zip(item_ids, rng.integers(1919, 2020, n_items),
                                                     strict=True)],
        "genres": ["|".join(GENRES[g] for g in sorted(s)) for s in genre_sets]})
    users_frame = None
    if spec.users is not None:
        users_frame = pd.DataFrame({
            "user_id": np.arange(1, n_users + 1, dtype=np.int32),
            "gender": np.where(rng.random(n_users) < 0.28, "F", "M"),
            "age_group": rng.choice(AGE_GROUPS, n_users).astype(np.int32),
            "occupation_code": rng.integers(0, 21, n_users).astype(np.int32),
            "zip_code": [f"{z:05d}" for z in rng.integers(0, 100_000, n_users)]})
    return SyntheticData(shape, ratings, movies, users_frame)


def _rating_text(ratings: pd.DataFrame) -> pd.Series:
    values = ratings["rating"]
    return values.astype(str) if values.dtype.kind in "iu" else values.map("{:.1f}".format)


def write_dataset(synthetic: SyntheticData, data_dir: str | os.PathLike[str]) -> Path:
    """Write the frames as the real dataset's files into ``data_dir/<dataset>/``.

    ``::``-separated ``ratings.dat``/``movies.dat``/``users.dat`` (ML-1M, ML-10M) or
    ``ratings.csv``/``movies.csv`` with their header rows (ML-20M, ML-25M), in the dataset's
    encoding, so that ``recsae.data.load_ratings(dataset=..., data_dir=data_dir)`` parses
    them. They are unverified files placed by hand, as far as :mod:`recsae.download` knows.

    Returns:
        The folder written.
    """
    spec = get_spec(synthetic.shape.dataset)
    folder = Path(data_dir) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    ratings, movies = synthetic.ratings, synthetic.movies
    if spec.rating_format == "csv":
        with open(folder / spec.ratings, "w", encoding=spec.encoding, newline="\n") as out:
            out.write("userId,movieId,rating,timestamp\n")
            for start in range(0, len(ratings), _CHUNK):
                block = ratings.iloc[start:start + _CHUNK]
                frame = block.assign(rating=block["rating"].astype(np.float32).map("{:.1f}".format))
                frame.to_csv(out, header=False, index=False)
        genres = movies["genres"].replace("", "(no genres listed)")
        movies.assign(genres=genres).rename(columns={"item_id": "movieId"}).to_csv(
            folder / str(spec.movies), index=False, encoding=spec.encoding)
        return folder
    with open(folder / spec.ratings, "w", encoding=spec.encoding, newline="\n") as out:
        for start in range(0, len(ratings), _CHUNK):
            block = ratings.iloc[start:start + _CHUNK]
            lines = (block["user_id"].astype(str) + "::" + block["item_id"].astype(str) + "::"
                     + _rating_text(block) + "::" + block["timestamp"].astype(str))
            out.write("\n".join(lines) + "\n")
    tables = [(str(spec.movies), movies)]
    if spec.users is not None and synthetic.users is not None:
        tables.append((spec.users, synthetic.users))
    for name, frame in tables:
        text = "\n".join("::".join(str(v) for v in row) for row in frame.itertuples(index=False))
        (folder / name).write_text(text + "\n", encoding=spec.encoding)
    return folder
