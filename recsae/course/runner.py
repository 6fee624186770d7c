"""Execute the tutorial notebooks headless with papermill (``make run`` / ``make notebooks``).

    python -m recsae.course.runner run                 # all notebooks -> build/notebooks/
    python -m recsae.course.runner run 04 -p epochs 5  # a subset, with parameters
    python -m recsae.course.runner refresh             # maintainers: rebuild notebooks/*.ipynb from
                                                # notebook_sources/*.py and execute them in place

Each notebook runs with the ``python3`` kernel in ``notebooks/`` as working directory; the
metrics it records (:func:`recsae.course.reporting.record_metrics`) are gathered into
``build/metrics.json`` (``{notebook_stem: {metric: value}}``), ``build/timings.json`` and
``build/metrics.md``, updated atomically as each notebook completes (the other notebooks'
last results are kept; a complete run drops those of notebooks that no longer exist).

A ``-p`` name that no selected notebook's ``parameters`` cell defines is refused (the message
lists the parameters); one that only some define goes to those only. An unknown notebook
name is refused with the list of notebooks. Exit codes: 0 done, 1 a notebook failed, 2 bad
command line or unreadable metrics file, 130 interrupted (Ctrl-C; the partial notebook is
marked and renamed ``NAME.interrupted.ipynb``).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from recsae import download
from recsae.course.cpu_env import pin_cpu_env
from recsae.course.reporting import (
    METRICS_PATH_ENV,
    MetricsFileError,
    metrics_markdown,
    read_json_object,
    write_text_atomic,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
# The reviewed jupytext sources, outside notebooks/ so a learner does not open them by mistake.
SOURCE_DIR = ROOT / "notebook_sources"
BUILD_DIR = ROOT / "build"
# Per notebook: generous for 2 CPU cores, yet a hung kernel cannot block CI forever.
EXECUTION_TIMEOUT_S = 1800
INTERRUPTED_EXIT_CODE = 130  # the shell's code for a command stopped by Ctrl-C (SIGINT)


class UsageError(ValueError):
    """A command line naming a notebook or parameter that does not exist."""


def _check_selection(selection: list[str] | None, names: list[str], folder: Path) -> None:
    """Every prefix in ``selection`` must match one of ``names`` (notebook stems)."""
    unmatched = [s for s in selection or [] if not any(n.startswith(s) or f"{n}.ipynb" == s
                                                       for n in names)]
    if unmatched:
        raise UsageError(f"No notebook in {folder} matches {', '.join(map(repr, unmatched))}. "
                         f"Available: {', '.join(names) or '(none)'}.")


def list_notebooks(selection: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The numbered notebooks in ``folder`` (default ``notebooks/``), optionally only those whose
    name starts with one of ``selection`` (e.g. ``["01", "04"]``).

    Raises :class:`UsageError`, listing the available notebooks, if a name in ``selection``
    matches none of them.
    """
    folder = NOTEBOOK_DIR if folder is None else folder
    notebooks = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb")
                       if not p.name.endswith(".interrupted.ipynb"))
    if selection:
        _check_selection(selection, [p.stem for p in notebooks], folder)
        notebooks = [p for p in notebooks if any(p.name.startswith(s) for s in selection)]
    return notebooks


def notebook_parameters(notebook: Path) -> dict[str, str]:
    """The parameters of ``notebook``: ``{name: default as source text}``, read from the
    assignments of its cell tagged ``parameters`` (``{}`` if it has none)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as exc:
                raise UsageError(f"{notebook}: the parameters cell does not parse: {exc}") from None
            found: dict[str, str] = {}
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    targets = [t for t in node.targets if isinstance(t, ast.Name)]
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    targets = [node.target] if node.value is not None else []
                else:
                    continue
                for target in targets:
                    found[target.id] = ast.unparse(node.value)
            return found
    return {}


def parameters_per_notebook(notebooks: list[Path], parameters: Mapping[str, object]
                            ) -> dict[str, dict[str, object]]:
    """``{notebook stem: the given parameters it defines}``.

    A name that no notebook of ``notebooks`` defines (a typo such as ``epoch``) raises
    :class:`UsageError`, listing each notebook's parameters; a name that only some define is
    passed to those only (papermill would otherwise inject it everywhere, unused).
    """
    defined = {nb.stem: notebook_parameters(nb) for nb in notebooks}
    unknown = [name for name in parameters if not any(name in d for d in defined.values())]
    if unknown:
        known = sorted({name for d in defined.values() for name in d})
        lines = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            lines.append(f"Unknown parameter {name!r}{hint}: no selected notebook defines it.")
        lines.append("Parameters (with their defaults):")
        for stem, names in defined.items():
            listed = ", ".join(f"{n}={v}" for n, v in names.items()) or "(none)"
            lines.append(f"  {stem}: {listed}")
        raise UsageError("\n".join(lines))
    return {stem: {n: v for n, v in parameters.items() if n in d} for stem, d in defined.items()}


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
            progress_bar=False, log_output=False, config=_kernel_config(),
        )
    finally:
        os.environ.pop(METRICS_PATH_ENV, None)
    return time.perf_counter() - start


def _kernel_config():
    """Configuration of the kernel manager papermill starts (through nbclient).

    ``transport_encryption="auto"`` has jupyter_client hand the kernel CurveZMQ keys when the
    kernelspec declares support (ipykernel's does): the kernel's local TCP traffic is then
    encrypted, and ipykernel no longer logs "Kernel is running over TCP without encryption"
    once per notebook. Without CurveZMQ in libzmq the setting would be refused, so it is
    only set where ``zmq.has("curve")``; the warning then stays, as it is then true.
    """
    import zmq
    from traitlets.config import Config

    if zmq.has("curve"):
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config()


def mark_interrupted(output: Path, rename: bool) -> Path | None:
    """Mark the partial notebook papermill left at ``output`` when a run was interrupted: a
    first markdown cell and ``metadata.recsae.interrupted`` say so, and with ``rename`` it
    moves to ``NAME.interrupted.ipynb`` so it is not mistaken for a finished run's output.
    Returns where it now is (``None`` if papermill had not written it yet)."""
    import nbformat

    if not output.is_file():
        return None
    target = output.with_name(f"{output.stem}.interrupted.ipynb") if rename else output
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # half-written JSON: keep the file, only move it aside
        if rename:
            os.replace(output, target)
        return target
    note = nbformat.v4.new_markdown_cell(
        "**INTERRUPTED RUN.** This notebook was stopped (Ctrl-C) while "
        "`python -m recsae.course.runner` executed it: the outputs below are partial, the "
        "cells after the one that was running were not executed. Run it again.")
    note.metadata["tags"] = ["recsae-interrupted"]
    nb.cells.insert(0, note)
    nb.metadata["recsae"] = {"interrupted": True,
                             "interrupted_at": datetime.now(UTC).isoformat(timespec="seconds")}
    nbformat.write(nb, target)
    if rename:
        output.unlink()
    return target


def sync_from_source(notebook: Path) -> None:
    """Rebuild ``notebook`` from its reviewed percent-format source ``src/<stem>.py``."""
    import jupytext

    source = SOURCE_DIR / f"{notebook.stem}.py"
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


def write_summary(output_dir: Path, metrics: Mapping[str, Mapping[str, float | int]],
                  timings: Mapping[str, float]) -> None:
    """Write ``metrics.json``, ``timings.json`` and ``metrics.md`` in ``output_dir``, each
    atomically (an interruption leaves the previous version, never a truncated file)."""
    metrics = dict(sorted(metrics.items()))
    write_text_atomic(output_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    write_text_atomic(output_dir / "timings.json", json.dumps(dict(sorted(timings.items())), indent=2) + "\n")
    write_text_atomic(output_dir / "metrics.md", metrics_markdown(metrics))


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

    summary = args.output_dir / "metrics.json"
    timings_path = args.output_dir / "timings.json"
    try:
        if args.mode == "refresh":
            sources = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))
            names = sorted({s.stem for s in sources} | {p.stem for p in list_notebooks()})
            _check_selection(args.only, names, NOTEBOOK_DIR)
            for source in sources:
                if not args.only or any(source.name.startswith(s) for s in args.only):
                    sync_from_source(NOTEBOOK_DIR / f"{source.stem}.ipynb")
        notebooks = list_notebooks(args.only)
        per_notebook = parameters_per_notebook(notebooks, parameters)
        # Results of earlier runs are kept and updated notebook by notebook: a run that stops
        # part-way keeps what it finished and the other notebooks' last results.
        all_metrics = read_json_object(summary)
        timings = read_json_object(timings_path)
    except (UsageError, MetricsFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in parameters:
        takers = [stem for stem, given in per_notebook.items() if name in given]
        if len(takers) < len(notebooks):
            print(f"Parameter {name!r} is passed only to {', '.join(takers)} (the other selected "
                  f"notebooks have no such parameter).", flush=True)
    try:
        for member in ("u.data", "u.item", "u.user"):
            download.fetch("ml-100k", member)
    except download.DataError as exc:
        print(f"Could not get ML-100K:\n{exc}", file=sys.stderr)
        return 2

    out_dir = args.output_dir / "notebooks"
    metrics_dir = args.output_dir / "metrics"
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    for notebook in notebooks:
        stem = notebook.stem
        output = notebook if args.mode == "refresh" else out_dir / notebook.name
        if args.mode == "run":  # no earlier run's output may pass for this run's
            output.unlink(missing_ok=True)
            (out_dir / f"{stem}.interrupted.ipynb").unlink(missing_ok=True)
        metrics_path = metrics_dir / f"{stem}.json"
        print(f"[{stem}] executing ...", flush=True)
        try:
            seconds = execute(notebook, output, per_notebook[stem], metrics_path)
        except KeyboardInterrupt:
            marked = mark_interrupted(output, rename=args.mode == "run")
            where = (f"The partial notebook, marked as interrupted, is {marked}." if marked
                     else "It had written no output yet.")
            if marked is not None and args.mode == "refresh":
                where += f" Restore the committed one with `git checkout -- {notebook}`."
            print(f"\n[{stem}] INTERRUPTED. {where}\n{_recorded(done, summary)}", file=sys.stderr)
            return INTERRUPTED_EXIT_CODE
        except Exception as exc:  # papermill raises its own error types; report and stop
            print(f"[{stem}] FAILED: {exc}\nThe partial output is in {output}.\n"
                  f"{_recorded(done, summary)}", file=sys.stderr)
            return 1
        if args.mode == "refresh":
            strip_run_metadata(output)
        try:
            all_metrics[stem] = read_json_object(metrics_path)
        except MetricsFileError as exc:
            print(f"[{stem}] FAILED: {exc}\n{_recorded(done, summary)}", file=sys.stderr)
            return 1
        timings[stem] = round(seconds, 1)
        write_summary(args.output_dir, all_metrics, timings)  # recorded as each one completes
        done.append(stem)
        print(f"[{stem}] done in {seconds:.1f} s", flush=True)

    if not args.only:  # a complete run: drop results of notebooks that no longer exist
        all_metrics = {stem: all_metrics[stem] for stem in done}
        timings = {stem: timings[stem] for stem in done}
        write_summary(args.output_dir, all_metrics, timings)
    where = NOTEBOOK_DIR if args.mode == "refresh" else out_dir
    print(f"\nExecuted notebooks: {where}\nMetrics: {summary} and "
          f"{args.output_dir / 'metrics.md'}\nTimings (s): {dict(sorted(timings.items()))}")
    return 0


def _recorded(done: list[str], summary: Path) -> str:
    if not done:
        return f"No notebook completed; {summary} is unchanged."
    return f"The metrics of {', '.join(done)} are recorded in {summary}."


if __name__ == "__main__":
    sys.exit(main())
