"""What the bottleneck learned (recsae.interpret): codes, PCA and the gender probe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsae import interpret
from recsae.model import StackedAutoencoder


def test_user_codes_are_the_encoder_output():
    torch.manual_seed(0)
    model = StackedAutoencoder(12, (6, 3, 6))
    rows = np.random.default_rng(0).integers(0, 6, size=(5, 12)).astype(np.float32)
    codes = interpret.user_codes(model, rows)
    assert codes.shape == (5, 3) and codes.dtype == np.float64
    with torch.no_grad():
        expected = torch.sigmoid(model.layers[1](torch.sigmoid(model.layers[0](
            torch.from_numpy(rows)))))
    np.testing.assert_allclose(codes, expected.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(codes, interpret.user_codes(model, torch.from_numpy(rows)))


def test_user_codes_refuse_the_wrong_width():
    model = StackedAutoencoder(12, (6, 3, 6))
    with pytest.raises(ValueError, match="12"):
        interpret.user_codes(model, np.zeros((4, 11), dtype=np.float32))


def test_pca_recovers_a_known_direction():
    rng = np.random.default_rng(1)
    direction = np.array([3.0, 4.0, 0.0]) / 5.0
    x = rng.normal(size=(500, 1)) * 10 * direction + rng.normal(scale=0.1, size=(500, 3)) + 7
    result = interpret.pca(x, 2)
    assert result.coords.shape == (500, 2) and result.components.shape == (2, 3)
    # The sign is fixed: the largest entry of each component is positive.
    np.testing.assert_allclose(result.components[0], direction, atol=0.01)
    assert result.explained[0] > 0.99 and result.explained.sum() <= 1.0
    # Coordinates are the centred rows projected on the unit components.
    np.testing.assert_allclose(result.coords, (x - x.mean(0)) @ result.components.T)
    np.testing.assert_allclose(np.linalg.norm(result.components, axis=1), 1.0)


def test_pca_signs_do_not_depend_on_the_input_order():
    x = np.random.default_rng(2).normal(size=(50, 4))
    a, b = interpret.pca(x), interpret.pca(x[::-1])
    np.testing.assert_allclose(a.components, b.components, atol=1e-12)


def test_pca_refuses_too_many_components():
    with pytest.raises(ValueError):
        interpret.pca(np.zeros((5, 2)), 3)


def test_age_band_edges():
    bands = interpret.age_band(np.array([7, 24, 25, 34, 35, 49, 50, 73]))
    assert bands.tolist() == ["under 25", "under 25", "25-34", "25-34", "35-49", "35-49",
                              "50 and over", "50 and over"]


def test_user_labels_follow_the_row_order():
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [20, 30, 40, 60],
                          "gender": ["F", "M", "M", "F"],
                          "occupation": ["student", "student", "writer", "artist"]})
    labels = interpret.user_labels(users, np.array([3, 1, 4]), n_occupations=1)
    assert labels["gender"].tolist() == ["male", "female", "female"]
    assert labels["age group"].tolist() == ["35-49", "under 25", "50 and over"]
    assert labels["occupation"].tolist() == [interpret.OTHER_OCCUPATION, "student",
                                             interpret.OTHER_OCCUPATION]
    with pytest.raises(ValueError, match="not in the user table"):
        interpret.user_labels(users, np.array([9]))


def test_stratified_folds_spread_each_class():
    y = np.array([0] * 20 + [1] * 10)
    fold = interpret.stratified_folds(y, 5, seed=3)
    for k in range(5):
        assert (y[fold == k] == 0).sum() == 4 and (y[fold == k] == 1).sum() == 2
    np.testing.assert_array_equal(fold, interpret.stratified_folds(y, 5, seed=3))


def test_fit_logistic_matches_the_optimum():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 2))
    y = (rng.random(400) < 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1] + 0.5)))).astype(float)
    w, b = interpret.fit_logistic(x, y, l2=1.0)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    # The gradient of the penalised loss vanishes at the solution.
    np.testing.assert_allclose(x.T @ (p - y) + 1.0 * w, 0.0, atol=1e-8)
    assert abs(np.sum(p - y)) < 1e-8
    assert w[0] > 1.0 and w[1] < -0.4


def test_cross_validated_accuracy_finds_a_signal_and_no_more():
    rng = np.random.default_rng(5)
    y = (rng.random(600) < 0.7).astype(int)
    signal = np.column_stack([y + rng.normal(scale=0.5, size=600), rng.normal(size=600)])
    noise = rng.normal(size=(600, 2))
    found = interpret.cross_validated_accuracy(signal, y)
    chance = interpret.cross_validated_accuracy(noise, y)
    assert found["majority_rate"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert found["accuracy"] > 0.85 and found["balanced_accuracy"] > 0.8
    assert chance["accuracy"] <= chance["majority_rate"] + 0.03
    assert abs(chance["balanced_accuracy"] - 0.5) < 0.05
    assert found["n"] == 600


def test_cross_validated_accuracy_needs_two_classes():
    with pytest.raises(ValueError, match="both 0 and 1"):
        interpret.cross_validated_accuracy(np.zeros((10, 2)), np.zeros(10))
