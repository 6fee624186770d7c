"""I-AutoRec: masked loss, training on a synthetic problem, fallbacks, tuning, ML-100K u1."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from recsae.autorec import AutoRecConfig, AutoRecNet, IAutoRec, tune_autorec
from recsae.baselines import BiasModel, GlobalMean
from recsae.data import load_split
from recsae.protocol import evaluate_rating_model

FAST = AutoRecConfig(hidden=16, reg=1.0, optimizer="rprop", lr=0.01, n_epochs=30, seed=0)


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    """40 users x 30 items, rank-2 ratings in 1..5, about 60% observed."""
    rng = np.random.default_rng(0)
    truth = 3 + 1.5 * np.tanh(rng.normal(size=(40, 2)) @ rng.normal(size=(2, 30)))
    users, items = np.nonzero(rng.random((40, 30)) < 0.6)
    return pd.DataFrame({"user_id": users + 1, "item_id": items + 101,
                         "rating": np.rint(truth[users, items]).astype(np.int32)})


@pytest.fixture(scope="module")
def u1(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_split(1)


def test_net_shapes():
    net = AutoRecNet(n_in=7, hidden=3)
    x = torch.rand(5, 7)
    assert net.encode(x).shape == (5, 3)
    assert net(x).shape == (5, 7)
    assert net.weight_norm2().item() > 0


@pytest.mark.parametrize("config", [FAST, replace(FAST, optimizer="adam", lr=0.01, batch_size=8,
                                                    dropout=0.1)])
def test_loss_falls_on_a_small_synthetic_problem(synthetic, config):
    history = IAutoRec(config).fit(synthetic).history_
    assert list(history.columns) == ["epoch", "loss", "train_rmse"]
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    # Below the RMSE of predicting the mean (the ratings' std, 0.84 here).
    assert history["train_rmse"].iloc[-1] < 0.9 * synthetic["rating"].std(ddof=0)


def test_same_seed_same_predictions(synthetic):
    users, items = synthetic["user_id"].to_numpy(), synthetic["item_id"].to_numpy()
    first = IAutoRec(FAST).fit(synthetic).predict(users, items)
    second = IAutoRec(FAST).fit(synthetic).predict(users, items)
    other = IAutoRec(replace(FAST, seed=1)).fit(synthetic).predict(users, items)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_fit_leaves_the_global_random_state_alone(synthetic):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    IAutoRec(replace(FAST, n_epochs=2, dropout=0.1)).fit(synthetic)
    torch.testing.assert_close(torch.rand(3), expected)


def test_unknown_ids_fall_back_to_means(synthetic):
    model = IAutoRec(FAST).fit(synthetic)
    item_101_mean = synthetic.loc[synthetic["item_id"] == 101, "rating"].mean()
    pred = model.predict(np.array([999, 1, 999]), np.array([101, 999, 999]))
    # unknown user -> the item's mean; unknown item -> the global mean.
    np.testing.assert_allclose(pred, [item_101_mean, synthetic["rating"].mean(),
                                      synthetic["rating"].mean()])
    matrix = model.predict_matrix()
    assert matrix.shape == (len(model.users_), len(model.items_))
    assert matrix[0, 0] == pytest.approx(model.predict(model.users_[:1], model.items_[:1])[0])


def test_validation_history_and_bad_optimizer(synthetic):
    history = IAutoRec(FAST).fit(synthetic.iloc[:600], synthetic.iloc[600:]).history_
    assert history["valid_rmse"].between(0, 4).all()
    with pytest.raises(ValueError, match="optimizer"):
        IAutoRec(replace(FAST, optimizer="sgd")).fit(synthetic)


def test_tune_autorec_expands_a_grid_and_sets_the_early_stopping_epoch(synthetic):
    table, best = tune_autorec(synthetic, {"hidden": [4, 16], "reg": [0.1, 10.0]}, base=FAST)
    assert len(table) == 4
    assert table["valid_rmse"].is_monotonic_increasing
    winner = table.iloc[0]
    assert (best.hidden, best.reg) == (winner["hidden"], winner["reg"])
    assert best.n_epochs == winner["best_epoch"] <= FAST.n_epochs
    with pytest.raises(ValueError, match="empty"):
        tune_autorec(synthetic, [])


def test_a_few_epochs_on_u1_already_beat_the_global_mean(u1):
    train, test = u1
    model = IAutoRec(replace(AutoRecConfig(), n_epochs=20)).fit(train)
    rmse = evaluate_rating_model(model, test)["rmse"]
    assert rmse < evaluate_rating_model(GlobalMean().fit(train), test)["rmse"] - 0.1


@pytest.mark.slow
def test_validation_chosen_config_beats_the_bias_baseline_on_u1(u1):
    train, test = u1
    autorec = evaluate_rating_model(IAutoRec().fit(train), test)
    bias = evaluate_rating_model(BiasModel().fit(train), test)
    assert autorec["rmse"] < bias["rmse"] - 0.03  # bias 0.960
    assert autorec["rmse"] < 0.92


@pytest.mark.parametrize("config", [
    AutoRecConfig(hidden=8, reg=5.0, n_epochs=4, optimizer="rprop"),
    AutoRecConfig(hidden=8, reg=5.0, n_epochs=3, optimizer="adam", lr=0.01, batch_size=7),
])
def test_sparse_path_agrees_with_the_dense_one(config, monkeypatch):
    """Item rows read from a CSR in chunks give the dense path's training and predictions."""
    import recsae.autorec as autorec_module

    rng = np.random.default_rng(0)
    pairs = [(u, i) for u in range(1, 41) for i in range(1, 31) if rng.random() < 0.3]
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    frame["rating"] = rng.integers(1, 6, len(frame))
    train, valid = frame.iloc[::5].copy(), frame.drop(frame.index[::5])
    train, valid = valid, train
    monkeypatch.setattr(autorec_module, "CHUNK_NNZ", 50)  # several chunks per step
    dense = IAutoRec(config, sparse=False).fit(train, valid)
    sparse = IAutoRec(config, sparse=True).fit(train, valid)
    assert sparse.reconstruction_ is None and "sparse" not in vars(IAutoRec(config))
    pd.testing.assert_frame_equal(sparse.history_, dense.history_, rtol=1e-4)
    users = np.r_[frame["user_id"].to_numpy(), 999]
    items = np.r_[frame["item_id"].to_numpy(), 1]
    np.testing.assert_allclose(sparse.predict(users, items), dense.predict(users, items),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sparse.predict_matrix(), dense.predict_matrix(), atol=1e-4)
