"""Checkpoints: round trip with weights_only loading, clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsae import checkpoint
from recsae.model import StackedAutoencoder
from recsae.training import TrainConfig, predict
from recsae.user_matrix import ColumnIndex


@pytest.fixture
def trained() -> tuple[StackedAutoencoder, TrainConfig, ColumnIndex]:
    torch.manual_seed(0)
    model = StackedAutoencoder(7, (4, 2, 4), activation="tanh")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # not the initial weights
    columns = ColumnIndex(np.array([1, 2, 5]), np.array([10, 11, 12, 13]), ("Drama", "War"),
                          ("female",))
    return model, TrainConfig(hidden=(4, 2, 4), activation="tanh", patience=None), columns


def test_round_trip_gives_equal_predictions(tmp_path, trained):
    model, config, columns = trained
    path = checkpoint.save(tmp_path / "sub" / "model.pt", model, config, columns,
                           metadata={"global_rmse": 0.95, "recipe": "corrected"})
    loaded = checkpoint.load(path)
    x = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    np.testing.assert_array_equal(predict(loaded.model, x), predict(model, x))
    assert loaded.model.config() == model.config()
    assert loaded.config == config
    assert loaded.columns == columns
    assert loaded.metadata == {"global_rmse": 0.95, "recipe": "corrected"}
    assert not loaded.model.training
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left


def test_file_loads_with_weights_only(tmp_path, trained):
    model, config, columns = trained
    path = checkpoint.save(tmp_path / "model.pt", model, config, columns)
    payload = torch.load(path, weights_only=True)
    assert payload["columns"]["genre_names"] == ["Drama", "War"]
    assert payload["config"]["hidden"] == [4, 2, 4]


def test_plain_dict_config_and_no_columns(tmp_path, trained):
    model = trained[0]
    path = checkpoint.save(tmp_path / "m.pt", model, {"trainer": "as_published", "epochs": 200})
    loaded = checkpoint.load(path)
    assert loaded.config == {"trainer": "as_published", "epochs": 200}
    assert loaded.columns is None


def test_overwrite_is_atomic_replacement(tmp_path, trained):
    model, config, columns = trained
    path = tmp_path / "m.pt"
    checkpoint.save(path, StackedAutoencoder(7, (3,)), None, None)
    checkpoint.save(path, model, config, columns)
    assert checkpoint.load(path).model.hidden == (4, 2, 4)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        checkpoint.load(tmp_path / "absent.pt")


def test_corrupt_and_truncated_files(tmp_path, trained):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable"):
        checkpoint.load(garbage)
    good = checkpoint.save(tmp_path / "good.pt", *trained)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(truncated)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(checkpoint.CheckpointError, match="not a recsae"):
        checkpoint.load(path)
