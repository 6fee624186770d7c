"""Record the metrics a notebook reports, so `make run` can collect them.

A notebook calls :func:`record_metrics` with a flat ``{name: value}`` dict. The values are
printed rounded (stable text for nbval) and, when the runner set ``$RECSAE_METRICS_PATH``,
merged into that JSON file. Run interactively, nothing is written.
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


def metric_key(*parts: str) -> str:
    """A metric name from free-text parts: ``("AE ratings+genres", "n0")`` ->
    ``"ae_ratings_genres.n0"`` (lower case, runs of other characters become ``_``)."""
    return ".".join(re.sub(r"[^0-9a-z@]+", "_", part.lower()).strip("_") for part in parts)


def format_value(value: float | int, digits: int = 3) -> str:
    """``value`` as fixed-point text with ``digits`` decimals (integers stay integers)."""
    if isinstance(value, bool | int):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def record_metrics(metrics: Mapping[str, float | int], digits: int = 3, echo: bool = True) -> None:
    """Print ``metrics`` rounded to ``digits`` and append them to the run's metrics file.

    Args:
        metrics: flat mapping, names that explain themselves (``"as_published.global_rmse"``).
        digits: decimals kept, in print and in the file.
        echo: print one ``name: value`` line per metric.

    Returns None, so a notebook cell ending with this call shows only the printed lines.
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
    path = os.environ.get(METRICS_PATH_ENV)
    if path:
        _merge_json(Path(path), rounded)


def _merge_json(path: Path, new: Mapping[str, float | int]) -> None:
    """Update the JSON object in ``path`` with ``new``, writing atomically."""
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(current, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def metrics_markdown(metrics: Mapping[str, Mapping[str, float | int]], digits: int = 3) -> str:
    """A readable Markdown summary of ``{notebook: {metric: value}}``."""
    lines = ["# Metrics of the last `make run`", ""]
    for notebook, values in metrics.items():
        lines += [f"## {notebook}", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {name} | {format_value(v, digits)} |" for name, v in values.items()]
        lines.append("")
    return "\n".join(lines)
