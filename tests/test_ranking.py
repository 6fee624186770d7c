"""Ranking metrics against tiny hand-computed arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsae.ranking import (
    NO_ITEM,
    evaluate_ranking,
    rank_top_k,
    ranking_masks,
    ranking_metrics,
    ranking_metrics_per_user,
    rating_matrix,
)

# Three users, five items. User 2 has no relevant test item and must be skipped.
SCORES = np.array([
    [0.9, 0.8, 0.7, 0.6, 0.5],
    [0.1, 0.5, 0.5, 0.9, 0.3],   # items 1 and 2 tie
    [0.5, 0.4, 0.3, 0.2, 0.1],
])
SEEN = np.array([
    [False, True, False, False, False],
    [False, False, False, True, False],
    [False, False, False, False, False],
])
RELEVANT = np.array([
    [False, False, True, False, True],   # items 2 and 4
    [False, True, False, False, False],  # item 1
    [False, False, False, False, False],
])
INV_LOG2_3 = 1 / np.log2(3)  # discount of rank 2: 0.6309...


def test_rank_top_k_excludes_seen_and_breaks_ties_by_lower_index():
    top = rank_top_k(SCORES, SEEN, k=3)
    # user 0: item 1 is seen, so 0 (0.9), 2 (0.7), 3 (0.6);
    # user 1: item 3 is seen; 1 and 2 tie at 0.5 -> 1 first; then 4 (0.3).
    np.testing.assert_array_equal(top, [[0, 2, 3], [1, 2, 4], [0, 1, 2]])
    assert top.dtype == np.int64


def test_ranking_metrics_hand_computed():
    top = rank_top_k(SCORES, SEEN, k=3)
    per_user = ranking_metrics_per_user(top, RELEVANT)
    assert per_user.index.tolist() == [0, 1]  # user 2 skipped
    # user 0: gains [0, 1, 0], 2 relevant.
    #   precision 1/3, recall 1/2, DCG = 1/log2(3), IDCG = 1 + 1/log2(3), AP = (1/2) / 2.
    # user 1: gains [1, 0, 0], 1 relevant: precision 1/3, recall 1, NDCG 1, AP 1.
    expected_ndcg_0 = INV_LOG2_3 / (1 + INV_LOG2_3)
    assert expected_ndcg_0 == pytest.approx(0.386853, abs=1e-6)
    np.testing.assert_allclose(per_user["precision"], [1 / 3, 1 / 3])
    np.testing.assert_allclose(per_user["recall"], [0.5, 1.0])
    np.testing.assert_allclose(per_user["ndcg"], [expected_ndcg_0, 1.0])
    np.testing.assert_allclose(per_user["ap"], [0.25, 1.0])

    metrics = ranking_metrics(top, RELEVANT)
    assert metrics == pytest.approx({
        "precision@3": 1 / 3, "recall@3": 0.75, "ndcg@3": (expected_ndcg_0 + 1) / 2,
        "map@3": 0.625, "hit_rate@3": 1.0, "n_users": 2,
    })
    assert evaluate_ranking(SCORES, SEEN, RELEVANT, k=3) == metrics


def test_map_and_ndcg_with_several_hits():
    # One user, hits at ranks 1 and 3 out of 3 relevant items, k = 3.
    top = np.array([[0, 1, 2]])
    relevant = np.array([[True, False, True, True, False]])
    per_user = ranking_metrics_per_user(top, relevant).iloc[0]
    assert per_user["ap"] == pytest.approx((1 / 1 + 2 / 3) / 3)          # 0.5556
    assert per_user["ndcg"] == pytest.approx((1 + 0.5) / (1 + INV_LOG2_3 + 0.5))
    assert per_user["recall"] == pytest.approx(2 / 3)
    # k = 2: only rank 1 counts; the ideal is min(k, n_relevant) = 2 hits.
    per_user_2 = ranking_metrics_per_user(top[:, :2], relevant).iloc[0]
    assert per_user_2["ap"] == pytest.approx(1 / 2)
    assert per_user_2["ndcg"] == pytest.approx(1 / (1 + INV_LOG2_3))
    assert per_user_2["precision"] == pytest.approx(1 / 2)


def test_k_larger_than_catalogue_is_an_error():
    with pytest.raises(ValueError, match="between 1 and the number of items"):
        rank_top_k(SCORES, SEEN, k=6)
    with pytest.raises(ValueError, match="between 1"):
        rank_top_k(SCORES, SEEN, k=0)


def test_all_items_excluded_gives_empty_row_and_zero_hits():
    seen = SEEN.copy()
    seen[1] = True
    top = rank_top_k(SCORES, seen, k=3)
    np.testing.assert_array_equal(top[1], [NO_ITEM] * 3)
    # A user with only 2 rankable items gets one pad.
    seen[0] = [True, True, True, False, False]
    assert rank_top_k(SCORES, seen, k=3)[0].tolist() == [3, 4, NO_ITEM]
    per_user = ranking_metrics_per_user(rank_top_k(SCORES, seen, k=3), RELEVANT)
    # user 0 ranks [3, 4, -]: one hit at rank 2; precision still divides by k.
    assert per_user.loc[0, "precision"] == pytest.approx(1 / 3)
    assert per_user.loc[1, ["hits", "precision", "recall", "ndcg", "ap"]].tolist() == [0] * 5


def test_genuine_minus_inf_ranks_above_excluded_items():
    scores = np.array([[-np.inf, 1.0, 2.0]])
    exclude = np.array([[False, True, True]])
    assert rank_top_k(scores, exclude, k=2).tolist() == [[0, NO_ITEM]]


def test_invalid_inputs():
    with pytest.raises(ValueError, match="NaN"):
        rank_top_k(np.array([[np.nan, 1.0]]), np.zeros((1, 2), bool), k=1)
    with pytest.raises(ValueError, match="same shape"):
        rank_top_k(SCORES, SEEN[:, :4], k=1)
    with pytest.raises(ValueError, match="No user has a relevant item"):
        ranking_metrics(rank_top_k(SCORES, SEEN, 2), np.zeros_like(RELEVANT))


def test_rating_matrix_and_masks_follow_the_given_id_order():
    train = pd.DataFrame({"user_id": [7, 7, 3], "item_id": [20, 10, 30], "rating": [5, 2, 4]})
    test = pd.DataFrame({"user_id": [3, 7, 3], "item_id": [10, 30, 20], "rating": [4, 3, 5]})
    users, items = [7, 3], [30, 20, 10]
    np.testing.assert_array_equal(rating_matrix(train, users, items), [[0, 5, 2], [4, 0, 0]])
    seen, relevant = ranking_masks(train, test, users, items, threshold=4)
    np.testing.assert_array_equal(seen, [[False, True, True], [True, False, False]])
    np.testing.assert_array_equal(relevant, [[False, False, False], [False, True, True]])


def test_unknown_ids_raise_or_drop():
    ratings = pd.DataFrame({"user_id": [1, 2], "item_id": [5, 99], "rating": [3, 4]})
    with pytest.raises(ValueError, match="item ids are not in the given order"):
        rating_matrix(ratings, [1, 2], [5])
    np.testing.assert_array_equal(rating_matrix(ratings, [1, 2], [5], on_unknown="drop"),
                                  [[3], [0]])


def test_scores_by_rating_count_marks_both_lists_and_the_cut_off():
    from matplotlib.figure import Figure

    from recsae import plots

    counts = np.array([0, 1, 2, 30, 40, 50, 60, 0])
    scores = np.array([5.5, 5.2, 1.0, 4.0, 3.9, 3.0, 4.1, 3.0])
    rated = np.array([False] * 7 + [True])
    fig = plots.scores_by_rating_count(scores, counts, rated, min_ratings=20, k=2)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    offsets = {c.get_label(): c.get_offsets() for c in ax.collections}
    top_all = offsets["top 2, every movie a candidate"]
    top_cut = offsets["top 2, movies with >= 20 ratings"]
    np.testing.assert_array_equal(top_all[:, 1], [5.5, 5.2])  # the rarely rated movies
    np.testing.assert_array_equal(top_cut[:, 1], [4.1, 4.0])
    assert len(offsets["a movie the user has not rated"]) == 7  # the rated one is not drawn
