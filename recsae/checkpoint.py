"""Save and load a trained autoencoder with everything needed to use it without the data.

A checkpoint is one ``torch.save`` file holding only plain values and tensors, so it loads
with ``torch.load(weights_only=True)`` (no pickled code runs on load):

* ``state_dict``: the model's weights (CPU tensors);
* ``model``: :meth:`StackedAutoencoder.config` (input width, hidden sizes, activation...);
* ``config``: the training configuration as a plain dict (``config_type`` says whether it
  was a :class:`~recsae.training.TrainConfig`) or None;
* ``columns``: :meth:`ColumnIndex.to_dict`, which column is which movie/genre/attribute;
* ``metadata``: any extra plain values (metrics, recipe, ...).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from recsae.model import StackedAutoencoder
from recsae.training import TrainConfig
from recsae.user_matrix import ColumnIndex

FORMAT = "recsae-autoencoder"
VERSION = 1


class CheckpointError(ValueError):
    """A file exists but is not a readable recsae checkpoint."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (CPU, eval mode) and what came with it."""

    model: StackedAutoencoder
    config: TrainConfig | dict[str, Any] | None
    columns: ColumnIndex | None
    metadata: dict[str, Any] = field(default_factory=dict)


def save(path: str | os.PathLike[str], model: StackedAutoencoder,
         config: TrainConfig | Mapping[str, Any] | None = None,
         columns: ColumnIndex | None = None,
         metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a temporary file in the same folder, then a rename,
    so a crash never leaves a half-written file under ``path``).

    Args:
        path: destination file (its folder is created).
        model: the trained model (any device; weights are stored on the CPU).
        config: a :class:`TrainConfig` or a plain dict (e.g. the as-published settings).
        columns: the column index of the matrices the model was trained on.
        metadata: extra plain values (str, int, float, bool, None, lists and dicts of them).

    Returns:
        The path written.
    """
    path = Path(path)
    if isinstance(config, TrainConfig):
        config_type, config_dict = "TrainConfig", config.to_dict()
    elif config is None:
        config_type, config_dict = None, None
    else:
        config_type, config_dict = "dict", dict(config)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.config(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "config_type": config_type,
        "config": config_dict,
        "columns": columns.to_dict() if columns is not None else None,
        "metadata": dict(metadata or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save` (``weights_only=True``) and rebuild the model.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt, or not a recsae checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises many kinds on a corrupt file
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                              f"{exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint.")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}; "
                              f"this code reads version {VERSION}.")
    try:
        model = StackedAutoencoder.from_config(payload["model"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the stored model cannot be rebuilt: {exc}") from exc
    model.eval()
    config: TrainConfig | dict[str, Any] | None = payload.get("config")
    if payload.get("config_type") == "TrainConfig" and config is not None:
        config = TrainConfig.from_dict(config)
    columns = payload.get("columns")
    return Checkpoint(model, config,
                      ColumnIndex.from_dict(columns) if columns is not None else None,
                      dict(payload.get("metadata") or {}))
