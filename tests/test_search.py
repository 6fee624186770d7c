"""Per-fold search (recsae.search, recsae.search_members): never reads a test file, runs end
to end, reproducible; its members (the day option, the kernelised autoencoder) and cache."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("myfm")

from recsae import data, search, search_members
from recsae.glocal_k import GlocalKConfig
from recsae.search import QUICK_GRID, evaluate_fold, search_fold
from recsae.search_members import MemberCache, fit_predict, member_model, select_glocal_k
from recsae.splits import validation_split


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


def test_a_cached_search_still_never_reads_the_test_file(no_test_files, tmp_path):
    search_fold(2, QUICK_GRID, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="test file"):  # the cache holds no test pairs
        evaluate_fold(2, search_fold(2, QUICK_GRID, cache_dir=tmp_path), cache_dir=tmp_path)


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


def test_each_bayes_fm_recipe_is_represented_by_its_validation_best_day_option(quick_fold1):
    members, valid_rmse = quick_fold1["members"], quick_fold1["member_valid_rmse"]
    assert members["bfm"]["use_day"] is False and members["bfm_day"]["use_day"] is True
    assert members["bfm_side_day"]["features"] == "svdpp_flipped+side"
    assert valid_rmse["bfm"] != valid_rmse["bfm_day"]  # the day changes the predictions
    for recipe, family in (("bfm", "Bayesian FM"), ("bfm_side", "Bayesian FM + side features")):
        options = [recipe, recipe + "_day"]
        best = min(options, key=valid_rmse.__getitem__)
        assert quick_fold1["variants"][recipe] == best
        assert quick_fold1["chosen"][family]["weights"] == {"intercept": 0.0, best: 1.0}
    # Only the chosen variants enter the blends.
    losers = {m for m in members if m.startswith("bfm")} - set(quick_fold1["variants"].values())
    assert all(not losers & set(row["weights"]) for row in quick_fold1["candidates"])


def test_the_kernelised_autoencoder_member_and_its_family(quick_fold1):
    spec = quick_fold1["members"]["glocal_k"]
    assert spec["kind"] == "glocal_k" and spec["refit"] is False
    assert 0 <= spec["pre_epochs"] <= QUICK_GRID.glocal_k.pre_epochs
    assert 0 <= spec["fine_epochs"] <= QUICK_GRID.glocal_k.fine_epochs
    chosen = quick_fold1["chosen"]
    assert chosen["Kernelised autoencoder (GLocal-K style)"]["weights"] == {
        "intercept": 0.0, "glocal_k": 1.0}
    assert set(chosen[search.AE_FAMILY]["weights"]) == {"intercept", "autorec0", "glocal_k"}
    assert "glocal_k" not in chosen["I-AutoRec ensemble + MF"]["weights"]
    search.blend_config(chosen["I-AutoRec ensemble + MF"], quick_fold1["members"])  # builds


def test_glocal_k_without_refit_is_the_selected_model_bit_for_bit(shared_data):
    base = search.load_base(1).head(6000)
    config = GlocalKConfig(hidden=8, kernel_dim=2, iters_per_epoch=2, pre_epochs=3, fine_epochs=2)
    spec, valid_pred, _ = select_glocal_k(base, config, False, 0.1, 0)
    train = search_members.training_part(spec, base, 0.1, 0)
    fit_part, valid = validation_split(base, 0.1, 0)
    pd.testing.assert_frame_equal(train, fit_part)
    again = member_model(spec).fit(train).predict(valid["user_id"], valid["item_id"])
    np.testing.assert_array_equal(again, valid_pred)
    assert search_members.training_part({**spec, "refit": True}, base, 0.1, 0) is base


def test_a_day_member_predicts_with_the_pairs_timestamps(shared_data):
    base = search.load_base(1).head(4000)
    fit_part, valid = validation_split(base, 0.1, 0)
    spec = {"kind": "bfm", "features": "svdpp_flipped", "use_day": True, "n_iter": 6, "seed": 0}
    pred, _ = fit_predict(spec, None, fit_part, valid)
    model = member_model(spec).fit(fit_part)
    with_days = model.predict(valid["user_id"], valid["item_id"], timestamps=valid["timestamp"])
    np.testing.assert_array_equal(pred, with_days)
    assert not np.array_equal(pred, model.predict(valid["user_id"], valid["item_id"]))


def test_the_member_cache_returns_what_was_fitted_without_refitting(tmp_path, monkeypatch,
                                                                     shared_data):
    base = search.load_base(1).head(3000)
    fit_part, valid = validation_split(base, 0.1, 0)
    spec, key = {"kind": "bias"}, {"fold": "1", "pairs": "valid"}
    cache = MemberCache(tmp_path)
    pred, seconds = fit_predict(spec, None, fit_part, valid, cache, key)
    def refuse(*args):
        raise AssertionError("refitted")

    monkeypatch.setattr(search_members, "member_model", refuse)
    again, seconds_again = fit_predict(spec, None, fit_part, valid, cache, key)
    np.testing.assert_array_equal(again, pred)
    assert seconds_again == seconds
    with pytest.raises(AssertionError, match="refitted"):  # another key is another entry
        fit_predict(spec, None, fit_part, valid, cache, {**key, "fold": "2"})
    assert MemberCache(None).get(key, spec) is None


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
