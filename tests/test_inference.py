"""Predictions in user batches from sparse rows (:mod:`recsae.inference`) equal the dense
``training.predict`` (+ ``ranking.rank_top_k``) on data of ML-100K's size."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsae.inference import predict_pairs, top_k
from recsae.model import StackedAutoencoder
from recsae.ranking import NO_ITEM, rank_top_k
from recsae.training import predict

N_USERS, N_ITEMS, N_FEATURES = 943, 1682, 20


@pytest.fixture(scope="module")
def ml100k_sized():
    """943 users x 1682 items (~6% rated, as ML-100K) + 20 feature columns, a model with
    random weights (distinct outputs everywhere), and each user's rated items."""
    rng = np.random.default_rng(0)
    rated = rng.random((N_USERS, N_ITEMS)) < 0.063
    rated[3] = False  # a user with no rating
    rated[7] = True   # a user who rated everything: nothing left to recommend
    ratings = np.where(rated, rng.integers(1, 6, (N_USERS, N_ITEMS)), 0)
    matrix = np.concatenate([ratings, rng.integers(0, 4, (N_USERS, N_FEATURES))], axis=1)
    matrix = matrix.astype(np.float32)
    torch.manual_seed(0)
    model = StackedAutoencoder(matrix.shape[1], (20, 10, 20), "tanh")
    return model, matrix, sp.csr_matrix(matrix)


def test_predict_pairs_equals_the_dense_prediction(ml100k_sized):
    model, matrix, csr = ml100k_sized
    dense = predict(model, matrix)
    rng = np.random.default_rng(1)
    rows = rng.integers(0, N_USERS, 20_000)
    cols = rng.integers(0, matrix.shape[1], 20_000)
    got = predict_pairs(model, csr, rows, cols, batch_size=100)
    assert got.dtype == np.float32 and got.shape == rows.shape
    np.testing.assert_allclose(got, dense[rows, cols], rtol=1e-5, atol=1e-5)
    # Dense rows, a torch tensor and other batch sizes: the same numbers, bit for bit.
    np.testing.assert_array_equal(predict_pairs(model, matrix, rows, cols, batch_size=100), got)
    np.testing.assert_array_equal(
        predict_pairs(model, torch.from_numpy(matrix), rows, cols, batch_size=100), got)
    assert predict_pairs(model, csr, rows[:0], cols[:0]).shape == (0,)


def _same_up_to_near_ties(got: np.ndarray, want: np.ndarray, scores: np.ndarray) -> None:
    """Top-k lists equal, except that two items whose dense scores agree to float rounding
    may swap (the two computations sum in different orders)."""
    differ = np.flatnonzero((got != want).any(axis=1))
    assert differ.size <= 0.01 * got.shape[0]
    for u in differ:
        np.testing.assert_allclose(np.sort(scores[u, got[u]]), np.sort(scores[u, want[u]]),
                                   rtol=1e-5, atol=1e-5)


def test_top_k_equals_rank_top_k_of_the_dense_prediction(ml100k_sized):
    model, matrix, csr = ml100k_sized
    scores = predict(model, matrix)[:, :N_ITEMS]
    seen = matrix[:, :N_ITEMS] != 0
    want = rank_top_k(scores, seen, 10)
    got = top_k(model, csr, N_ITEMS, 10, exclude=csr, batch_size=128)
    assert got.shape == (N_USERS, 10) and got.dtype == np.int64
    _same_up_to_near_ties(got, want, scores)
    assert (got[7] == NO_ITEM).all()  # everything seen
    assert not seen[np.arange(N_USERS)[:, None], np.maximum(got, 0)][got != NO_ITEM].any()
    # A dense boolean exclusion, dense inputs: the same lists.
    np.testing.assert_array_equal(top_k(model, matrix, N_ITEMS, 10, exclude=seen,
                                        batch_size=128), got)
    # Nothing excluded: the best outputs overall.
    free = top_k(model, csr, N_ITEMS, 5, batch_size=500)
    _same_up_to_near_ties(free, rank_top_k(scores, np.zeros_like(seen), 5), scores)


def test_prediction_arguments_are_checked(ml100k_sized):
    model, _, csr = ml100k_sized
    with pytest.raises(ValueError, match="batch_size"):
        predict_pairs(model, csr, [0], [0], batch_size=0)
    with pytest.raises(ValueError, match="rows must index"):
        predict_pairs(model, csr, [N_USERS], [0])
    with pytest.raises(ValueError, match="cols must be output columns"):
        predict_pairs(model, csr, [0], [csr.shape[1]])
    with pytest.raises(ValueError, match="one length"):
        predict_pairs(model, csr, [0, 1], [0])
    with pytest.raises(ValueError, match="exclude"):
        top_k(model, csr, N_ITEMS, 10, exclude=csr[:5])
    with pytest.raises(ValueError, match="k must be"):
        top_k(model, csr, N_ITEMS, N_ITEMS + 1)
