"""Speed and memory benchmarks of the pipeline -> ``docs/benchmarks.md`` and ``.json``.

    python bench/run.py                  # full measurement (a few minutes) -> docs/
    python bench/run.py --quick          # a few seconds, for CI -> build/bench-quick/
    python bench/run.py --notebooks      # also execute every notebook (minutes)
    python bench/run.py --device cuda    # the corrected trainer on a GPU (never required)
    python bench/run.py --scale          # synthetic ML-1M..ML-25M shapes end to end, one core
                                         # (tens of minutes; bench/scale.py, scale_report.py)
    python bench/run.py --gpu-only --output DIR   # on a GPU machine: only the fit stage
                                         # -> DIR/benchmarks-gpu.json; copied into docs/, the
                                         # next full run folds it into its report (a copy of
                                         # the tree without git: set RECSAE_BENCH_COMMIT)

Benchmarks, not tests: nothing here asserts a wall time. What *is* asserted are the
equalities that make a speed-up meaningful (the vectorised matrices equal both loop
references; the fast as-published trainer's weights equal the plain autograd loop's).

Each stage runs in a fresh Python process (``--stage NAME``), so its peak resident memory
(``VmHWM``) is its own. Every time is compared with a reference run *in the same process*,
interleaved where possible: the machine may be shared, so ratios are steadier than seconds.
Each number is reported as the median of its runs with the min-max spread.

This file is the CLI (arguments, one child process per stage, the machine's description);
``stages.py`` holds the measurements, ``measure.py`` the timing and memory helpers,
``report.py`` renders ``benchmarks.md``, and ``references.py`` is the article-style
matrix builder that the vectorised one is timed against.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/'s modules (this script's folder, first on sys.path) import torch only when run.
from measure import BENCH_DIR, ROOT, TESTS_DIR, peak_rss_mb, timed, use_offline_mirror
from report import markdown
from stages import STAGE_FUNCTIONS, STAGES

from recsae.course.cpu_env import pin_cpu_env  # torch-free: imported before any torch import


def run_stage_here(name: str, quick: bool, device: str) -> dict[str, Any]:
    """Run one stage in this process; adds its wall time and peak RSS."""
    sys.path[:0] = [str(BENCH_DIR), str(TESTS_DIR)]  # the references live there
    use_offline_mirror()
    os.environ.setdefault("TQDM_DISABLE", "1")
    seconds, result = timed(lambda: STAGE_FUNCTIONS[name](quick, device))
    result["stage_seconds"] = seconds
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def run_stage_in_child(name: str, quick: bool, device: str) -> dict[str, Any]:
    """Run one stage in a fresh interpreter so that its peak memory is its own."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--stage", name,
                   "--stage-output", str(out), "--device", device]
        if quick:
            command.append("--quick")
        print(f"[bench] {name} ...", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        result = json.loads(out.read_text())
        print(f"[bench] {name} done in {time.perf_counter() - start:.1f} s", flush=True)
        return result


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, library versions and the torch thread settings."""
    import numpy as np
    import pandas as pd
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=False).stdout.strip()
        # Measured code that differs from the commit (recsae/ or bench/ edited, not committed).
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "recsae", "bench"],
                                    cwd=ROOT, text=True, capture_output=True,
                                    check=False).stdout.strip())
    except OSError:
        commit, dirty = "", False
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "pandas": pd.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        # A copy of the tree elsewhere (a lent GPU machine) is told its commit by the caller.
        "commit": os.environ.get("RECSAE_BENCH_COMMIT") or commit,
        "uncommitted_changes": dirty and not os.environ.get("RECSAE_BENCH_COMMIT"),
    }


def notebook_timings(run_them: bool) -> dict[str, Any]:
    """The notebook suite's wall time: executed now with ``--notebooks``, else read from
    ``build/timings.json`` (written by ``make run``) when present."""
    if run_them:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "recsae.course.runner", "run", "--output-dir", tmp],
                           check=True, cwd=ROOT)
            total = time.perf_counter() - start
            per = json.loads((Path(tmp) / "timings.json").read_text())
        return {"source": "executed by bench/run.py --notebooks", "total_seconds": total,
                "per_notebook_seconds": per}
    path = ROOT / "build" / "timings.json"
    if not path.is_file():
        return {"source": "not measured (run `make run` or pass --notebooks)"}
    per = json.loads(path.read_text())
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"source": f"build/timings.json (from `make run` or `make notebooks`, {modified})",
            "total_seconds": sum(per.values()), "per_notebook_seconds": per}


def _load_gpu_report(output: Path) -> dict[str, Any] | None:
    """``benchmarks-gpu.json`` beside the report, if a ``--gpu-only`` run left one there."""
    path = output / "benchmarks-gpu.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: fewer runs, subsets, a few epochs (CI)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for benchmarks.md/.json (default: docs/, or "
                             "build/bench-quick/ with --quick)")
    parser.add_argument("--notebooks", action="store_true",
                        help="also execute the notebook suite and time it (minutes)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="extra device for the corrected trainer (auto: CUDA if present)")
    parser.add_argument("--gpu-only", action="store_true",
                        help="only the fit stage with CUDA -> <output>/benchmarks-gpu.json, which "
                             "a later full run in docs/ folds into its report")
    parser.add_argument("--scale", action="store_true",
                        help="the scale benchmark: synthetic MovieLens shapes, end to end "
                             "(docs/benchmarks-scale.json and the Scale section of benchmarks.md)")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--stage-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage:  # child process: one stage, result as JSON
        result = run_stage_here(args.stage, args.quick, args.device)
        args.stage_output.write_text(json.dumps(result))
        return 0

    pin_cpu_env()  # the same CPU code paths as the tests and the committed notebooks
    use_offline_mirror()
    output = args.output or (ROOT / "build" / "bench-quick" if args.quick else ROOT / "docs")
    if args.scale:
        import scale_report

        return scale_report.main(["--output", str(output)])
    machine = machine_info()
    if args.gpu_only:
        import torch

        if not torch.cuda.is_available():
            parser.error("--gpu-only needs a CUDA device, and torch sees none here.")
        gpu = {"machine": machine, "fit": run_stage_in_child("fit", args.quick, "cuda")}
        output.mkdir(parents=True, exist_ok=True)
        (output / "benchmarks-gpu.json").write_text(json.dumps(gpu, indent=2) + "\n")
        print(f"[bench] wrote {output / 'benchmarks-gpu.json'}")
        return 0
    stages = {name: run_stage_in_child(name, args.quick, args.device) for name in STAGES}
    report = {
        "mode": "quick" if args.quick else "full", "quick": args.quick, "machine": machine,
        "stages": stages, "notebooks": notebook_timings(args.notebooks),
        "gpu": _load_gpu_report(output),
        "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    report["checks"] = {
        "matrices_equal_dict_loop": stages["matrices"]["equal_to_dict_loop"],
        "matrices_equal_article_style": stages["matrices"]["equal_to_article_style"],
        "as_published_equal_reference": all(e["bitwise_equal"] or e["max_abs_weight_diff"] < 1e-6
                                             for e in stages["as_published"]["equality"]),
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "benchmarks.md").write_text(markdown(report))
    if (output / "benchmarks-scale.json").is_file():  # keep the Scale section (--scale's)
        import scale_report

        scale_report.render(output)
    print(f"[bench] wrote {output / 'benchmarks.md'} and {output / 'benchmarks.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
