"""The corrected trainer: TrainConfig, fit, predict, seeds and devices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsae.data import load_split
from recsae.metrics import global_mean_rmse, global_rmse, rating_mask
from recsae.model import StackedAutoencoder
from recsae.runtime import get_device, seed_everything, torch_threads
from recsae.splits import holdout_per_user
from recsae.training import TrainConfig, fit, predict


@pytest.fixture(autouse=True)
def _one_thread():
    # Small tensors: worker threads only add waiting, badly so on a busy 2-core machine.
    with torch_threads(1):
        yield


def ratings_matrix(frame: pd.DataFrame, n_users: int, n_items: int,
                   n_extra: int = 0) -> np.ndarray:
    """``[n_users, n_items + n_extra]`` float32 ratings (ids 1-based), extra columns 0."""
    matrix = np.zeros((n_users, n_items + n_extra), dtype=np.float32)
    matrix[frame["user_id"] - 1, frame["item_id"] - 1] = frame["rating"]
    return matrix


@pytest.fixture(scope="module")
def u1(shared_data) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame]:
    train, test = load_split(1)
    return ratings_matrix(train, 943, 1682), ratings_matrix(test, 943, 1682), train, test


def synthetic_ratings(n_users: int = 40, n_items: int = 30, density: float = 0.3,
                      seed: int = 0) -> np.ndarray:
    """Rank-2 ratings in 1..5, a random ``density`` of them observed."""
    rng = np.random.default_rng(seed)
    full = 1 + 4 * (rng.random((n_users, 2)) @ rng.random((2, n_items))) / 2
    observed = rng.random((n_users, n_items)) < density
    observed[:, 0] = True  # every user rates something
    return np.where(observed, np.round(full), 0).astype(np.float32)


# ------------------------------------------------------------------ masked loss, split


def test_train_config_round_trip_and_checks():
    config = TrainConfig(hidden=[8, 4, 8], optimizer="sgd", patience=None)
    assert config.hidden == (8, 4, 8)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"learning_rate": 1})


# ------------------------------------------------------------------ the corrected trainer


def test_fit_loss_falls_and_history_is_complete():
    train = synthetic_ratings()
    config = TrainConfig(hidden=(16, 8, 16), epochs=60, batch_size=8, lr=1e-2, patience=None)
    model, history, best = fit(train, 30, config, device="cpu")
    assert list(history.columns) == ["epoch", "train_rmse", "val_rmse", "lr", "seconds"]
    assert len(history) == 60 and history["epoch"].tolist() == list(range(1, 61))
    assert history["train_rmse"].iloc[-1] < 0.5 * history["train_rmse"].iloc[0]
    assert best == int(history["val_rmse"].idxmin()) + 1
    assert not model.training


def test_fit_is_deterministic_and_seed_dependent():
    train = synthetic_ratings()
    config = TrainConfig(hidden=(8,), epochs=5, batch_size=8, patience=None)
    first = fit(train, 30, config).history["train_rmse"]
    second = fit(train, 30, config).history["train_rmse"]
    other = fit(train, 30, TrainConfig(**{**config.to_dict(), "seed": 1})).history["train_rmse"]
    pd.testing.assert_series_equal(first, second)
    assert not np.allclose(first, other)


def test_fit_stops_early_and_keeps_the_best_epoch():
    train = synthetic_ratings()
    # A learning rate this high makes validation worse after a few epochs.
    config = TrainConfig(hidden=(64,), epochs=200, batch_size=4, lr=0.3, patience=3)
    model, history, best = fit(train, 30, config)
    assert len(history) == best + 3 < 200
    inputs = torch.from_numpy(holdout_per_user(train, 30, 0.1, seed=0)[0])
    _, val = holdout_per_user(train, 30, 0.1, seed=0)
    out = predict(model, inputs)[:, :30]
    assert global_rmse(out, val, val != 0) == pytest.approx(history["val_rmse"].min(), rel=1e-5)


def test_fit_without_validation_runs_every_epoch():
    model, history, best = fit(synthetic_ratings(), 30,
                               TrainConfig(hidden=(4,), epochs=3, val_fraction=0.0))
    assert best == 3 and history["val_rmse"].isna().all()


def test_fit_beats_the_global_mean_on_ml100k(u1):
    train, test, train_df, test_df = u1
    baseline = global_mean_rmse(train_df["rating"], test_df["rating"])
    assert baseline == pytest.approx(1.1537, abs=1e-3)
    model, history, _ = fit(train, 1682, TrainConfig(epochs=120))
    rmse = global_rmse(predict(model, train), test, rating_mask(test))
    assert rmse < 1.0 < baseline - 0.1, (rmse, history.tail())


def test_seed_everything_repeats_initial_weights():
    seed_everything(7)
    first = StackedAutoencoder(10, (4,)).layers[0].weight.clone()
    generator = seed_everything(7)
    assert torch.equal(StackedAutoencoder(10, (4,)).layers[0].weight, first)
    assert isinstance(generator, torch.Generator) and generator.initial_seed() == 7
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_get_device_and_threads():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected
    assert get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            get_device("cuda")
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_fit_trains_any_autoencoder_module():
    """fit takes any nn.Module with the autoencoder contract (rows in, rows out), not one
    class; such a model trains on the dense path, and the sparse engine refuses it."""

    class Tied(torch.nn.Module):  # a different autoencoder: tied weights, one tanh layer
        def __init__(self, n: int, k: int) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(k, n) * 0.1)
            self.b = torch.nn.Parameter(torch.zeros(n))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(x @ self.w.T) @ self.w + self.b

    train = synthetic_ratings()
    config = TrainConfig(epochs=4, batch_size=8, lr=0.05, patience=None)
    model, history, best = fit(train, 30, config, model=Tied(30, 4))
    assert isinstance(model, Tied) and len(history) == 4
    assert history["train_rmse"].iloc[-1] < history["train_rmse"].iloc[0]
    with pytest.raises(ValueError, match="StackedAutoencoder only"):
        fit(train, 30, config, model=Tied(30, 4), sparse=True)
