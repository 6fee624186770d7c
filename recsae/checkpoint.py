"""Save and load a trained autoencoder with everything needed to use it without the data.

A checkpoint is one ``torch.save`` file holding only plain values and tensors, so it loads
with ``torch.load(weights_only=True)`` (no pickled code runs on load):

* ``state_dict``: the model's weights (CPU tensors);
* ``model``: :meth:`StackedAutoencoder.config` (input width, hidden sizes, activation...);
* ``config``: the training configuration as a plain dict (``config_type`` says whether it
  was a :class:`~recsae.training.TrainConfig`) or None;
* ``columns``: :meth:`ColumnIndex.to_dict`, which column is which movie/genre/attribute;
* ``metadata``: any extra plain values (metrics, recipe, ...);
* ``sha256``: a SHA-256 of all of the above (the tensors' bytes and the JSON of the rest),
  checked on load, so that a damaged byte is a :class:`CheckpointError`, never a silently
  different model.

:func:`save` refuses what could not be loaded back (NumPy arrays or other objects in the
metadata; NumPy scalars are stored as Python numbers) and a column index that does not fit
the model, and reports a full disk or a read-only folder as a :class:`CheckpointError`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsae.model import StackedAutoencoder
from recsae.training import TrainConfig
from recsae.user_matrix import ColumnIndex

FORMAT = "recsae-autoencoder"
VERSION = 2  # 2 added the "sha256" checksum; version 1 files (without one) still load
_PLAIN = (type(None), bool, int, float, str)


class CheckpointError(ValueError):
    """A file exists but is not a readable recsae checkpoint."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt model (CPU, eval mode) and what came with it."""

    model: StackedAutoencoder
    config: TrainConfig | dict[str, Any] | None
    columns: ColumnIndex | None
    metadata: dict[str, Any] = field(default_factory=dict)


def plain(value: Any, where: str = "metadata") -> Any:
    """``value`` as plain Python values a ``weights_only`` load reads back: str, int, float,
    bool, None, and lists, tuples and str-keyed dicts of them. NumPy scalars become Python
    numbers (``np.float32(0.5)`` -> ``0.5``); anything else is refused.

    Raises:
        TypeError: naming where the value sits (``metadata['scores'][2]``) and how to fix it.
    """
    if isinstance(value, np.generic) and value.dtype.kind in "biufU":
        return value.item()
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where} has the non-string key {bad[0]!r}; checkpoint dicts "
                            "need str keys (e.g. str(key)).")
        return {str(k): plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise TypeError(f"{where} is a {type(value).__name__}; a checkpoint stores only str, int, "
                    "float, bool, None and lists/dicts of them. Convert it first (an array: "
                    ".tolist(); a number: float(x) or int(x); a path: str(p)).")


def content_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a checkpoint's content: every field but ``sha256`` itself, the
    state tensors by name, dtype, shape and bytes, the rest as sorted-key JSON."""
    digest = hashlib.sha256()
    rest = {k: v for k, v in payload.items() if k not in ("state_dict", "sha256")}
    digest.update(json.dumps(rest, sort_keys=True).encode())
    for name in sorted(payload["state_dict"]):
        tensor = payload["state_dict"][name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: Path, exc: OSError) -> CheckpointError:
    reason = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
              errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
              errno.EPERM: "permission denied"}.get(exc.errno or 0, "the write failed")
    return CheckpointError(f"Could not write the checkpoint {path}: {reason} ({exc}). Nothing "
                           "was written there (an earlier file at that path is unchanged); free "
                           "some space or choose a writable folder, then save again.")


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
        metadata: extra plain values (str, int, float, bool, None, lists and dicts of them;
            NumPy scalars are stored as the equal Python numbers).

    Returns:
        The path written (with the permissions of a new file under the current umask).

    Raises:
        TypeError: a value a ``weights_only`` load could not read back (see :func:`plain`),
            or a model, config or columns of the wrong kind.
        ValueError: ``columns`` describes another number of columns than the model's inputs.
        CheckpointError: the disk is full, the folder read-only or not writable (nothing is
            left under ``path``; an earlier file there is unchanged).
    """
    path = Path(path)
    if not isinstance(model, StackedAutoencoder):
        raise TypeError(f"model must be a StackedAutoencoder, not a {type(model).__name__}.")
    if columns is not None and not isinstance(columns, ColumnIndex):
        raise TypeError(f"columns must be a ColumnIndex or None, not a {type(columns).__name__}.")
    if columns is not None and columns.n_columns != model.n_inputs:
        raise ValueError(f"The column index describes {columns.n_columns} columns, the model "
                         f"takes {model.n_inputs} inputs: pass the ColumnIndex of the matrices "
                         "the model was trained on.")
    if isinstance(config, TrainConfig):
        config_type, config_dict = "TrainConfig", plain(config.to_dict(), "config")
    elif config is None:
        config_type, config_dict = None, None
    elif isinstance(config, Mapping):
        config_type, config_dict = "dict", plain(dict(config), "config")
    else:
        raise TypeError(f"config must be a TrainConfig, a dict or None, not a "
                        f"{type(config).__name__}.")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, not a {type(metadata).__name__}.")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.config(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "config_type": config_type,
        "config": config_dict,
        "columns": columns.to_dict() if columns is not None else None,
        "metadata": plain(dict(metadata or {})),
    }
    payload["sha256"] = content_hash(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)  # in memory first: disk errors then surface as OSError
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp made it 0600
        os.replace(tmp_name, path)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    return path


def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save` (``weights_only=True``), verify its
    checksum and rebuild the model.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt (a changed byte), or not a recsae
            checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        with zipfile.ZipFile(path) as archive:  # torch's format: a zip of CRC-32ed records
            damaged = archive.testzip()
        if damaged is not None:
            raise CheckpointError(f"its record {damaged} fails its CRC-32 check")
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler raises many kinds on a corrupt file
        # torch's own message may advise an unsafe load; name the error only.
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                              f"{exc if isinstance(exc, CheckpointError) else type(exc).__name__}"
                              ". Restore it from a backup or save the "
                              "model again.") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint.")
    version = payload.get("version")
    if type(version) is not int or version not in (1, VERSION):
        raise CheckpointError(f"{path} has checkpoint version {version!r}; this code reads "
                              f"versions 1 and {VERSION}.")
    try:
        intact = version == 1 or payload.get("sha256") == content_hash(payload)
    except Exception:  # a damaged field that cannot even be hashed
        intact = False
    if not intact:
        raise CheckpointError(f"{path} is corrupt: its content does not match the checksum "
                              "stored in it (a damaged byte?). Restore it from a backup or save "
                              "the model again.")
    try:
        model = StackedAutoencoder.from_config(payload["model"])
        model.load_state_dict(payload["state_dict"])
        model.eval()
        config: TrainConfig | dict[str, Any] | None = payload.get("config")
        if payload.get("config_type") == "TrainConfig" and config is not None:
            config = TrainConfig.from_dict(config)
        columns = payload.get("columns")
        return Checkpoint(model, config,
                          ColumnIndex.from_dict(columns) if columns is not None else None,
                          dict(payload.get("metadata") or {}))
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the stored model cannot be rebuilt: {exc}") from exc
