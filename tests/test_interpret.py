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
    # Categories in a fixed, readable order (figures draw their legends in it).
    assert list(labels["age group"].cat.categories) == [b for _, b in interpret.AGE_BANDS]
    assert list(labels["gender"].cat.categories) == ["male", "female"]
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


def test_cross_validated_probe_finds_a_signal_and_no_more():
    rng = np.random.default_rng(5)
    y = (rng.random(600) < 0.7).astype(int)
    signal = np.column_stack([y + rng.normal(scale=0.5, size=600), rng.normal(size=600)])
    noise = rng.normal(size=(600, 2))
    found = interpret.cross_validated_probe(signal, y)
    chance = interpret.cross_validated_probe(noise, y)
    assert found["majority_rate"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert found["accuracy"] > 0.85 and found["balanced_accuracy"] > 0.8
    assert found["auc"] > 0.9
    assert chance["accuracy"] <= chance["majority_rate"] + 0.03
    assert abs(chance["balanced_accuracy"] - 0.5) < 0.05
    assert abs(chance["auc"] - 0.5) < 0.07
    assert found["n"] == 600


def test_cross_validated_probe_needs_two_classes():
    with pytest.raises(ValueError, match="both 0 and 1"):
        interpret.cross_validated_probe(np.zeros((10, 2)), np.zeros(10))


def test_roc_auc_by_hand_with_ties():
    # Positives score 3, 2, 2; negatives 2, 1. Pairs (pos > neg): 3>2, 3>1, 2>1, 2>1 = 4,
    # ties 2=2 twice count 1/2 each: (4 + 1) / 6.
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0])
    y = np.array([1, 1, 1, 0, 0])
    assert interpret.roc_auc(scores, y) == pytest.approx(5 / 6)
    assert interpret.roc_auc(-scores, y) == pytest.approx(1 / 6)
    assert interpret.roc_auc(np.zeros(5), y) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="both classes"):
        interpret.roc_auc(scores, np.ones(5))


def test_user_traits_and_their_correlations():
    ratings = np.array([[5, 0, 3, 0], [1, 1, 0, 0], [4, 4, 4, 4]], dtype=np.float32)
    traits = interpret.user_traits(ratings)
    np.testing.assert_allclose(traits["mean rating"], [4.0, 1.0, 4.0])
    np.testing.assert_allclose(traits["number of ratings (log)"], np.log([2, 2, 4]))
    coords = np.column_stack([traits["mean rating"] * 2 + 1, -traits["mean rating"]])
    table = interpret.component_correlations(coords, traits)
    assert list(table.index) == ["PC 1", "PC 2"]
    assert table.loc["PC 1", "mean rating"] == pytest.approx(1.0)
    assert table.loc["PC 2", "mean rating"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="differ"):
        interpret.component_correlations(coords[:2], traits)


def test_shuffled_aucs_centre_on_chance():
    rng = np.random.default_rng(6)
    y = (rng.random(300) < 0.3).astype(int)
    x = np.column_stack([y + rng.normal(scale=0.3, size=300), rng.normal(size=300)])
    aucs = interpret.shuffled_aucs(x, y, n_shuffles=10, seed=1)
    assert aucs.shape == (10,) and abs(aucs.mean() - 0.5) < 0.05
    assert interpret.cross_validated_probe(x, y)["auc"] > aucs.max()


def test_the_training_figures_build():
    from matplotlib.figure import Figure

    from recsae import plots

    arch = plots.architecture({"ratings": 30, "genre counts": 5, "attributes": 4}, (6, 3, 6))
    history = pd.DataFrame({"epoch": [1, 2, 3], "article_train_metric": [1.5, 0.9, 0.8]})
    checkpoints = pd.DataFrame({"epoch": [1, 3], "article_metric": [0.5, 0.4],
                                "global_rmse": [1.2, 1.1]})
    curves = plots.as_published_curves(history, checkpoints, {"global mean": 1.15}, 0.5)
    fit_history = pd.DataFrame({"epoch": [1, 2, 3], "train_rmse": [2.0, 1.0, 0.9],
                                "val_rmse": [1.9, 1.0, 0.95]})
    corrected = plots.corrected_curves(fit_history, 3, 2, {"global mean": 1.15}, {3: 0.97})
    labels = pd.DataFrame({"gender": pd.Categorical(["female", "male", "male"]),
                           "mean training rating": [3.0, 4.0, 2.5]})
    rng = np.random.default_rng(0)
    codes = plots.bottleneck_codes({"a": rng.normal(size=(3, 2)), "b": rng.normal(size=(3, 2))},
                                   {"a": np.array([0.6, 0.3]), "b": np.array([0.5, 0.4])}, labels)
    for fig in (arch, curves, corrected, codes):
        assert isinstance(fig, Figure)
    assert "above the frame" in " ".join(t.get_text() for t in corrected.axes[0].texts)
    assert len(codes.subfigs) == 2
