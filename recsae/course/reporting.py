"""Record the metrics a notebook reports, so `make run` can collect them.

A notebook calls :func:`record_metrics` with a flat ``{name: value}`` dict. It prints
nothing: the rounded values travel in an invisible output of the cell (MIME type
:data:`METRICS_MIMETYPE`, next to an empty ``text/plain``), so the committed notebook
carries them for the book (``book/build.py``) without showing the learner a debug dump;
and when the runner set ``$RECSAE_METRICS_PATH`` they are merged into that JSON file.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

METRICS_PATH_ENV = "RECSAE_METRICS_PATH"
METRICS_MIMETYPE = "application/vnd.recsae.metrics+json"


def metric_key(*parts: str) -> str:
    """A metric name from free-text parts: ``("AE ratings+genres", "n0")`` ->
    ``"ae_ratings_genres.n0"`` (lower case, runs of other characters become ``_``)."""
    return ".".join(re.sub(r"[^0-9a-z@]+", "_", part.lower()).strip("_") for part in parts)


def format_value(value: float | int, digits: int = 3) -> str:
    """``value`` as fixed-point text with ``digits`` decimals (integers stay integers)."""
    if isinstance(value, bool | int):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def record_metrics(metrics: Mapping[str, float | int], digits: int = 3, echo: bool = False) -> None:
    """Record ``metrics`` rounded to ``digits``: in the notebook (an invisible output) and in
    the run's metrics file.

    Args:
        metrics: flat mapping, names that explain themselves (``"as_published.global_rmse"``).
        digits: decimals kept, in the notebook and in the file.
        echo: also print one ``name: value`` line per metric (for debugging).

    Returns None, so a notebook cell ending with this call shows nothing.
    """
    rounded: dict[str, float | int] = {}
    for name, value in metrics.items():
        if isinstance(value, bool | int):
            rounded[name] = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"metric {name!r} is {value}; refusing to record a non-finite value.")
            rounded[name] = round(value, digits)
    if echo:
        width = max((len(n) for n in rounded), default=0)
        for name, value in rounded.items():
            print(f"{name:<{width}}  {format_value(value, digits)}")
    _display_invisibly(rounded)
    path = os.environ.get(METRICS_PATH_ENV)
    if path:
        _merge_json(Path(path), rounded)


def _display_invisibly(rounded: Mapping[str, float | int]) -> None:
    """Attach ``rounded`` to the running notebook cell as an output nobody sees (an empty
    ``text/plain`` and the metrics under :data:`METRICS_MIMETYPE`); nothing outside IPython."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display({"text/plain": "", METRICS_MIMETYPE: dict(rounded)}, raw=True)


class MetricsFileError(ValueError):
    """A metrics/timings file that exists but does not hold a JSON object."""


def read_json_object(path: Path) -> dict:
    """The JSON object in ``path``, or ``{}`` if the file does not exist.

    Raises :class:`MetricsFileError` (naming the file) if it exists but does not parse as a
    JSON object: merging into it would silently drop what it held.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetricsFileError(
            f"{path} is not valid JSON ({exc}); it may be truncated by an interrupted write. "
            f"Delete it or fix it, then run again.") from None
    if not isinstance(value, dict):
        raise MetricsFileError(f"{path} holds a JSON {type(value).__name__}, not an object; "
                               f"delete it or fix it, then run again.")
    return value


def _new_file_mode() -> int:
    """The permission bits ``open(path, "w")`` gives a new file under the current umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old content or the new, never a
    truncated file: a temporary file in the same folder, then :func:`os.replace`.

    The file keeps the permissions of the file it replaces, or gets those of a plainly
    created file (the umask), not :func:`tempfile.mkstemp`'s private 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _merge_json(path: Path, new: Mapping[str, float | int]) -> None:
    """Update the JSON object in ``path`` with ``new``, writing atomically."""
    current = read_json_object(path)
    current.update(new)
    write_text_atomic(path, json.dumps(current, indent=2, sort_keys=True) + "\n")


def metrics_markdown(metrics: Mapping[str, Mapping[str, float | int]], digits: int = 3) -> str:
    """A readable Markdown summary of ``{notebook: {metric: value}}``."""
    lines = ["# Metrics of the last `make run`", ""]
    for notebook, values in metrics.items():
        lines += [f"## {notebook}", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {name} | {format_value(v, digits)} |" for name, v in values.items()]
        lines.append("")
    return "\n".join(lines)
