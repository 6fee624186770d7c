"""Checkpoints: round trip with weights_only loading, clear errors for bad files."""

from __future__ import annotations

import errno
import os
import re
import stat

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


# ------------------------------------------------------------------ validation on save


def test_numpy_scalars_in_metadata_and_config_are_stored_as_python_values(tmp_path, trained):
    model, config, columns = trained
    metadata = {"rmse": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True),
                "name": np.str_("x"), "nested": {"per_fold": [np.float64(0.25), (np.int32(1),)]}}
    path = checkpoint.save(tmp_path / "m.pt", model, {"lr": np.float64(0.01), "epochs": np.int64(2)},
                           columns, metadata)
    loaded = checkpoint.load(path)  # before: "Weights only load failed"
    assert loaded.metadata == {"rmse": 0.5, "n": 3, "ok": True, "name": "x",
                               "nested": {"per_fold": [0.25, (1,)]}}
    assert type(loaded.metadata["rmse"]) is float and type(loaded.metadata["n"]) is int
    assert loaded.config == {"lr": 0.01, "epochs": 2}
    assert checkpoint.load(checkpoint.save(tmp_path / "c.pt", model, config)).config == config


@pytest.mark.parametrize(("metadata", "where"), [
    ({"scores": np.array([0.9, 0.8])}, r"metadata\['scores'\] is a ndarray"),
    ({"deep": [1, {"t": torch.tensor(1.0)}]}, r"metadata\['deep'\]\[1\]\['t'\] is a Tensor"),
    ({"folder": __import__("pathlib").Path("x")}, r"metadata\['folder'\] is a PosixPath"),
    ({"z": 1j}, r"metadata\['z'\] is a complex"),
    ({"set": {1, 2}}, r"metadata\['set'\] is a set"),
])
def test_metadata_that_could_not_be_loaded_back_is_refused(tmp_path, trained, metadata, where):
    with pytest.raises(TypeError, match=where + r"; a checkpoint stores only str, int, float, "
                                                r"bool, None and lists/dicts of them"):
        checkpoint.save(tmp_path / "m.pt", *trained, metadata=metadata)
    with pytest.raises(TypeError, match="non-string key 3"):
        checkpoint.save(tmp_path / "m.pt", *trained, metadata={3: "fold"})
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_column_index_of_another_width_is_refused(tmp_path, trained):
    model, config, _ = trained
    wrong = ColumnIndex(np.array([1]), np.array([10, 11]), ("Drama",), ())  # 3 columns, not 7
    with pytest.raises(ValueError, match="The column index describes 3 columns, the model takes "
                                         "7 inputs: pass the ColumnIndex of the matrices"):
        checkpoint.save(tmp_path / "m.pt", model, config, wrong)
    with pytest.raises(TypeError, match="columns must be a ColumnIndex"):
        checkpoint.save(tmp_path / "m.pt", model, config, {"item_ids": [1]})
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ integrity on load


def _record_data_ranges(blob: bytes) -> list[tuple[int, int]]:
    """``[start, end)`` of every zip record's stored bytes (the pickle and the tensors)."""
    import struct
    import zipfile
    from io import BytesIO

    ranges = []
    for info in zipfile.ZipFile(BytesIO(blob)).infolist():
        name_len, extra_len = struct.unpack("<HH", blob[info.header_offset + 26:
                                                        info.header_offset + 30])
        start = info.header_offset + 30 + name_len + extra_len
        ranges.append((start, start + info.compress_size))
    return ranges


def _same_checkpoint(a: checkpoint.Checkpoint, b: checkpoint.Checkpoint) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return (sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
            and a.model.config() == b.model.config() and a.config == b.config
            and a.columns == b.columns and a.metadata == b.metadata)


@pytest.mark.parametrize("seed", range(3))
def test_a_flipped_bit_is_always_caught_or_harmless(tmp_path, trained, seed):
    """Random single-bit flips: a flip in any stored record (the pickled fields or a tensor's
    bytes) is a CheckpointError; a flip anywhere else in the file (zip headers, padding) is
    a CheckpointError or leaves every loaded value identical. Never another exception, never
    a silently different model."""
    path = checkpoint.save(tmp_path / "good.pt", *trained, metadata={"rmse": 0.9, "tags": ["a"]})
    blob = path.read_bytes()
    original = checkpoint.load(path)
    ranges = _record_data_ranges(blob)
    rng = np.random.default_rng(seed)
    bad = tmp_path / "bad.pt"
    caught = 0
    for trial in range(250):
        if trial % 2:  # inside a record
            start, end = ranges[int(rng.integers(len(ranges)))]
            position = int(rng.integers(start, end))
        else:  # anywhere
            position = int(rng.integers(len(blob)))
        flipped = bytearray(blob)
        flipped[position] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(flipped))
        try:
            loaded = checkpoint.load(bad)
        except checkpoint.CheckpointError as error:
            assert "weights_only=False" not in str(error)
            caught += 1
            continue
        inside = any(start <= position < end for start, end in ranges)
        assert not inside, f"a flip at byte {position} (in a record) was not detected"
        assert _same_checkpoint(loaded, original), f"a flip at byte {position} changed the model"
    assert caught >= 125


def test_a_changed_weight_is_detected_by_the_checksum(tmp_path, trained):
    """Rewrite one weight (the zip's own CRC updated too, as a careless tool would):
    only the content checksum can notice."""
    model, config, columns = trained
    path = checkpoint.save(tmp_path / "m.pt", model, config, columns)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["layers.0.weight"][0, 0] += 1e-6
    torch.save(payload, path)
    with pytest.raises(checkpoint.CheckpointError, match="is corrupt: its content does not "
                                                         "match the checksum stored in it"):
        checkpoint.load(path)
    payload = torch.load(checkpoint.save(tmp_path / "n.pt", model, config, columns),
                         weights_only=True)
    payload["metadata"] = {"rmse": 0.1}
    torch.save(payload, path)
    with pytest.raises(checkpoint.CheckpointError, match="does not match the checksum"):
        checkpoint.load(path)


def test_version_1_files_without_a_checksum_still_load(tmp_path, trained):
    model, config, columns = trained
    path = checkpoint.save(tmp_path / "m.pt", model, config, columns)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    del payload["sha256"]
    torch.save(payload, path)
    assert _same_checkpoint(checkpoint.load(path), checkpoint.load(
        checkpoint.save(tmp_path / "n.pt", model, config, columns)))


class Custom:
    """Not a plain value: a weights_only load refuses it, and torch's message then advises
    an unsafe load."""


def test_no_message_suggests_an_unsafe_load(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": checkpoint.FORMAT, "obj": Custom()}, path)
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.load(path)
    assert "weights_only" not in str(error.value)


# ------------------------------------------------------------------ the disk


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "the disk is full"),
                                              (errno.EROFS, "the file system is read-only"),
                                              (errno.EACCES, "permission denied")])
def test_disk_errors_become_checkpoint_errors_and_leave_no_file(tmp_path, trained, monkeypatch,
                                                                code, reason):
    model, config, columns = trained
    path = checkpoint.save(tmp_path / "m.pt", StackedAutoencoder(7, (3,)))  # an earlier file
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)  # the write itself fails
    with pytest.raises(checkpoint.CheckpointError, match=rf"Could not write the checkpoint "
                                                         rf"{re.escape(str(path))}: {reason}"):
        checkpoint.save(path, model, config, columns)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint.tempfile, "mkstemp", fail)  # the folder refuses the file
    with pytest.raises(checkpoint.CheckpointError, match=reason):
        checkpoint.save(path, model, config, columns)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_respect_the_umask(tmp_path, trained, umask):
    old = os.umask(umask)
    try:
        path = checkpoint.save(tmp_path / "m.pt", *trained)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
