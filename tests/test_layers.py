"""The package's shape: imports flow one way (import-linter), and every module stays short."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "recsae"
MAX_LINES = 400


def test_import_contracts_hold():
    """The layers written in recsae/__init__.py and pyproject.toml's [tool.importlinter]:
    each module imports only from layers below it (so there are no cycles), and only the
    trainers' dispatch imports the speed engine, recsae._fast."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is not installed (it is in requirements.lock)"
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_runs_over_the_limit(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{path.name} has {n_lines} lines; split it by concept."


def test_fast_is_imported_only_inside_the_dispatching_functions():
    """The two dispatchers import recsae._fast inside a function (numba loads only when a
    CPU trainer runs), never at module level."""
    for path in (PACKAGE / "training.py", PACKAGE / "article.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("recsae._fast"), path.name


def test_every_module_is_in_a_layer():
    """A new module must be placed in the layer contract, or it escapes the check."""
    text = (ROOT / "pyproject.toml").read_text()
    layers = text[text.index("layers = ["):text.index("]", text.index("layers = ["))]
    for path in _modules():
        if path.parent != PACKAGE or path.name == "__init__.py":
            continue
        assert f"recsae.{path.stem}" in layers, f"recsae.{path.stem} is in no layer"
