"""The notebook suite's wall time -> the "Notebook suite" section of ``docs/benchmarks.md``.

    python bench/notebook_suite.py        # execute every notebook as `make run` does, with an
                                          # empty results cache (minutes)
    python bench/notebook_suite.py --timings build/timings.json   # report an earlier run

The run is the runner's own (``python -m recsae.course.runner run``, notebooks 01 -> 08 in
order, one kernel each) into a temporary folder, with ``$RECSAE_CACHE_DIR`` pointing at an
empty folder there: nothing computed before is reused, only what an earlier notebook of the
same run stored (as in a first ``make run``). The runner writes each notebook's wall time
to ``timings.json``; this script adds the machine (CPU, usable cores, the load averages
before and after: the suite is CPU-bound, so a busy machine makes it slower) and writes

* ``docs/benchmarks-notebooks.json``: the measurement;
* ``docs/benchmarks.md``: its "Notebook suite" section replaced in place (``bench/run.py``
  renders the same section from the JSON when it rewrites the whole report).

A benchmark, not a test: nothing is asserted about the times.
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

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULT_NAME = "benchmarks-notebooks.json"
SECTION = "## Notebook suite"
BUDGET_TOTAL_S, BUDGET_EACH_S = 480, 180  # the project's targets: 8 minutes, 3 per notebook


def machine() -> dict[str, Any]:
    """CPU model, usable cores, load averages, commit (no torch import needed)."""
    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], text=True,
                            capture_output=True, check=False).stdout.strip()
    dirty = bool(subprocess.run([*git, "status", "--porcelain", "recsae", "notebooks"], text=True,
                                capture_output=True, check=False).stdout.strip())
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "commit": commit, "uncommitted_changes": dirty,
            "python": platform.python_version()}


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of every finished, reaped descendant of this process: a
    notebook's kernel and the worker processes it started (they are reaped at its exit)."""
    import resource  # POSIX

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite() -> dict[str, Any]:
    """Execute every notebook with the runner and an empty results cache; the measurement.

    One runner process per notebook, in order, sharing the output folder and the cache (as
    one ``make run`` does), so that each notebook's CPU time can be read as well as its
    wall time: on a shared machine the wall time grows with the load, the CPU time hardly.
    """
    info = machine()
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                   if not p.name.endswith(".interrupted.ipynb"))
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RECSAE_CACHE_DIR": str(Path(tmp) / "cache")}
        info["load_average_start"] = load_average()
        start = time.perf_counter()
        for name in names:
            before = _children_cpu_seconds()
            subprocess.run([sys.executable, "-m", "recsae.course.runner", "run", name[:2],
                            "--output-dir", tmp], check=True, cwd=ROOT, env=env)
            cpu[name] = round(_children_cpu_seconds() - before, 1)
        info["wall_seconds"] = round(time.perf_counter() - start, 1)
        info["load_average_end"] = load_average()
        info["per_notebook_seconds"] = json.loads((Path(tmp) / "timings.json").read_text())
    info["per_notebook_cpu_seconds"] = cpu
    info["source"] = "python bench/notebook_suite.py (runner, empty results cache)"
    return info


def from_timings(path: Path) -> dict[str, Any]:
    """The measurement of an earlier ``make run`` (its ``timings.json``); load unknown."""
    info = machine()
    info["date"] = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime(
        "%Y-%m-%d %H:%M UTC")
    info["per_notebook_seconds"] = json.loads(path.read_text())
    info["source"] = f"{path.name} of an earlier run (results cache state and load unknown)"
    return info


def section_lines(result: dict[str, Any]) -> list[str]:
    """The "Notebook suite" section's body: a table, the total, the machine and its load."""
    per = result["per_notebook_seconds"]
    total = sum(per.values())
    lines = [f"Measured by {result['source']} on {result['date']}, commit "
             f"`{result.get('commit') or '?'}`"
             + (" with uncommitted changes" if result.get("uncommitted_changes") else "")
             + f": {result['cpu']}, {result['usable_cores']} usable cores.", ""]
    if result.get("load_average_start") is not None:
        lines += [f"Load averages (1, 5, 15 min) at the start {result['load_average_start']}, at "
                  f"the end {result['load_average_end']}: the notebooks use up to 2 cores, so "
                  "a load above that means other work shared the machine and slowed them.", ""]
    cpu = result.get("per_notebook_cpu_seconds", {})
    extra = (lambda cell: f" {cell} |") if cpu else (lambda cell: "")
    lines += ["| notebook | wall time (s) | minutes |" + extra("CPU time (s)"),
              "|---|---|---|" + extra("---")]
    lines += [f"| `{name}` | {seconds:.1f} | {seconds / 60:.1f} |"
              + extra(f"{cpu[name]:.1f}" if name in cpu else "–")
              for name, seconds in sorted(per.items())]
    lines += [f"| **total** | **{total:.1f}** | **{total / 60:.1f}** |"
              + extra(f"**{sum(cpu.values()):.1f}**"), ""]
    if cpu:
        lines += ["CPU time: user + system seconds of the notebook's kernel and the worker "
                  "processes it started. It hardly depends on the load; on an idle 2-core "
                  "machine a notebook's wall time is about its CPU time, or half of it where "
                  "it trains on 2 workers (notebooks 4-6).", ""]
    over = [name for name, s in per.items() if s > BUDGET_EACH_S]
    lines.append(f"Targets: the whole suite under {BUDGET_TOTAL_S / 60:.0f} minutes "
                 f"({'met' if total < BUDGET_TOTAL_S else 'not met'}), no notebook over "
                 f"{BUDGET_EACH_S / 60:.0f} minutes ("
                 + (f"not met: {', '.join(over)}" if over else "met") + ").")
    if result.get("note"):
        lines.append(result["note"])
    if "wall_seconds" in result:
        lines.append(f"The runner's whole command took {result['wall_seconds']:.1f} s "
                     "(kernel starts and the data check included).")
    return lines + [""]


def replace_section(markdown: str, body: list[str]) -> str:
    """``markdown`` with the body of its "Notebook suite" section replaced (appended if none)."""
    block = "\n".join([SECTION, "", *body])
    if SECTION not in markdown:
        return markdown.rstrip("\n") + "\n\n" + block
    head, rest = markdown.split(SECTION, 1)
    after = rest.find("\n## ")
    return head + block + ("\n" + rest[after + 1:] if after >= 0 else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timings", type=Path, help="report this timings.json, run nothing")
    parser.add_argument("--output", type=Path, default=DOCS, help="folder of benchmarks.md")
    parser.add_argument("--note", default="", help="a sentence for the report (e.g. the load "
                        "seen during an earlier run that --timings reports)")
    args = parser.parse_args(argv)
    result = from_timings(args.timings) if args.timings else run_suite()
    if args.note:
        result["note"] = args.note
        if args.timings:
            result["source"] = "the timings of an earlier run (described below)"
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / RESULT_NAME).write_text(json.dumps(result, indent=2) + "\n")
    report = args.output / "benchmarks.md"
    text = report.read_text() if report.is_file() else "# Benchmarks\n"
    report.write_text(replace_section(text, section_lines(result)))
    print("\n".join(section_lines(result)))
    print(f"[bench] wrote {args.output / RESULT_NAME} and the section in {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
