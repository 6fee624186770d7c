"""The dataset table's larger entries (ML-10M, ML-20M, ML-25M, ml-latest-small), read from
small synthetic files of each format in a temporary data_dir: no download, no real data."""

from __future__ import annotations

import dataclasses
import hashlib
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsae import data, datasets, download
from recsae.data import DataFormatError
from recsae.splits import load_dataset_split

NEW = ("ml-latest-small", "ml-10m", "ml-20m", "ml-25m")
HALF_STARS = np.arange(0.5, 5.01, 0.5)


@pytest.fixture
def unpinned(monkeypatch):
    """``unpinned(name)``: the dataset's entry with no pinned hash (members or archive), so
    that synthetic files stand in for the real ones."""
    monkeypatch.setattr(download, "_verified", set())

    def lift(name: str, **changes) -> datasets.DatasetSpec:
        spec = datasets.DATASETS[name]
        changes = {"archive_sha256": None, "archive_md5": None, **changes}
        spec = dataclasses.replace(spec, members=dict.fromkeys(spec.members), **changes)
        monkeypatch.setitem(datasets.DATASETS, name, spec)
        return spec

    return lift


def synthetic_ratings(spec: datasets.DatasetSpec, n_users: int = 30, n_items: int = 25,
                      seed: int = 0) -> pd.DataFrame:
    """About half of the (user, item) pairs, rated on the entry's scale (every step used)."""
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    low, high, step = spec.rating_scale
    levels = np.arange(low, high + step / 2, step)
    rating = levels[np.arange(len(users)) % len(levels)]
    return pd.DataFrame({"user_id": users + 1, "item_id": items * 7 + 1,  # ids with gaps
                         "rating": rating, "timestamp": 1_100_000_000 + np.arange(len(users))})


MOVIES = [(1, 'American President, The (1995)', "Comedy|Drama|Romance"),
          (8, 'Amélie (Fabuleux destin d\'Amélie Poulain, Le) (2001)', "Comedy|Romance"),
          (15, '"Great Performances" Cats (1998)', "Musical"),
          (22, "Nuremberg, Anno 1946 (2000)", data.NO_GENRES)]


def write_dataset(root: Path, spec: datasets.DatasetSpec, ratings: pd.DataFrame) -> Path:
    """Write ``ratings`` and a movie table in the entry's formats into ``root/<name>/``."""
    folder = root / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    rows = ratings.itertuples(index=False)
    if spec.rating_format == "csv":
        text = "userId,movieId,rating,timestamp\n" + "".join(
            f"{u},{i},{float(r)!r},{t}\n" for u, i, r, t in rows)  # 4.0, 3.5 as GroupLens writes
    else:
        sep = "\t" if spec.rating_format == "tab" else "::"
        text = "".join(f"{u}{sep}{i}{sep}{r:g}{sep}{t}\n" for u, i, r, t in rows)
    (folder / spec.ratings).write_text(text, encoding=spec.encoding)
    if spec.table_format == "csv":
        quoted = ['"' + title.replace('"', '""') + '"' if "," in title or '"' in title else title
                  for _, title, _ in MOVIES]
        text = "movieId,title,genres\n" + "".join(
            f"{i},{q},{g}\n" for (i, _, g), q in zip(MOVIES, quoted, strict=True))
    elif spec.table_format == "ml-100k":
        text = "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x|" + "|".join("0" * 18 + "1") + "\n"
                       for i, _, _ in MOVIES)
    else:
        text = "".join(f"{i}::{title}::{g if g != data.NO_GENRES else 'Drama'}\n"
                       for i, title, g in MOVIES)
    (folder / spec.movies).write_text(text, encoding=spec.encoding)
    return folder


def test_each_new_dataset_is_one_entry():
    for name in NEW:
        spec = datasets.get_spec(name)
        assert [s.name for s in datasets.DATASETS.values()].count(name) == 1
        assert spec.url == f"{datasets.GROUPLENS_BASE_URL}/{name}.zip"
        assert spec.rating_scale == (0.5, 5.0, 0.5)
        assert (spec.split, spec.test_fraction, spec.users) == ("random", 0.1, None)
        assert set(spec.members) == {spec.ratings, spec.movies}
        # Members are unpinned; the archive carries a published checksum instead.
        assert all(v is None for v in spec.members.values()) and spec.archive_checksums
        assert all(len(h) == {"sha256": 64, "md5": 32}[a] and int(h, 16) >= 0
                   for a, h in spec.archive_checksums.items())
    assert datasets.ML10M.folder_in_archive == "ml-10M100K"
    assert datasets.ML25M.folder_in_archive == "ml-25m"
    # The existing entries keep their layout: no archive folder, no archive checksum.
    for spec in (datasets.ML100K, datasets.ML1M):
        assert spec.folder_in_archive == spec.name and spec.archive_checksums == {}


@pytest.mark.parametrize("name", list(datasets.DATASETS))
def test_every_dataset_loads_through_the_same_code_path(tmp_path, unpinned, name):
    """Every entry of the table: ratings, movies and its split through the public loaders."""
    spec = unpinned(name)
    ratings = synthetic_ratings(spec)
    write_dataset(tmp_path, spec, ratings)
    loaded = data.load_ratings(dataset=name, data_dir=tmp_path)
    whole = spec.rating_scale[2] == 1
    assert loaded.dtypes.astype(str).tolist() == ["int32", "int32", "int32" if whole else "float32",
                                                  "int64"]
    np.testing.assert_array_equal(loaded.to_numpy(dtype=float), ratings.to_numpy(dtype=float))
    movies = data.load_movies(name, data_dir=tmp_path)
    assert list(movies.columns[:2]) == ["item_id", "title"] and "genres" in movies
    assert movies["item_id"].tolist() == [i for i, _, _ in MOVIES]
    if spec.split == "random":
        train, test = load_dataset_split(name, data_dir=tmp_path, seed=3)
        assert len(test) == round(0.1 * len(ratings)) and len(train) + len(test) == len(ratings)
        both = pd.concat([train, test]).sort_values("timestamp", ignore_index=True)
        pd.testing.assert_frame_equal(both, loaded)


@pytest.mark.parametrize("name", ["ml-10m", "ml-25m"])
def test_half_stars_are_kept_exactly(tmp_path, unpinned, name):
    spec = unpinned(name)
    write_dataset(tmp_path, spec, synthetic_ratings(spec))
    rating = data.load_ratings(dataset=name, data_dir=tmp_path)["rating"]
    assert rating.dtype == np.float32
    assert sorted(set(rating.tolist())) == HALF_STARS.tolist()  # 0.5, 1.0, ..., 5.0, exactly
    assert ((rating.to_numpy() * 2) % 1 == 0).all()


@pytest.mark.parametrize("name", ["ml-10m", "ml-20m"])
@pytest.mark.parametrize("bad", [5.5, 0.0, 3.25])
def test_a_rating_off_the_scale_is_refused_with_its_row(tmp_path, unpinned, name, bad):
    spec = unpinned(name)
    ratings = synthetic_ratings(spec)
    ratings.loc[4, "rating"] = bad
    write_dataset(tmp_path, spec, ratings)
    user, item = ratings.loc[4, ["user_id", "item_id"]]
    with pytest.raises(DataFormatError, match=rf"scale 0\.5\.\.5 in steps of 0\.5; 1 do not "
                                              rf"\(first: row 4: user {user}, item {item}, rating {bad:g}\)"):
        data.load_ratings(dataset=name, data_dir=tmp_path)


def test_the_scale_is_the_entrys(tmp_path, unpinned):
    """The same ``::`` parser: half stars pass on ML-10M's scale and fail on ML-1M's."""
    spec = unpinned("ml-10m")
    folder = write_dataset(tmp_path, spec, synthetic_ratings(spec))
    (tmp_path / "ml-1m").mkdir()
    (folder / "ratings.dat").rename(tmp_path / "ml-1m" / "ratings.dat")
    unpinned("ml-1m")
    with pytest.raises(DataFormatError, match=r"scale 1\.\.5 in steps of 1; .* rating 0\.5\)"):
        data.load_ratings(dataset="ml-1m", data_dir=tmp_path)
    ratings = data.read_double_colon_ratings(tmp_path / "ml-1m" / "ratings.dat", scale=spec.rating_scale)
    assert ratings["rating"].dtype == np.float32 and ratings["rating"].min() == 0.5


@pytest.mark.parametrize("header, message", [
    ("userId,itemId,rating,timestamp", "expected the header row 'userId,movieId,rating,timestamp'"),
    ("1,1,4.0,1100000000", "found '1,1,4.0,1100000000'"),
    ("userId;movieId;rating;timestamp", "expected the header row"),
])
def test_csv_ratings_header_is_checked(tmp_path, unpinned, header, message):
    spec = unpinned("ml-25m")
    folder = write_dataset(tmp_path, spec, synthetic_ratings(spec))
    lines = (folder / "ratings.csv").read_text().splitlines()
    (folder / "ratings.csv").write_text("\n".join([header, *lines[1:]]) + "\n")
    with pytest.raises(DataFormatError, match=message):
        data.load_ratings(dataset="ml-25m", data_dir=tmp_path)


def test_csv_movies_map_onto_the_movies_frame(tmp_path, unpinned):
    spec = unpinned("ml-20m")
    folder = write_dataset(tmp_path, spec, synthetic_ratings(spec))
    movies = data.load_movies("ml-20m", data_dir=tmp_path)
    assert list(movies.columns) == ["item_id", "title", "genres"] and movies["item_id"].dtype == np.int32
    assert movies["title"].tolist() == [title for _, title, _ in MOVIES]  # commas, quotes, UTF-8
    assert movies["genres"].tolist() == ["Comedy|Drama|Romance", "Comedy|Romance", "Musical", ""]
    (folder / "movies.csv").write_text("movieId,name,genres\n1,Toy Story (1995),Comedy\n")
    with pytest.raises(DataFormatError, match="expected the header row 'movieId,title,genres'"):
        data.load_movies("ml-20m", data_dir=tmp_path)
    (folder / "movies.csv").write_text("movieId,title,genres\n1,Toy Story, The (1995),Comedy\n")
    with pytest.raises(DataFormatError, match="could not be parsed"):
        data.load_movies("ml-20m", data_dir=tmp_path)


@pytest.mark.parametrize("line, message", [
    ("3,4,2.5,1,9", "could not be parsed"),  # an extra field
    ("3,4,2.5", "empty fields"),
    ("3,4,good,1", "rating must be numeric"),
    ("3.5,4,2.5,1", "every user_id must be an integer id >= 1"),
    ("1,1,2.5,1", "rates the same movie twice for one user .*first: row 1: user 1, item 1"),
])
def test_malformed_csv_ratings_are_refused(tmp_path, unpinned, line, message):
    unpinned("ml-latest-small")
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text(f"userId,movieId,rating,timestamp\n1,1,4.0,5\n{line}\n")
    with pytest.raises(DataFormatError, match=message):
        data.load_ratings(dataset="ml-latest-small", data_dir=tmp_path)


def test_random_split_is_seeded_and_90_10(tmp_path, unpinned):
    spec = unpinned("ml-10m")
    ratings = synthetic_ratings(spec, n_users=60, n_items=40)
    write_dataset(tmp_path, spec, ratings)
    train, test = load_dataset_split("ml-10m", data_dir=tmp_path, seed=7)
    assert (len(train), len(test)) == (len(ratings) - round(0.1 * len(ratings)), round(0.1 * len(ratings)))
    again = load_dataset_split("ml-10m", data_dir=tmp_path, seed=7)
    pd.testing.assert_frame_equal(again[1], test)
    other = load_dataset_split("ml-10m", data_dir=tmp_path, seed=8)[1]
    assert set(other["timestamp"]) != set(test["timestamp"])
    fold2 = load_dataset_split("ml-10m", fold=2, data_dir=tmp_path, seed=7)[1]
    assert set(fold2["timestamp"]).isdisjoint(test["timestamp"])


def test_double_colon_blocks_split_anywhere(tmp_path):
    """The streamed ``::`` reader: any block size gives the same bytes, and a bad line is
    named by its number in the whole file, whichever block holds it."""
    rng = np.random.default_rng(1)
    lines = [f"{rng.integers(1, 999)}::{rng.integers(1, 99)}::{rng.choice(HALF_STARS):g}::{k}"
             for k in range(200)]
    path = tmp_path / "ratings.dat"
    path.write_bytes(("\n".join(lines)).encode())  # no final newline
    for block_bytes in (1, 2, 3, 7, 64, 1 << 20):
        with data._DoubleColonReader(path, 4, block_bytes=block_bytes) as reader:
            assert reader.read() == path.read_bytes().replace(b"::", b"\t")
    lines[150] = "5::6::7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"line 151: expected 4 '::'-separated fields, found 3"), \
            data._DoubleColonReader(path, 4, block_bytes=50) as reader:
        reader.read()


def test_ratings_take_about_20_bytes_each(tmp_path, unpinned, monkeypatch):
    """Compact dtypes straight from the file; validation's temporaries stay near 13 bytes a
    rating (an int64 key a rating, a few masks), plus a bounded block (made small here)."""
    monkeypatch.setattr(data, "_BLOCK_ROWS", 4096)
    spec = unpinned("ml-25m")
    ratings = synthetic_ratings(spec, n_users=800, n_items=500)  # ~200k ratings
    write_dataset(tmp_path, spec, ratings)
    loaded = data.load_ratings(dataset="ml-25m", data_dir=tmp_path)
    assert loaded.memory_usage(index=False).sum() == 20 * len(loaded)
    tracemalloc.start()
    try:
        data.validate_ratings(loaded, scale=spec.rating_scale)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * len(loaded), f"validate_ratings peaked at {peak / len(loaded):.1f} B/rating"


# --- Archives: the ML-10M folder and the published checksums (download.extract) ------------

def zip_dataset(root: Path, spec: datasets.DatasetSpec) -> Path:
    """``root/<name>.zip`` holding ``<folder_in_archive>/<member>`` of a synthetic dataset."""
    source = write_dataset(root / "src", spec, synthetic_ratings(spec))
    path = root / spec.archive
    with zipfile.ZipFile(path, "w") as zf:
        for member in spec.members:
            zf.write(source / member, f"{spec.folder_in_archive}/{member}")
    return path


def test_ml10m_archive_unpacks_from_its_own_folder_and_is_verified(tmp_path, unpinned):
    spec = unpinned("ml-10m")
    archive_path = zip_dataset(tmp_path, spec)
    md5 = hashlib.md5(archive_path.read_bytes(), usedforsecurity=False).hexdigest()
    unpinned("ml-10m", archive_md5=md5)  # the synthetic archive's own "published" checksum
    ratings = data.load_ratings(dataset="ml-10m", data_dir=tmp_path)
    assert (tmp_path / "ml-10m" / "ratings.dat").is_file() and len(ratings) > 0


@pytest.mark.parametrize("field", ["archive_sha256", "archive_md5"])
def test_an_archive_off_its_published_checksum_is_refused(tmp_path, unpinned, field):
    spec = unpinned("ml-25m")
    archive_path = zip_dataset(tmp_path, spec)
    unpinned("ml-25m", **{field: "0" * (64 if field == "archive_sha256" else 32)})
    with pytest.raises(download.ChecksumError, match="not the published 0000"):
        data.load_ratings(dataset="ml-25m", data_dir=tmp_path)
    assert not archive_path.exists() and not (tmp_path / "ml-25m").exists()
