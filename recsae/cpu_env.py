"""Environment settings that make CPU results the same on every x86-64 machine.

MKL (matrix products, ``torch.sqrt``), PyTorch's own vectorised kernels and oneDNN each pick
code for the processor they find: AVX-512 on one machine, AVX2 on another, a vendor-specific
path on a third. Each rounds a little differently, and training amplifies the difference
until printed metrics and top-10 lists change. Pinning all three to their AVX2 code (which
every x86-64 CPU of the last decade runs), and one thread, makes a run repeat bit for bit
across machines, so the committed notebook outputs hold on CI.

The variables must be set before torch is first imported: ``tests/conftest.py``, the
notebook runner (for the kernels it starts) and ``bench/run.py`` call :func:`pin_cpu_env`.
Interactive sessions are unaffected (their numbers may then differ in the last digits).
This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import os
import platform
from collections.abc import MutableMapping

PINNED_CPU_ENV: dict[str, str] = {
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: its AVX2 code
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (mkldnn) kernels
    "OMP_NUM_THREADS": "1",  # sums split over threads round differently
}


def pin_cpu_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each of :data:`PINNED_CPU_ENV` in ``environ`` (default ``os.environ``) unless it
    is set already; only on x86-64, where these libraries dispatch by instruction set.

    Returns:
        The variables it set.
    """
    environ = os.environ if environ is None else environ
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return {}
    added = {k: v for k, v in PINNED_CPU_ENV.items() if k not in environ}
    environ.update(added)
    return added
