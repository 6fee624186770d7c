"""Loaders: facts of the real ML-100K / ML-1M files and clear errors on malformed input."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from recsae import data, datasets, download
from recsae.data import DataFormatError


def test_ml100k_ratings():
    ratings = data.load_ratings()
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ratings.dtypes.astype(str).tolist() == ["int32", "int32", "int32", "int64"]
    assert len(ratings) == 100_000
    assert ratings["user_id"].nunique() == 943
    assert ratings["item_id"].nunique() == 1682
    assert set(ratings["rating"].unique()) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_ml100k_folds(fold):
    train, test = data.load_split(fold)
    assert (len(train), len(test)) == (80_000, 20_000)
    # The five test files partition u.data.
    assert not train.merge(test, on=["user_id", "item_id"]).shape[0]


def test_ua_ub_splits():
    for name in ("ua", "ub"):
        train, test = data.load_split(name[-1])
        assert len(test) == 943 * 10 and len(train) == 100_000 - 9430


def test_ml100k_movies_and_users():
    movies = data.load_movies()
    assert movies.shape == (1682, 5 + 19)
    assert movies.loc[0, "title"] == "Toy Story (1995)"
    assert movies.loc[0, "genres"] == "Animation|Children's|Comedy"
    assert movies.loc[1, "genres"] == "Action|Adventure|Thriller"
    assert list(movies.columns[5:]) == list(data.ML100K_GENRES)
    assert len(data.ML100K_GENRES) == 19 and data.ML100K_GENRES[0] == "unknown"
    assert movies["release_date"].dtype.kind == "M"

    users = data.load_users()
    assert users.shape == (943, 5)
    assert users.loc[0].tolist() == [1, 24, "M", "technician", "85711"]
    occupations = data.load_occupations()
    assert len(occupations) == 21 and set(users["occupation"]) <= set(occupations)


def test_ml1m_users_and_movies(shared_data):
    users = data.load_users("ml-1m", data_dir=shared_data)
    assert users.shape == (6040, 5)
    assert list(users.columns) == ["user_id", "gender", "age_group", "occupation_code", "zip_code"]
    assert set(users["age_group"]) == set(data.ML1M_AGE_GROUPS)
    movies = data.load_movies("ml-1m", data_dir=shared_data)
    assert movies.shape == (3883, 3)
    assert movies.loc[1, "title"] == "Jumanji (1995)"
    genres = {g for value in movies["genres"] for g in value.split("|")}
    assert len(genres) == 18


def test_ml1m_ratings_loader_on_synthetic_file(tmp_path):
    path = tmp_path / "ratings.dat"
    path.write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n")
    ratings = data.read_double_colon_ratings(path)
    assert ratings.values.tolist() == [[1, 1193, 5, 978300760], [1, 661, 3, 978302109],
                                       [2, 1357, 5, 978298709]]
    assert ratings.dtypes.astype(str).tolist() == ["int32", "int32", "int32", "int64"]


def test_ml1m_ratings_through_fetch(tmp_path, monkeypatch):
    """ratings.dat has no pinned hash: a cached copy is accepted and format-checked."""
    monkeypatch.setattr(download, "_verified", set())
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("1::1::5::1\n2::3::7::2\n")
    with pytest.raises(DataFormatError, match=r"ratings must lie on the scale 1\.\.5.*user 2, item 3"):
        data.load_ratings("ratings.dat", "ml-1m", data_dir=tmp_path)


@pytest.mark.parametrize("content, message", [
    ("1::2::3\n", "4 '::'-separated fields"),
    ("1::2::3::4::5\n", "4 '::'-separated fields"),
    ("1::2::x::4\n", "rating must be numeric"),
    ("0::2::3::4\n", "every user_id must be an integer id >= 1"),
])
def test_ml1m_ratings_bad_input(tmp_path, content, message):
    path = tmp_path / "ratings.dat"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        data.read_double_colon_ratings(path)


def test_validate_ratings_errors():
    good = pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [4], "timestamp": [0]})
    assert data.validate_ratings(good).shape == (1, 4)
    with pytest.raises(DataFormatError, match=r"lacks the columns \['rating'\]"):
        data.validate_ratings(good.drop(columns="rating"))
    with pytest.raises(DataFormatError, match="empty fields"):
        data.validate_ratings(good.assign(rating=[None]))


def test_bad_names():
    with pytest.raises(ValueError, match="no ratings file 'u9.base'"):
        data.load_ratings("u9.base")
    with pytest.raises(ValueError, match="fold must be"):
        data.load_split(7)
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.load_users("ml-999m")
    with pytest.raises(ValueError, match="ml-10m has no user table"):
        data.load_users("ml-10m")


def test_malformed_ml100k_item_file(tmp_path, monkeypatch):
    """A cached file that passes no hash check is refetched; a bad mirror copy errors."""
    monkeypatch.setattr(download, "_verified", set())
    spec = dataclasses.replace(datasets.ML100K, members={"u.item": None})
    monkeypatch.setitem(datasets.DATASETS, "ml-100k", spec)
    (tmp_path / "ml-100k").mkdir()
    (tmp_path / "ml-100k" / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||url|0|1\n")
    with pytest.raises(DataFormatError, match=r"expected 24 '\|'-separated fields"):
        data.load_movies(data_dir=tmp_path)
