"""Random splits and the dataset-agnostic loader, on hand-made and synthetic ML-1M data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsae import datasets, download
from recsae.splits import holdout_per_user, load_dataset_split, random_split, validation_split


def write_synthetic_ml1m(root: Path, n_users: int = 60, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Write ``root/ml-1m/{ratings,users,movies}.dat`` in ML-1M's format; return the ratings.

    Ratings are user and item biases plus a rank-2 pattern, rounded to 1..5, about half of
    the pairs observed.
    """
    rng = np.random.default_rng(seed)
    truth = (3 + 0.6 * rng.normal(size=(n_users, 1)) + 0.6 * rng.normal(size=(1, n_items))
             + np.tanh(rng.normal(size=(n_users, 2)) @ rng.normal(size=(2, n_items))))
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    ratings = pd.DataFrame({"user_id": users + 1, "item_id": items + 1,
                            "rating": np.clip(np.rint(truth[users, items]), 1, 5).astype(int),
                            "timestamp": 978300000 + np.arange(len(users))})
    folder = root / "ml-1m"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["::".join(map(str, row)) for row in ratings.itertuples(index=False)]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="latin-1")
    (folder / "users.dat").write_text(
        "".join(f"{u}::{'MF'[u % 2]}::25::{u % 21}::0211{u % 10}\n" for u in range(1, n_users + 1)),
        encoding="latin-1")
    (folder / "movies.dat").write_text(
        "".join(f"{i}::Movie {i} (1999)::Drama|Comedy\n" for i in range(1, n_items + 1)),
        encoding="latin-1")
    return ratings


@pytest.fixture
def synthetic_ml1m(tmp_path, monkeypatch) -> tuple[Path, pd.DataFrame]:
    """A data_dir holding a synthetic ML-1M; the pinned hashes are lifted for it."""
    monkeypatch.setattr(download, "_verified", set())
    spec = dataclasses.replace(datasets.ML1M, members=dict.fromkeys(datasets.ML1M.members))
    monkeypatch.setitem(datasets.DATASETS, "ml-1m", spec)
    return tmp_path, write_synthetic_ml1m(tmp_path)


def test_random_split_partitions_the_ratings():
    ratings = pd.DataFrame({"user_id": np.arange(1, 21), "item_id": 7, "rating": 3})
    train, test = random_split(ratings, test_fraction=0.25, seed=3)
    assert (len(train), len(test)) == (15, 5)
    # Each rating in exactly one part; both keep the original order and a fresh index.
    assert sorted([*train["user_id"], *test["user_id"]]) == list(range(1, 21))
    assert train["user_id"].is_monotonic_increasing and test["user_id"].is_monotonic_increasing
    assert list(test.index) == list(range(5))
    again, _ = random_split(ratings, test_fraction=0.25, seed=3)
    pd.testing.assert_frame_equal(train, again)
    other, _ = random_split(ratings, test_fraction=0.25, seed=4)
    assert not train.equals(other)


def test_random_split_folds_are_disjoint_and_fold_one_matches_validation_split():
    ratings = pd.DataFrame({"user_id": np.arange(1, 101), "item_id": 1, "rating": 4})
    tests = [set(random_split(ratings, 0.1, seed=0, fold=k)[1]["user_id"]) for k in range(1, 11)]
    assert all(len(t) == 10 for t in tests)
    assert set().union(*tests) == set(range(1, 101))  # 10 disjoint blocks cover everything
    for part, expected in zip(random_split(ratings, 0.1, seed=0), validation_split(ratings, 0.1, 0),
                              strict=True):
        pd.testing.assert_frame_equal(part, expected)
    with pytest.raises(ValueError, match="fold"):
        random_split(ratings, 0.1, fold=11)
    # 1 / test_fraction folds whatever the count: 5 disjoint blocks of 0.2 cover 101 or
    # 10,000,054 ratings alike (the ML-10M shape's 5-fold CV once failed at fold 5).
    for n in (101, 103, 104, 99):
        frame = pd.DataFrame({"user_id": np.arange(n), "item_id": 1, "rating": 4})
        parts = [random_split(frame, 0.2, seed=1, fold=k)[1]["user_id"] for k in range(1, 6)]
        assert sorted(np.concatenate(parts)) == list(range(n))
        assert all(abs(len(p) - 0.2 * n) <= 1 for p in parts)
    for fraction, n_folds in ((0.3, 3), (0.1, 10), (1 / 3, 3), (0.25, 4)):
        random_split(ratings, fraction, fold=n_folds)
        with pytest.raises(ValueError, match="fold"):
            random_split(ratings, fraction, fold=n_folds + 1)
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(ratings, 1.0)
    with pytest.raises(ValueError, match="empty"):
        random_split(ratings.iloc[:3], 0.1)


def test_load_dataset_split_reads_a_synthetic_ml1m(synthetic_ml1m):
    data_dir, ratings = synthetic_ml1m
    train, test = load_dataset_split("ml-1m", data_dir=data_dir, seed=0)
    assert len(test) == round(0.1 * len(ratings)) and len(train) + len(test) == len(ratings)
    assert list(train.columns) == ["user_id", "item_id", "rating", "timestamp"]
    both = pd.concat([train, test]).sort_values("timestamp").reset_index(drop=True)
    np.testing.assert_array_equal(both["rating"], ratings["rating"])
    np.testing.assert_array_equal(both["item_id"], ratings["item_id"])
    _, fold2 = load_dataset_split("ml-1m", fold=2, data_dir=data_dir, seed=0)
    assert set(fold2["timestamp"]).isdisjoint(test["timestamp"])
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset_split("ml-999m")


def test_load_dataset_split_ml100k_is_the_shipped_fold(shared_data):
    train, test = load_dataset_split("ml-100k", fold=1)
    assert (len(train), len(test)) == (80_000, 20_000)


def test_holdout_per_user_moves_a_seeded_fraction():
    rng = np.random.default_rng(0)
    train = np.where(rng.random((40, 30)) < 0.5, rng.integers(1, 6, (40, 30)), 0).astype(np.float32)
    train[:, 0] = 4.0  # every user rates something
    fit_input, val = holdout_per_user(train, 30, 0.2, seed=3)
    rated, held = train != 0, val != 0
    assert not (held & (fit_input != 0)).any()  # moved, not copied
    np.testing.assert_array_equal(fit_input + val, train)
    counts = rated.sum(axis=1)
    np.testing.assert_array_equal(held.sum(axis=1),
                                  np.minimum(np.round(0.2 * counts), counts - 1))
    assert (fit_input != 0).any(axis=1).all()  # everyone keeps a rating
    again, _ = holdout_per_user(train, 30, 0.2, seed=3)
    np.testing.assert_array_equal(again, fit_input)


