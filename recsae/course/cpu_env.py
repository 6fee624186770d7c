"""Environment settings that make CPU results the same on every x86-64 machine.

MKL (matrix products, ``torch.sqrt``), PyTorch's own vectorised kernels and oneDNN each pick
code for the processor they find: AVX-512 on one machine, AVX2 on another, a vendor-specific
path on a third. Each rounds a little differently, and training amplifies the difference
until printed metrics and top-10 lists change. Pinning all three to their AVX2 code (which
nearly every x86-64 server and desktop CPU of the last decade runs), and one thread, makes
a run repeat bit for bit across machines, so the committed notebook outputs hold on CI.

The variables must be set before torch is first imported: the root ``conftest.py``, the
notebook runner (for the kernels it starts) and ``bench/run.py`` call :func:`pin_cpu_env`.
Interactive sessions are unaffected (their numbers may then differ in the last digits).
This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import os
import platform
from collections.abc import MutableMapping
from pathlib import Path

PINNED_CPU_ENV: dict[str, str] = {
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: its AVX2 code
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised CPU kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (mkldnn) kernels
    "OMP_NUM_THREADS": "1",  # sums split over threads round differently
}


def _cpu_has_avx2_and_fma(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU lists the ``avx2`` and ``fma`` flags (Linux; False where unknown).

    Pinning AVX2 kernels on a CPU without them would crash with an illegal instruction:
    torch trusts ``ATEN_CPU_CAPABILITY`` without checking."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return {"avx2", "fma"} <= flags
    return False


def pin_cpu_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each of :data:`PINNED_CPU_ENV` in ``environ`` (default ``os.environ``) unless it
    is set already. The instruction-set variables only on x86-64 CPUs with AVX2 and FMA,
    where these libraries dispatch by instruction set (elsewhere results may differ in the
    last bits); the thread count everywhere.

    Returns:
        The variables it set.
    """
    environ = os.environ if environ is None else environ
    pinned = dict(PINNED_CPU_ENV)
    if platform.machine().lower() not in {"x86_64", "amd64"} or not _cpu_has_avx2_and_fma():
        pinned = {"OMP_NUM_THREADS": pinned["OMP_NUM_THREADS"]}  # threads matter anywhere
    added = {k: v for k, v in pinned.items() if k not in environ}
    environ.update(added)
    return added
