"""Seeds and the device: the two pieces of global state a training run depends on.

One place decides the device (:func:`get_device`) so no model or notebook hard-codes
``.cuda()``; one place seeds every random generator (:func:`seed_everything`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels.

    Args:
        seed: any non-negative integer.
        deterministic: also call ``torch.use_deterministic_algorithms(True, warn_only=True)``
            (CPU runs are then repeatable bit for bit on the same machine and torch
            version; ``warn_only`` keeps GPU ops without a deterministic kernel usable).

    Returns:
        A fresh ``torch.Generator`` seeded with ``seed``, for code that prefers an explicit
        generator to the global one.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}.")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeding the legacy global state is the point here
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this set before its first call to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``prefer`` if given, else CUDA when available, else CPU.

    Args:
        prefer: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device`` or None (automatic).
            Asking for CUDA on a machine without it raises ``RuntimeError``.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device} was requested but CUDA is not available.")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the ``with`` block with ``n`` torch intra-op threads, then restore the count.

    ``None`` changes nothing. One thread is the safe choice for small tensors and on a
    machine whose cores are busy with other work: torch's worker threads then wait for a
    core at every operation, which can make small steps a hundred times slower.
    """
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"thread count must be >= 1, not {n}.")
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def progress_enabled(requested: bool) -> bool:
    """Progress bars only when asked for and not disabled by ``$TQDM_DISABLE`` (CI)."""
    return requested and os.environ.get("TQDM_DISABLE", "").lower() not in {"1", "true", "yes"}


def as_float_tensor(matrix: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A float32 CPU tensor of ``matrix`` (no copy when it already is one)."""
    if isinstance(matrix, torch.Tensor):
        return matrix.detach().to("cpu", torch.float32)
    return torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
