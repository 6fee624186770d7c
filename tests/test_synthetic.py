"""Synthetic MovieLens-shaped data, the real files' formats, and the sparse user matrices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsae import data, datasets, synthetic, user_matrix
from recsae.features import FeatureTables, genre_table_from_strings

SMALL = synthetic.SHAPES["ml-1m"].scaled(0.05)  # 302 users, 829 movies, 50,010 ratings


@pytest.fixture(scope="module")
def small() -> synthetic.SyntheticData:
    return synthetic.generate(SMALL, seed=3)


def test_the_shapes_are_the_real_datasets_sizes():
    assert synthetic.SHAPES["ml-25m"] == synthetic.Shape("ml-25m", 162_541, 59_047, 25_000_095)
    assert set(synthetic.SHAPES) <= set(datasets.DATASETS)
    with pytest.raises(ValueError, match="Unknown shape"):
        synthetic.get_shape("ml-7m")


def test_generated_frames_have_the_shape_the_dtypes_and_the_rules(small):
    ratings = small.ratings
    assert len(ratings) == SMALL.n_ratings
    assert ratings["user_id"].nunique() == SMALL.n_users
    assert ratings["item_id"].nunique() <= SMALL.n_items
    assert ratings.groupby("user_id").size().min() >= synthetic.MIN_PER_USER
    assert dict(ratings.dtypes.astype(str)) == {"user_id": "int32", "item_id": "int32",
                                                "rating": "int32", "timestamp": "int64"}
    pd.testing.assert_frame_equal(data.validate_ratings(ratings), ratings)  # no repeats, on scale
    counts = ratings["item_id"].value_counts()
    assert counts.iloc[0] > 5 * counts.median()  # a Zipf-like head
    assert set(small.movies["item_id"]) >= set(ratings["item_id"])
    assert small.users is not None and len(small.users) == SMALL.n_users


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(small):
    pd.testing.assert_frame_equal(synthetic.generate(SMALL, seed=3).ratings, small.ratings)
    assert not synthetic.generate(SMALL, seed=4).ratings.equals(small.ratings)


def test_half_star_datasets_get_half_stars_and_no_user_table():
    shape = synthetic.SHAPES["ml-10m"].scaled(0.004)
    made = synthetic.generate(shape)
    assert made.ratings["rating"].dtype == np.float32
    assert set(np.unique(made.ratings["rating"])) <= set(np.arange(0.5, 5.01, 0.5))
    assert (made.ratings["rating"] % 1 == 0.5).any()
    assert made.users is None


@pytest.mark.parametrize("dataset", ["ml-1m", "ml-10m", "ml-25m"])
def test_written_files_parse_back_with_the_packages_loaders(tmp_path, dataset):
    made = synthetic.generate(synthetic.SHAPES[dataset].scaled(0.002 if dataset != "ml-1m" else 0.01))
    synthetic.write_dataset(made, tmp_path)
    loaded = data.load_ratings(dataset=dataset, data_dir=tmp_path)
    pd.testing.assert_frame_equal(loaded, made.ratings)
    if dataset != "ml-1m":  # ML-1M's movies.dat and users.dat are pinned to the real files
        movies = data.load_movies(dataset, tmp_path)
        pd.testing.assert_frame_equal(movies[["item_id", "genres"]],
                                      made.movies[["item_id", "genres"]])


def test_ml1m_ratings_dat_path_reads_a_synthetic_file(tmp_path):
    made = synthetic.generate(synthetic.SHAPES["ml-1m"].scaled(0.01))
    folder = synthetic.write_dataset(made, tmp_path)
    frame = data.read_double_colon_ratings(folder / "ratings.dat")
    pd.testing.assert_frame_equal(frame, made.ratings)


def _tables(made: synthetic.SyntheticData) -> FeatureTables:
    return FeatureTables("corrected", genre_table_from_strings(made.movies),
                         pd.DataFrame({"user_id": np.arange(1, made.shape.n_users + 1)}),
                         movie_ids=made.movies["item_id"].to_numpy())


def test_sparse_matrices_equal_the_dense_ones_on_synthetic_data(small):
    train, test = small.ratings.iloc[::5], small.ratings.drop(small.ratings.index[::5])
    tables = _tables(small)
    for features in ("ratings", "ratings+genres"):
        dense = user_matrix.build_from_tables(train, test, tables, features)
        sparse = user_matrix.build_sparse_from_tables(train, test, tables, features)
        assert sparse.columns == dense.columns
        np.testing.assert_array_equal(sparse.train.toarray(), dense.train)
        np.testing.assert_array_equal(sparse.test.toarray(), dense.test)
        assert sparse.train.dtype == np.float32


@pytest.mark.parametrize("recipe", ["as_published", "corrected"])
def test_sparse_matrices_equal_the_dense_ones_on_ml100k_u1(recipe):
    train, test = data.load_split(1)
    dense = user_matrix.build_user_matrices(train, test, recipe)
    sparse = user_matrix.build_sparse_user_matrices(train, test, recipe)
    assert sparse.columns == dense.columns
    np.testing.assert_array_equal(sparse.train.toarray(), dense.train)
    np.testing.assert_array_equal(sparse.test.toarray(), dense.test)
    assert not (sparse.train.data == 0).any() and sparse.train.has_sorted_indices
