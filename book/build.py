"""Build the tutorial's website, ``build/book/``, from the committed notebooks (``make book``).

    python book/build.py                 # -> build/book/index.html
    python book/build.py --out DIR       # elsewhere

Nothing is executed and no data is needed: the pages show the outputs the notebooks were
committed with. The sources are assembled in ``build/book-work/src/``:

* ``index.md``: ``book/index.md`` with its ``{{ ... }}`` fields filled in, among them the
  headline results table, whose numbers are read from the notebooks' recorded metrics
  (the ``name  value`` lines that the outputs of :func:`recsae.course.reporting.record_metrics`);
* ``notebooks/*.ipynb``: copies of ``notebooks/[0-9][0-9]_*.ipynb``, one page each, in order;
* ``article_errors.md``: the README's section "What the article got wrong", cut out of
  README.md at build time;
* ``benchmarks.md``: a copy of ``docs/benchmarks.md`` (and the figures beside it).

Sphinx (with MyST-NB and sphinx-book-theme, configured in ``book/conf.py``) then builds the
HTML with warnings as errors: a broken internal link, a missing image or a bad directive
fails the build (all problems are listed first, ``--keep-going``).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BOOK_DIR = Path(__file__).resolve().parent
ROOT = BOOK_DIR.parent
NOTEBOOK_DIR = ROOT / "notebooks"
README = ROOT / "README.md"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
# Markdown links in the notebooks to repository files that the book has as pages.
REPO_LINKS = {"docs/benchmarks.md": "benchmarks.md", "README.md": "index.md"}
PACKAGE_DIR = ROOT / "recsae"
PUBLISHED_TABLE = "PUBLISHED_U1_RMSE"  # others' published u1.test RMSEs, defined in recsae
DEFAULT_OUT = ROOT / "build" / "book"

ERRATA_TITLE = "What the article got wrong"

# recsae.course.reporting.METRICS_MIMETYPE (read here without importing recsae and torch).
METRICS_MIMETYPE = "application/vnd.recsae.metrics+json"
# One line that record_metrics printed (before it went silent): a name, spaces, a number.
_METRIC_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.@-]+) +(?P<value>-?\d+(?:\.\d+)?)$")
_RECORD_CALL = re.compile(r"\brecord_metrics\s*\(")
_FIELD = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class HeadlineRow:
    """One row of the landing page's results table and where its numbers come from."""

    label: str
    notebook: str  # notebook stem, e.g. "04_training"
    rmse_metric: str
    article_metric: str | None = None  # the article's metric, where the notebook records it


# The README's "Headline results on u1.test": metric names as the notebooks record them.
HEADLINE_ROWS = (
    HeadlineRow("global mean (baseline)", "04_training", "global_mean.global_rmse"),
    HeadlineRow("the article's net, as published", "04_training",
                "as_published.global_rmse", "as_published.article_metric"),
    HeadlineRow("the same net, corrected", "04_training",
                "corrected.global_rmse", "corrected.article_metric"),
    HeadlineRow("I-AutoRec ensemble + MF blend, the best autoencoder here",
                "08_beyond_the_article", "best.fold1_rmse"),
    HeadlineRow("Bayesian FM + autoencoders + MF blend, tuned per fold, the best model here",
                "08_beyond_the_article", "best_overall.rmse_u1"),
)
# Others' published number, quoted next to ours (recsae's PUBLISHED_U1_RMSE).
PUBLISHED_ROW = ("GLocal-K (published; its epoch is picked on the test ratings)", "GLocal-K")


class BookError(RuntimeError):
    """The sources needed for the book are missing or not as expected."""


def list_notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered tutorial notebooks, in order."""
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise BookError(f"No notebooks/[0-9][0-9]_*.ipynb in {folder}.")
    return notebooks


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _recorded_pairs(output: dict) -> list[tuple[str, str]]:
    """``(name, value)`` pairs one output of a ``record_metrics`` cell holds: the invisible
    metrics bundle (:data:`METRICS_MIMETYPE`, values to 3 decimals) or, in notebooks run
    before record_metrics went silent, its printed ``name  value`` lines."""
    bundle = output.get("data", {}).get(METRICS_MIMETYPE)
    if isinstance(bundle, dict):
        return [(name, str(value) if isinstance(value, int) else f"{float(value):.3f}")
                for name, value in bundle.items()]
    if output.get("output_type") != "stream" or output.get("name") != "stdout":
        return []
    return [(m["name"], m["value"]) for line in _text(output.get("text", "")).splitlines()
            if (m := _METRIC_LINE.match(line.strip()))]


def recorded_metrics(notebook: Path) -> dict[str, str]:
    """The metrics a committed notebook recorded, ``{name: value as text}``, read from the
    outputs of the code cells that call ``record_metrics(...)``."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    metrics: dict[str, str] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or not _RECORD_CALL.search(_text(cell.get("source", ""))):
            continue
        for output in cell.get("outputs", []):
            for name, value in _recorded_pairs(output):
                if metrics.get(name, value) != value:
                    raise BookError(f"{notebook.name} records {name} twice, as {metrics[name]} "
                                    f"and {value}.")
                metrics[name] = value
    return metrics


def published_rmse(name: str, package: Path = PACKAGE_DIR) -> str:
    """``PUBLISHED_U1_RMSE[name]`` from the module of ``recsae`` that defines it, read from the
    source (importing recsae would load torch; the module may move)."""
    for module in sorted(package.rglob("*.py")):
        text = module.read_text(encoding="utf-8")
        if PUBLISHED_TABLE not in text:
            continue
        for node in ast.parse(text).body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if isinstance(target, ast.Name) and target.id == PUBLISHED_TABLE and node.value:
                table = ast.literal_eval(node.value)
                if name in table:
                    return f"{float(table[name]):.3f}"
    raise BookError(f"No module of recsae/ defines {PUBLISHED_TABLE}[{name!r}] (the landing page "
                    "quotes it).")


def headline_table(notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """The landing page's results table (a MyST list-table, id ``headline-table``)."""
    cache: dict[str, dict[str, str]] = {}

    def metric(stem: str, name: str) -> str:
        if stem not in cache:
            path = notebook_dir / f"{stem}.ipynb"
            if not path.is_file():
                raise BookError(f"The headline table needs {path.relative_to(ROOT)}.")
            cache[stem] = recorded_metrics(path)
        if name not in cache[stem]:
            raise BookError(f"notebooks/{stem}.ipynb records no metric {name!r} (its "
                            "record_metrics output); the landing page's headline table needs it.")
        return cache[stem][name]

    lines = [
        # A colon fence: a backtick fence's first line may hold no backticks (CommonMark).
        ":::{list-table} Headline results on `u1.test` (20,000 ratings; lower is better)",
        ":header-rows: 1",
        ":name: headline-table",
        "",
        "* - model",
        "  - RMSE",
        "  - the article's metric",
        "  - computed in",
    ]
    for row in HEADLINE_ROWS:
        number = int(row.notebook[:2])
        lines += [
            f"* - {row.label}",
            f"  - {metric(row.notebook, row.rmse_metric)}",
            f"  - {metric(row.notebook, row.article_metric) if row.article_metric else '—'}",
            f"  - [notebook {number}](notebooks/{row.notebook}.ipynb)",
        ]
    label, key = PUBLISHED_ROW
    lines += [f"* - {label}", f"  - {published_rmse(key)}", "  - —", "  - Han et al. 2021"]
    lines.append(":::")
    return "\n".join(lines)


def readme_section(title: str, readme: Path = README) -> str:
    """The body of the README's ``## {title}`` section (up to the next heading of level <= 2)."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"## {title}")
    except StopIteration:
        raise BookError(f"README.md has no section '## {title}'.") from None
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"#{1,2} ", lines[i])),
               len(lines))
    body = "\n".join(lines[start + 1:end]).strip()
    if not body:
        raise BookError(f"README.md's section '## {title}' is empty.")
    return body


def notebook_toc(notebooks: list[Path]) -> str:
    return "\n".join(f"notebooks/{path.stem}" for path in notebooks)


def fill(template: str, fields: dict[str, str]) -> str:
    """``template`` with every ``{{ name }}`` replaced; an unknown or unused field is an error."""
    used: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in fields:
            raise BookError(f"book/index.md uses an unknown field {{{{ {name} }}}}.")
        used.add(name)
        return fields[name]

    text = _FIELD.sub(replace, template)
    if unused := set(fields) - used:
        raise BookError(f"book/index.md does not use the fields {sorted(unused)}.")
    return text


def assemble(src: Path) -> None:
    """Write the book's sources into ``src`` (emptied first)."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    notebooks = list_notebooks()
    for path in notebooks:
        # Links from a notebook to the repository's docs/ point at the book's own pages.
        text = path.read_text(encoding="utf-8")
        for repo_path, page in REPO_LINKS.items():
            text = text.replace(f"](../{repo_path})", f"](../{page})")
        nb = json.loads(text)
        for cell in nb.get("cells", []):  # record_metrics' invisible outputs: data, not page
            if "outputs" in cell:
                cell["outputs"] = [o for o in cell["outputs"]
                                   if METRICS_MIMETYPE not in o.get("data", {})]
        (src / "notebooks" / path.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")

    index = fill((BOOK_DIR / "index.md").read_text(encoding="utf-8"), {
        "headline_table": headline_table(),
        "notebook_toc": notebook_toc(notebooks),
    })
    (src / "index.md").write_text(index, encoding="utf-8")

    errata = readme_section(ERRATA_TITLE)
    (src / "article_errors.md").write_text(
        f"# {ERRATA_TITLE}\n\n"
        "The article's errors that the notebooks take apart, as the project's README "
        "lists them (this page is generated from README.md when the book is built).\n\n"
        f"{errata}\n", encoding="utf-8")

    if not BENCHMARKS.is_file():
        raise BookError(f"{BENCHMARKS.relative_to(ROOT)} is missing (make bench writes it).")
    shutil.copy2(BENCHMARKS, src / "benchmarks.md")
    for figure in BENCHMARKS.parent.glob("*.png"):  # the figures benchmarks.md shows
        shutil.copy2(figure, src / figure.name)


def build(out: Path, work: Path, quiet: bool = True) -> int:
    """Assemble the sources in ``work/src`` and run Sphinx into ``work/html`` (warnings are
    errors), then move the site to ``out``; returns Sphinx's exit status.

    ``work`` also holds Sphinx's doctrees and MyST-NB's ``jupyter_execute`` folder (which
    MyST-NB always puts next to Sphinx's output folder). A failed build leaves no ``out``.
    """
    from sphinx.cmd.build import build_main

    for folder in (work, out):
        if folder.exists():
            shutil.rmtree(folder)
    assemble(work / "src")
    args = ["-b", "html", "-W", "--keep-going", "-n", "-E", "-j", "1", "-c", str(BOOK_DIR),
            "-d", str(work / "doctrees"), str(work / "src"), str(work / "html")]
    status = build_main((["-q"] if quiet else []) + args)
    if status == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(work / "html", out)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (build/book)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's progress messages")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    work = out.parent / f"{out.name}-work"
    start = time.perf_counter()
    try:
        status = build(out, work, quiet=not args.verbose)
    except BookError as error:
        print(f"make book: {error}", file=sys.stderr)
        return 1
    if status:
        print(f"make book: failed (Sphinx warnings are errors; see above). The partial site is in "
              f"{work / 'html'}.", file=sys.stderr)
        return status
    print(f"make book: {out / 'index.html'} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
