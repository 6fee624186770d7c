"""The scale benchmark's small version: every stage end to end in a child, a memory bound.

A smaller ML-1M shape (5% of the users and ratings), written in the real file format and
parsed back, split, built as CSR matrices, fitted, every test rating predicted, top-10 for
every user. The bound is on the child's peak RSS (``ru_maxrss``), never on a time.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# torch + numba + pandas take ~300 MB; the data of this shape a few MB. A dense
# [users, items] float64 copy would not break this, but a leak per epoch or per batch would.
PEAK_RSS_MB = 900


def test_every_stage_runs_in_bounded_memory():
    sys.path.insert(0, str(BENCH))
    try:
        import scale
        import scale_report
    finally:
        sys.path.remove(str(BENCH))
    result = scale.run_child(["--shape", "ml-1m", "--factor", "0.05", "--epochs", "2", "--files"])
    assert "failed" not in result, result
    assert list(result["stages"]) == ["load", "split", "build", "fit", "predict", "top10"]
    assert result["child_peak_rss_mb"] < PEAK_RSS_MB, result["child_peak_rss_mb"]
    assert result["n_test"] == round(0.1 * result["shape"]["n_ratings"])
    assert result["rating_metrics"]["n_ratings"] == result["n_test"]
    assert 0 < result["rating_metrics"]["global_rmse"] < 4  # on the 1..5 scale, finite
    assert 0 <= result["ranking_metrics"]["ndcg@10"] <= 1
    assert len(result["epoch_seconds"]) == 2
    report = {"machine": {"date": "now", "load_average_start": [1.0, 1.0, 1.0],
                          "load_average_end": [1.0, 1.0, 1.0]},
              "shapes": {"ml-1m": result, "ml-10m": {**result, "n_train": 10 * result["n_train"]}}}
    slope, points = scale_report.exponent(report)
    assert len(points) == 2 and not math.isnan(slope)
    text = scale_report.section(report, slope)
    assert text.startswith(scale_report.BEGIN) and "| ml-1m |" in text
