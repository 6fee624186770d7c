"""Per-fold search (recsae.search): never reads a test file, runs end to end, reproducible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("myfm")

from recsae import data, search
from recsae.search import QUICK_GRID, evaluate_fold, search_fold


@pytest.fixture
def no_test_files(shared_data, monkeypatch):
    """Any attempt to fetch or parse a ``*.test`` ratings file raises."""
    fetch, read = data.fetch, data._read_ratings

    def guarded_fetch(dataset, name, *args, **kwargs):
        if str(name).endswith(".test"):
            raise AssertionError(f"the search fetched a test file: {name}")
        return fetch(dataset, name, *args, **kwargs)

    def guarded_read(path, spec):
        if str(path).endswith(".test"):
            raise AssertionError(f"the search read a test file: {path}")
        return read(path, spec)

    monkeypatch.setattr(data, "fetch", guarded_fetch)
    monkeypatch.setattr(data, "_read_ratings", guarded_read)


@pytest.fixture(scope="module")
def quick_fold1(shared_data) -> dict:
    return search_fold(1, QUICK_GRID)


def test_search_never_reads_the_test_file(no_test_files):
    result = search_fold(2, QUICK_GRID)
    assert set(result["chosen"]) == set(search.FAMILIES)
    # The guard is live: the evaluation (which must read u2.test) is refused under it.
    with pytest.raises(AssertionError, match="test file"):
        evaluate_fold(2, result)


def test_search_is_reproducible_under_a_seed(quick_fold1):
    again = search_fold(1, QUICK_GRID)
    assert again["chosen"] == quick_fold1["chosen"]
    assert again["candidates"] == quick_fold1["candidates"]


def test_blend_weights_come_from_the_validation_split(quick_fold1):
    chosen = quick_fold1["chosen"]
    assert chosen["I-AutoRec"]["weights"] == {"intercept": 0.0, "autorec0": 1.0}
    best = chosen[search.BEST_FAMILY]
    assert any(m.startswith("bfm") for m in best["weights"])
    # The best blend is never worse on validation than a member it could have used alone.
    table = pd.DataFrame(quick_fold1["candidates"])
    assert best["cv_valid_rmse"] == pytest.approx(table["cv_valid_rmse"].min())
    assert best["valid_rmse"] <= min(quick_fold1["member_valid_rmse"].values()) + 1e-9


def test_quick_run_end_to_end(tmp_path, shared_data):
    module = tmp_path / "tuned.json"
    assert search.main(["--quick", "--folds", "1", "--output-dir", str(tmp_path),
                        "--module-path", str(module)]) == 0
    for name in ("grid.json", "validation.csv", "chosen.json", "test.csv", "results.md",
                 "autorec_grid.csv", "fold1.json"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "grid.json").read_text())["bfm_iter"] == QUICK_GRID.bfm_iter
    test = pd.read_csv(tmp_path / "test.csv")
    assert set(test["model"]) == set(search.FAMILIES)
    assert np.all((test["rmse"] > 0.8) & (test["rmse"] < 1.3))
    stored = json.loads(module.read_text())
    assert "--quick" in stored["command"]
    assert {r["model"] for r in stored["test_results"]} == set(search.FAMILIES)
    assert set(stored["chosen"]) == {"1"}
    # --collect rebuilds the same outputs from the fold records, computing nothing.
    again = tmp_path / "again.json"
    assert search.main(["--quick", "--collect", "--output-dir", str(tmp_path),
                        "--module-path", str(again)]) == 0
    assert json.loads(again.read_text()) == stored


def test_committed_choices_match_the_families():
    from recsae import tuned

    folds = sorted(tuned.CHOSEN)
    assert folds == ["1", "2", "3", "4", "5"]
    for fold in folds:
        assert set(tuned.CHOSEN[fold]["chosen"]) == set(search.FAMILIES)
    assert {(r["fold"], r["model"]) for r in tuned.TEST_RESULTS} == {
        (f, m) for f in folds for m in search.FAMILIES}


def test_summary_table_mean_and_u1():
    rows = [{"fold": str(f), "model": "m", "rmse": r, "mae": 0.7, "seconds": 1.0}
            for f, r in ((1, 0.9), (2, 0.8))]
    table = search.summary_table(rows)
    assert table.loc["m", "rmse_u1"] == 0.9
    assert table.loc["m", "rmse_mean"] == pytest.approx(0.85)
    assert table.loc["m", "rmse_std"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
