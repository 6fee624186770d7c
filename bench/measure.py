"""How the benchmarks measure: wall time, peak memory, spreads, profiles, numba compile time.

Shared by :mod:`stages` (the measurements) and ``run.py`` (the CLI). Torch-free at import:
``run.py`` pins the CPU environment before anything imports torch.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
TESTS_DIR = ROOT / "tests"
N_RATING_COLUMNS = 1682  # ML-100K movies: the rating columns of the u1 matrices


def use_offline_mirror() -> None:
    """Point the data layer at the verified local copies when nothing else is configured
    (as tests/conftest.py does for the tests)."""
    if os.environ.get("RECSAE_DATA_MIRROR"):
        return
    for candidate in (Path("/work/shared/data"), ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            os.environ["RECSAE_DATA_MIRROR"] = candidate.as_uri()
            return


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not on Windows; Linux and macOS have one or the other

    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes vs KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min, max and count of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def python_profile(fn: Callable[[], Any], top: int = 2) -> str:
    """The ``top`` functions by own time in one call of ``fn``, as a short text."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    parts = []
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = name if filename == "~" else f"{Path(filename).name}:{line} {name}"
        parts.append(f"{where} ({calls} calls, {100 * own / total:.0f}% of {total:.2f} s)")
    return "; ".join(parts)


def torch_profile(fn: Callable[[], Any], top: int = 3, cuda: bool = False) -> str:
    """The ``top`` torch operators by self CPU time in one call of ``fn``; with ``cuda``,
    also the GPU's busy time against the wall time (how much the GPU waits)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        fn()
    wall_us = (time.perf_counter() - start) * 1e6
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    text = "; ".join(f"{e.key} ({e.count} calls, {100 * e.self_cpu_time_total / total:.0f}%)"
                     for e in events[:top])
    if cuda:
        gpu_us = sum(getattr(e, "self_device_time_total", 0.0) for e in events)
        launches = sum(e.count for e in events if e.key.startswith("cudaLaunchKernel"))
        text += (f"; GPU busy {gpu_us / 1e3:.0f} ms of {wall_us / 1e3:.0f} ms wall, "
                 f"{launches} kernel launches")
    return text


def numba_compile_seconds(sparse: bool = False) -> dict[str, float]:
    """Seconds for ``import numba`` and compiling the as-published kernels
    (:func:`recsae._fast.kernels.compile_all`), or with ``sparse`` the corrected trainer's
    (:mod:`recsae._fast.sparse`, :mod:`recsae._fast.flat_optim`: a one-epoch `fit` of a tiny
    matrix), in fresh interpreters sharing an empty numba cache: compiled the first time,
    loaded from the on-disk cache the second (what every later run of the trainer pays)."""
    work = ("from recsae._fast import kernels; kernels.compile_all()" if not sparse else
            "from recsae._fast import flat_optim, sparse; from recsae.training import "
            "TrainConfig, fit; fit(np.full((6, 6), 3, dtype=np.float32), 4, "
            "TrainConfig(hidden=(3,), epochs=1, batch_size=4, val_fraction=0.3))")
    code = ("import json, time, numpy as np; from recsae import runtime; "
            "runtime.seed_everything(0); "  # torch's one-off imports, outside the timing
            "t = time.perf_counter(); import numba; i = time.perf_counter() - t; "
            f"t = time.perf_counter(); {work}; "
            "print(json.dumps([i, time.perf_counter() - t]))")
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for key in ("first", "cached"):
            out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                                 env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True,
                                 text=True).stdout
            result["import_s"], result[f"{key}_compile_s"] = json.loads(out.splitlines()[-1])
    return result
