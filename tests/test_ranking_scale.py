"""The bounded-memory ranking path equals the dense one: argpartition top-k, batches, CSR masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsae import ranking
from recsae.ranking import (
    NO_ITEM,
    rank_top_k,
    rank_top_k_batched,
    ranking_masks,
    ranking_metrics,
    ranking_metrics_per_user,
    sparse_ranking_masks,
    sparse_ranking_metrics_per_user,
)


def lexsort_top_k(scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """The former rank_top_k (a full stable lexsort), the reference the new one must equal."""
    order = np.lexsort((-scores.astype(np.float64), exclude), axis=1)[:, :k]
    n_rankable = (~exclude).sum(axis=1, keepdims=True)
    return np.where(np.arange(k)[None, :] < n_rankable, order, NO_ITEM).astype(np.int64)


def test_seeded_loop_with_ties_infinities_and_short_rows(monkeypatch):
    rng = np.random.default_rng(0)
    monkeypatch.setattr(ranking, "RANK_BLOCK", 40)  # several row blocks per call
    for trial in range(300):
        n_users, n_items = rng.integers(1, 9), rng.integers(1, 15)
        # Few distinct values: many ties; +-inf and -0.0 among them.
        values = np.array([-np.inf, np.inf, -0.0, 0.0, 1.0, 2.5, -3.0])
        scores = rng.choice(values[: rng.integers(2, 8)], (n_users, n_items))
        if trial % 3 == 0:
            scores = scores.astype(np.float32)
        exclude = rng.random((n_users, n_items)) < rng.choice([0.0, 0.3, 0.9, 1.0])
        k = int(rng.integers(1, n_items + 1))
        np.testing.assert_array_equal(rank_top_k(scores, exclude, k),
                                      lexsort_top_k(scores, exclude, k), err_msg=f"trial {trial}")


def test_equals_the_lexsort_for_continuous_scores():
    rng = np.random.default_rng(3)
    for trial in range(100):
        scores = rng.normal(size=(rng.integers(1, 30), rng.integers(1, 60)))
        exclude = rng.random(scores.shape) < 0.5
        k = int(rng.integers(1, scores.shape[1] + 1))
        np.testing.assert_array_equal(rank_top_k(scores, exclude, k),
                                      lexsort_top_k(scores, exclude, k), err_msg=f"trial {trial}")


def test_excluded_items_rank_below_a_genuine_minus_infinity():
    scores = np.array([[-np.inf, 5.0, 1.0]])
    assert rank_top_k(scores, np.array([[False, True, False]]), 3).tolist() == [[2, 0, -1]]


def test_batched_ranking_equals_the_whole_matrix():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, (37, 23)).astype(np.float64)
    exclude = rng.random((37, 23)) < 0.4
    top = rank_top_k_batched(lambda rows: scores[rows], sparse.csr_matrix(exclude), 5,
                             batch_rows=8)
    np.testing.assert_array_equal(top, rank_top_k(scores, exclude, 5))


def test_sparse_masks_and_metrics_equal_the_dense_ones():
    rng = np.random.default_rng(2)
    pairs = [(u, i) for u in range(1, 31) for i in range(1, 41) if rng.random() < 0.3]
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    frame["rating"] = rng.integers(1, 6, len(frame))
    train = frame.sample(frac=0.8, random_state=0)
    test = frame.drop(train.index)
    users, items = np.arange(1, 32), np.arange(1, 38)  # user 31 has nothing; items 38.. dropped
    dense = ranking_masks(train, test, users, items, on_unknown="drop")
    sparse_masks = sparse_ranking_masks(train, test, users, items, on_unknown="drop")
    for d, s in zip(dense, sparse_masks, strict=True):
        np.testing.assert_array_equal(s.toarray(), d)
    top = rank_top_k(rng.random((31, 37)), dense[0], 10)
    pd.testing.assert_frame_equal(sparse_ranking_metrics_per_user(top, sparse_masks[1]),
                                  ranking_metrics_per_user(top, dense[1]))
    assert ranking_metrics(top, sparse_masks[1]) == ranking_metrics(top, dense[1])
    with pytest.raises(ValueError, match="outside"):
        sparse_ranking_metrics_per_user(np.full((31, 2), 37), sparse_masks[1])


def test_pair_metrics_equal_the_dense_honest_metrics():
    from recsae.metrics import honest_metrics, pair_metrics

    rng = np.random.default_rng(5)
    pred = rng.normal(3.5, 1.5, (40, 30))
    target = np.where(rng.random((40, 30)) < 0.2, rng.integers(1, 6, (40, 30)), 0).astype(float)
    target[3] = 0  # a user without test ratings
    mask = target != 0
    rows, cols = np.nonzero(mask)
    dense = honest_metrics(pred, target, mask)
    pairs = pair_metrics(pred[rows, cols], target[rows, cols], rows)
    assert pairs.keys() == dense.keys()
    for key in dense:
        assert pairs[key] == pytest.approx(dense[key], rel=1e-12), key


def test_evaluate_split_equals_the_dense_ranking(monkeypatch):
    """The batched evaluation gives what the dense masks and one rank_top_k gave."""
    from recsae import crossval
    from recsae.baselines import BiasModel
    from recsae.protocol import candidate_items

    rng = np.random.default_rng(6)
    pairs = [(u, i) for u in range(1, 61) for i in range(1, 81) if rng.random() < 0.25]
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    frame["rating"] = rng.integers(1, 6, len(frame))
    train, test = frame.iloc[::4].copy(), frame.drop(frame.index[::4])
    train, test = test, train
    model = BiasModel().fit(train)
    monkeypatch.setattr(crossval, "RANK_BATCH", 300)  # several user batches
    result = crossval.evaluate_split(model, train, test, k=5)
    users = np.union1d(train["user_id"], test["user_id"])
    items = np.unique(train["item_id"])
    items = items[candidate_items(train, items)]
    seen, relevant = ranking_masks(train, test, users, items, 4.0, on_unknown="drop")
    scores = crossval.score_in_blocks(model, users, items)
    expected = ranking_metrics(rank_top_k(scores, seen, 5), relevant)
    expected["n_rank_users"] = expected.pop("n_users")
    assert {key: result[key] for key in expected} == expected
