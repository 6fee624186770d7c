"""Metrics against tiny hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsae import metrics

# 3 users, 3 rating columns + 1 feature column (think: a gender flag, always 1).
# User 0 has two test ratings, user 1 none, user 2 one.
PRED = np.array([[6.0, 2.0, 3.5, 9.0],
                 [6.0, 1.0, 0.0, 9.0],
                 [0.0, 4.0, 0.0, 0.0]], dtype=np.float32)
TARGET = np.array([[5.0, 0.0, 3.0, 1.0],
                   [0.0, 0.0, 0.0, 1.0],
                   [0.0, 2.0, 0.0, 0.0]], dtype=np.float32)
N = 3


def test_rating_mask_keeps_rating_columns_only():
    mask = metrics.rating_mask(TARGET, N)
    assert mask.tolist() == [[True, False, True], [False, False, False], [False, True, False]]


def test_global_metrics_by_hand():
    mask = metrics.rating_mask(TARGET, N)
    pred, target = PRED[:, :N], TARGET[:, :N]
    # Clipped errors: 6->5 vs 5: 0; 3.5 vs 3: 0.5; 4 vs 2: 2.
    assert metrics.global_rmse(pred, target, mask) == pytest.approx(math.sqrt(4.25 / 3))
    assert metrics.global_mae(pred, target, mask) == pytest.approx(2.5 / 3)
    # Unclipped: 1, 0.5, 2.
    assert metrics.global_rmse(pred, target, mask, clip=None) == pytest.approx(
        math.sqrt(5.25 / 3))
    assert metrics.global_mae(pred, target, mask, clip=None) == pytest.approx(3.5 / 3)


def test_per_user_rmse_by_hand():
    mask = metrics.rating_mask(TARGET, N)
    values = metrics.per_user_rmse_values(PRED[:, :N], TARGET[:, :N], mask)
    assert values[0] == pytest.approx(math.sqrt(0.25 / 2))
    assert np.isnan(values[1])  # no test rating: not a zero, not counted
    assert values[2] == pytest.approx(2.0)
    assert metrics.per_user_rmse(PRED[:, :N], TARGET[:, :N], mask) == pytest.approx(
        (math.sqrt(0.125) + 2.0) / 2)


def test_honest_metrics_dict():
    mask = metrics.rating_mask(TARGET, N)
    out = metrics.honest_metrics(PRED[:, :N], TARGET[:, :N], mask)
    assert out["n_ratings"] == 3 and out["n_users"] == 2
    assert out["global_rmse"] == pytest.approx(math.sqrt(4.25 / 3))
    assert out["global_rmse_unclipped"] == pytest.approx(math.sqrt(5.25 / 3))


def test_article_metric_by_hand_with_feature_column():
    values, counted = metrics.article_metric_per_user(PRED, TARGET, N)
    # User 0: output masked to [6, 0, 3.5]; squared errors 1, 0, 0.25 over 3 columns;
    # 3 positive entries in the whole row (5, 3 and the flag) -> corrector 3/3.
    assert values[0] == pytest.approx(math.sqrt(1.25 / 3))
    # User 1: no rating, but the flag makes the row count, with error 0.
    assert counted[1] and values[1] == 0.0
    # User 2: error 2 at one column: mse 4/3, corrector 3/1 -> sqrt(4) = 2.
    assert values[2] == pytest.approx(2.0)
    assert metrics.article_metric(PRED, TARGET, N) == pytest.approx(
        (math.sqrt(1.25 / 3) + 0.0 + 2.0) / 3)


def test_article_metric_drops_with_a_feature_column_for_the_same_predictions():
    """The same rating predictions score better once a constant column is appended."""
    without = metrics.article_metric(PRED[:, :N], TARGET[:, :N], N)
    # User 0: corrector 3/2 -> sqrt(1.25/3 * 1.5); user 1 not counted; user 2: 2.
    assert without == pytest.approx((math.sqrt(0.625) + 2.0) / 2)  # 1.395
    with_flag = metrics.article_metric(PRED, TARGET, N)  # 0.882
    assert with_flag < without - 0.5
    # ...while every honest metric is unchanged: it never looks past the rating columns.
    mask = metrics.rating_mask(TARGET, N)
    assert metrics.global_rmse(PRED[:, :N], TARGET[:, :N], mask) == pytest.approx(
        metrics.global_rmse(PRED[:, :N], TARGET[:, :N], metrics.rating_mask(TARGET[:, :N])))


def test_article_metric_counts_positive_entries_but_masks_nonzero_ones():
    # A negative feature value: the output is not masked there, but it is not counted.
    pred = np.array([[2.0, 1.0]], dtype=np.float32)
    target = np.array([[4.0, -1.0]], dtype=np.float32)
    values, counted = metrics.article_metric_per_user(pred, target, 1)
    assert counted[0] and values[0] == pytest.approx(2.0)  # sqrt(4 * 1 / 1)


def test_inputs_may_be_tensors_and_are_checked():
    mask = metrics.rating_mask(TARGET, N)
    assert metrics.global_rmse(torch.from_numpy(PRED[:, :N]), torch.from_numpy(TARGET[:, :N]),
                               torch.from_numpy(mask)) == pytest.approx(math.sqrt(4.25 / 3))
    with pytest.raises(ValueError, match="same shape"):
        metrics.global_rmse(PRED, TARGET[:, :N], mask)
    with pytest.raises(TypeError, match="boolean"):
        metrics.global_rmse(PRED[:, :N], TARGET[:, :N], mask.astype(float))
    with pytest.raises(ValueError, match="no entry"):
        metrics.global_rmse(PRED[:, :N], TARGET[:, :N], np.zeros_like(mask))


def test_global_mean_rmse():
    assert metrics.global_mean_rmse(np.array([1, 3]), np.array([2, 4])) == pytest.approx(
        math.sqrt((0 + 4) / 2))
