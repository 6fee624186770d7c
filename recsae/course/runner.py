"""Execute the tutorial notebooks headless with papermill (``make run`` / ``make notebooks``).

    python -m recsae.course.runner run                 # all notebooks -> build/notebooks/
    python -m recsae.course.runner run 04 -p epochs 5  # a subset, with parameters
    python -m recsae.course.runner refresh             # maintainers: rebuild notebooks/*.ipynb from
                                                # notebooks/src/*.py and execute them in place

Each notebook runs with the ``python3`` kernel in ``notebooks/`` as working directory; the
metrics it records (:func:`recsae.course.reporting.record_metrics`) are gathered into
``build/metrics.json`` (``{notebook_stem: {metric: value}}``) and ``build/metrics.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from recsae import download
from recsae.course.cpu_env import pin_cpu_env
from recsae.course.reporting import METRICS_PATH_ENV, metrics_markdown

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
BUILD_DIR = ROOT / "build"
# Per notebook: generous for 2 CPU cores, yet a hung kernel cannot block CI forever.
EXECUTION_TIMEOUT_S = 1800


def list_notebooks(selection: list[str] | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks in ``folder``, optionally only those whose name starts with
    one of ``selection`` (e.g. ``["01", "04"]``)."""
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        notebooks = [p for p in notebooks if any(p.name.startswith(s) for s in selection)]
        if not notebooks:
            raise SystemExit(f"No notebook in {folder} matches {selection}.")
    return notebooks


def _parse_value(text: str) -> object:
    """Command-line parameter values: JSON where it parses (numbers, true, null), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def execute(notebook: Path, output: Path, parameters: dict[str, object],
            metrics_path: Path | None) -> float:
    """Run one notebook with papermill; returns the wall time in seconds."""
    import papermill  # imported here: the package itself does not need papermill

    if metrics_path is not None:
        metrics_path.unlink(missing_ok=True)
        os.environ[METRICS_PATH_ENV] = str(metrics_path)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, kernel_name="python3",
            cwd=str(notebook.parent), execution_timeout=EXECUTION_TIMEOUT_S,
            progress_bar=False, log_output=False,
        )
    finally:
        os.environ.pop(METRICS_PATH_ENV, None)
    return time.perf_counter() - start


def sync_from_source(notebook: Path) -> None:
    """Rebuild ``notebook`` from its reviewed percent-format source ``src/<stem>.py``."""
    import jupytext

    source = notebook.parent / "src" / f"{notebook.stem}.py"
    if source.is_file():
        jupytext.write(jupytext.read(source), notebook, fmt="ipynb")


def strip_run_metadata(path: Path) -> None:
    """Drop papermill's per-cell timestamps so refreshed notebooks diff cleanly."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def _read_json(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` if there is none (or it is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsae.course.runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["run", "refresh"],
                        help="run: into build/notebooks; refresh: re-execute notebooks/ in place")
    parser.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 01 04")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="notebook parameter (repeatable)")
    parser.add_argument("--output-dir", type=Path, default=BUILD_DIR)
    args = parser.parse_args(argv)
    pin_cpu_env()  # the kernels started below inherit it: the committed outputs repeat
    parameters = {name: _parse_value(value) for name, value in args.parameter}
    if args.mode == "refresh" and parameters:
        parser.error("refresh writes the committed notebooks: run them with their defaults.")

    if args.mode == "refresh":
        for source in sorted((NOTEBOOK_DIR / "src").glob("[0-9][0-9]_*.py")):
            if not args.only or any(source.name.startswith(s) for s in args.only):
                sync_from_source(NOTEBOOK_DIR / f"{source.stem}.ipynb")
    notebooks = list_notebooks(args.only)
    try:
        for member in ("u.data", "u.item", "u.user"):
            download.fetch("ml-100k", member)
    except download.DataError as exc:
        print(f"Could not get ML-100K:\n{exc}", file=sys.stderr)
        return 2

    out_dir = args.output_dir / "notebooks"
    metrics_dir = args.output_dir / "metrics"
    out_dir.mkdir(parents=True, exist_ok=True)
    all_metrics: dict[str, dict[str, float | int]] = {}
    timings: dict[str, float] = {}
    for notebook in notebooks:
        output = notebook if args.mode == "refresh" else out_dir / notebook.name
        metrics_path = metrics_dir / f"{notebook.stem}.json"
        print(f"[{notebook.stem}] executing ...", flush=True)
        try:
            seconds = execute(notebook, output, parameters, metrics_path)
        except Exception as exc:  # papermill raises its own error types; report and stop
            print(f"[{notebook.stem}] FAILED: {exc}\nThe partial output is in {output}.",
                  file=sys.stderr)
            return 1
        if args.mode == "refresh":
            strip_run_metadata(output)
        timings[notebook.stem] = round(seconds, 1)
        all_metrics[notebook.stem] = (json.loads(metrics_path.read_text())
                                      if metrics_path.is_file() else {})
        print(f"[{notebook.stem}] done in {seconds:.1f} s", flush=True)

    summary = args.output_dir / "metrics.json"
    timings_path = args.output_dir / "timings.json"
    if args.only:  # a partial run updates the other notebooks' last results, not erases them
        all_metrics = _read_json(summary) | all_metrics
        timings = _read_json(timings_path) | timings
    all_metrics = dict(sorted(all_metrics.items()))
    timings = dict(sorted(timings.items()))
    summary.write_text(json.dumps(all_metrics, indent=2, sort_keys=True) + "\n")
    timings_path.write_text(json.dumps(timings, indent=2) + "\n")
    (args.output_dir / "metrics.md").write_text(metrics_markdown(all_metrics))
    where = NOTEBOOK_DIR if args.mode == "refresh" else out_dir
    print(f"\nExecuted notebooks: {where}\nMetrics: {summary} and "
          f"{args.output_dir / 'metrics.md'}\nTimings (s): {timings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
