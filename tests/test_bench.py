"""``bench/run.py --quick`` runs end to end and its equality checks pass (no wall times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_its_report(tmp_path, shared_data):
    env = {**os.environ, "TQDM_DISABLE": "1"}
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--device", "cpu",
                    "--output", str(tmp_path)], check=True, cwd=ROOT, env=env, timeout=900)
    report = json.loads((tmp_path / "benchmarks.json").read_text())
    markdown = (tmp_path / "benchmarks.md").read_text()

    assert report["mode"] == "quick"
    assert {"cpu", "torch", "numpy", "pandas", "logical_cores"} <= set(report["machine"])
    assert set(report["stages"]) == {"pipeline", "matrices", "fit", "as_published"}
    assert all(report["checks"].values()), report["checks"]
    for stage in report["stages"].values():
        assert stage["peak_rss_mb"] > 0
    matrices = report["stages"]["matrices"]
    assert matrices["ratio_vs_dict_loop"] > 0 and matrices["ratio_vs_article_style"] > 0
    fit_runs = report["stages"]["fit"]["runs"]
    assert {"cpu_1t", "cpu_2t"} <= set(fit_runs)
    published = report["stages"]["as_published"]
    assert published["equality"][0]["max_abs_weight_diff"] < 1e-6
    assert published["ratio"] > 0
    for heading in ("## Machine", "## Matrix building", "### As-published", "## Peak resident"):
        assert heading in markdown


def test_bench_modules_import_without_torch():
    """run.py pins the CPU environment before torch loads: its modules must not import it."""
    code = ("import sys; sys.path.insert(0, 'bench'); import run, stages, report, measure; "
            "assert 'torch' not in sys.modules, 'torch imported at module level'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
