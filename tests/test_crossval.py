"""Cross-validation: a hand-computed split, summaries, the plot, ML-1M and ML-100K folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_splits import synthetic_ml1m  # noqa: F401  (a fixture, used by name)

from recsae import baselines, plots
from recsae.autorec import AutoRecConfig, IAutoRec
from recsae.baselines import BiasModel, GlobalMean
from recsae.crossval import (
    PUBLISHED_RANDOM_CV_RMSE,
    PUBLISHED_SOURCES,
    PUBLISHED_U1_RMSE,
    cross_validate,
    evaluate_split,
    format_summary,
    model_key,
    summarise,
)
from recsae.data import load_split
from recsae.protocol import evaluate_rating_model, score_all


class ItemIdScore:
    """A stub model whose score of (u, i) is the item id itself."""

    def fit(self, train: pd.DataFrame) -> ItemIdScore:
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        return np.asarray(item_ids, dtype=np.float64)


def frame(rows: list[tuple[int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def test_evaluate_split_by_hand():
    train = frame([(1, 1, 5), (2, 2, 3), (2, 3, 4)])
    # Item 9 is not in training: it counts for RMSE (predicted 9 -> clipped to 5), but
    # cannot be ranked, so it is not relevant.
    test = frame([(1, 2, 5), (1, 3, 2), (2, 1, 4), (2, 9, 5)])
    metrics = evaluate_split(ItemIdScore(), train, test, k=1)
    # Errors 2-5, 3-2, 1-4, 5-5.
    assert metrics["rmse"] == pytest.approx(np.sqrt(19 / 4))
    assert metrics["mae"] == pytest.approx(7 / 4)
    # User 1 saw item 1; top-1 of {2, 3} is 3 (rated 2: a miss). User 2 saw 2 and 3; top-1 is
    # item 1 (rated 4: a hit).
    assert metrics["precision@1"] == pytest.approx(0.5)
    assert metrics["ndcg@1"] == pytest.approx(0.5)
    assert metrics["hit_rate@1"] == pytest.approx(0.5)
    assert metrics["n_rank_users"] == 2 and metrics["n_test"] == 4


def test_score_all_chunks_agree_with_one_call(monkeypatch):
    model = BiasModel().fit(frame([(1, 1, 5), (2, 2, 3), (2, 3, 4), (3, 1, 1)]))
    users, items = np.array([1, 2, 3, 7]), np.array([1, 2, 3])
    expected = model.predict(np.repeat(users, 3), np.tile(items, 4)).reshape(4, 3)
    monkeypatch.setattr("recsae.protocol.SCORE_CHUNK", 4)  # one user per chunk
    np.testing.assert_allclose(score_all(model, users, items), expected)


def test_scoring_in_blocks_equals_one_call():
    from recsae.crossval import score_in_blocks

    model = BiasModel().fit(frame([(1, 1, 5), (2, 2, 3), (2, 3, 4), (3, 1, 1)]))
    users, items = np.array([1, 2, 3, 7, 8]), np.array([1, 2, 3])
    np.testing.assert_array_equal(score_in_blocks(model, users, items, block=4),
                                  score_all(model, users, items))


def test_summarise_and_format_by_hand():
    table = pd.DataFrame({"model": ["b", "a", "b", "a"], "fold": [1, 1, 2, 2],
                          "rmse": [1.0, 0.5, 3.0, 0.5], "n_test": [10, 10, 12, 12]})
    summary = summarise(table)
    assert list(summary.index) == ["b", "a"]  # order of first appearance
    assert list(summary.columns) == ["n_folds", "rmse_mean", "rmse_std"]
    assert summary.loc["b", "rmse_mean"] == 2.0
    assert summary.loc["b", "rmse_std"] == pytest.approx(np.sqrt(2.0))  # ddof=1
    assert summary.loc["a", "rmse_std"] == 0.0
    assert format_summary(summary, ["rmse"], digits=2).loc["b", "rmse"] == "2.00 ± 1.41"


def test_format_summary_marks_missing_metrics_and_single_folds():
    table = pd.DataFrame({"model": ["pop", "pop", "one"], "fold": [1, 2, 1],
                          "rmse": [np.nan, np.nan, 0.9]})
    shown = format_summary(summarise(table), ["rmse"], digits=2)
    assert shown.loc["pop", "rmse"] == "n/a" and shown.loc["one", "rmse"] == "0.90"


def test_every_published_number_has_a_source():
    for table in (PUBLISHED_U1_RMSE, PUBLISHED_RANDOM_CV_RMSE):
        assert set(table) <= set(PUBLISHED_SOURCES)
    assert "global mean" not in PUBLISHED_U1_RMSE  # ours, measured in notebook 1


def test_plot_labels_reference_lines_with_their_sources():
    table = pd.DataFrame({"model": ["m", "m", "n", "n", "pop", "pop", "tuned"],
                          "fold": [1, 2, 1, 2, 1, 2, 1],
                          "rmse": [0.9, 0.92, 1.0, 1.1, np.nan, np.nan, 0.89],
                          "ndcg@10": [0.1, 0.12, 0.2, 0.1, 0.25, 0.24, 0.2]})
    fig = plots.cross_validation(table)
    assert isinstance(fig, Figure)
    rmse_ax, ndcg_ax = fig.axes[:2]
    texts = [t.get_text() for t in rmse_ax.texts]
    assert "GLocal-K 0.889, u1 (Han et al. 2021)" in texts
    assert "Surprise SVD 0.934, random 5-fold CV (Surprise README)" in texts
    assert sum(", u1 (" in t for t in texts) == len(PUBLISHED_U1_RMSE)
    assert any("ranks only" in t for t in texts)  # popularity keeps its place, no RMSE
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "ours: mean ± std over 2 folds"
    assert [tick.get_text() for tick in ndcg_ax.get_xticklabels()] == ["m", "n", "pop", "tuned"]


def test_model_key_tells_settings_apart():
    assert model_key(BiasModel()) == model_key(BiasModel())
    assert model_key(BiasModel(reg_user=1.0)) != model_key(BiasModel())
    assert model_key(IAutoRec(AutoRecConfig(hidden=8))) != model_key(IAutoRec(AutoRecConfig()))
    assert model_key(GlobalMean())["class"].endswith("GlobalMean")


def test_memo_is_asked_once_per_model_and_fold(synthetic_ml1m):  # noqa: F811
    data_dir, _ = synthetic_ml1m
    store: dict[str, dict] = {}

    def memo(name, compute, **key):
        text = repr(sorted(key.items()))
        if text not in store:
            store[text] = compute()
        return store[text]

    run = dict(folds=(1, 2), data_dir=data_dir, dataset="ml-1m", k=5, memo=memo,
               ranking_only={"pop"})
    factories = {"bias": BiasModel, "pop": baselines.Popularity}
    first = cross_validate(factories, **run)
    assert len(store) == 4
    again = cross_validate(factories, **run)
    pd.testing.assert_frame_equal(first, again)
    assert first.loc[first["model"] == "pop", ["rmse", "mae"]].isna().all().all()
    assert first.loc[first["model"] == "pop", "ndcg@5"].notna().all()


def test_rating_only_models_skip_the_ranking_and_keep_their_accuracy(synthetic_ml1m):  # noqa: F811
    data_dir, _ = synthetic_ml1m
    run = dict(folds=(1,), data_dir=data_dir, dataset="ml-1m", k=5)
    both = cross_validate({"bias": BiasModel}, **run)
    rated = cross_validate({"bias": BiasModel}, rating_only={"bias"}, **run)
    assert rated["rmse"].iloc[0] == both["rmse"].iloc[0]
    assert rated["mae"].iloc[0] == both["mae"].iloc[0]
    assert "ndcg@5" not in rated or rated["ndcg@5"].isna().all()
    assert both["ndcg@5"].notna().all()


def test_cross_validate_on_a_synthetic_ml1m(synthetic_ml1m):  # noqa: F811
    data_dir, ratings = synthetic_ml1m
    small = AutoRecConfig(hidden=8, reg=1.0, n_epochs=30)
    table = cross_validate({"mean": GlobalMean, "bias": BiasModel, "autorec": lambda: IAutoRec(small)},
                           folds=(1, 2), data_dir=data_dir, dataset="ml-1m", k=5)
    assert list(table["model"]) == ["mean", "bias", "autorec"] * 2
    assert list(table["fold"]) == [1, 1, 1, 2, 2, 2]
    assert {"rmse", "mae", "seconds", "ndcg@5", "precision@5", "recall@5"} <= set(table.columns)
    # random_split's folds: 10% of the ratings each, give or take one (blocks that tile all).
    assert ((table["n_test"] - 0.1 * len(ratings)).abs() <= 1).all()
    by_model = summarise(table)["rmse_mean"]
    # The synthetic ratings have structure: both learners beat the global mean.
    assert by_model["bias"] < by_model["mean"] and by_model["autorec"] < by_model["mean"]
    assert table["ndcg@5"].between(0, 1).all()


def test_cross_validate_on_u1_matches_evaluate_rating_model(shared_data):
    table = cross_validate({"mean": GlobalMean, "bias": BiasModel}, folds=(1,))
    train, test = load_split(1)
    assert table.loc[0, "rmse"] == pytest.approx(evaluate_rating_model(GlobalMean().fit(train), test)["rmse"])
    bias = table.set_index("model").loc["bias"]
    assert bias["rmse"] == pytest.approx(0.960, abs=0.005)
    # Ranking by predicted rating: the bias model ranks better than a constant score.
    assert bias["ndcg@10"] > table.set_index("model").loc["mean", "ndcg@10"]


def test_a_part_is_measured_like_the_same_model_fitted_alone(synthetic_ml1m):  # noqa: F811
    from recsae.blend import AutoRecBlend, BlendConfig

    data_dir, _ = synthetic_ml1m
    small = AutoRecConfig(hidden=8, reg=1.0, n_epochs=20)
    whole = lambda: AutoRecBlend(BlendConfig(autorecs=(small,), weights=(0.0, 1.0, 0.0, 0.0)))  # noqa: E731
    run = dict(folds=(1,), data_dir=data_dir, dataset="ml-1m", k=5)
    shared = cross_validate({"blend": whole},
                            parts={"autorec": ("blend", lambda fitted: fitted.members_[0][0])}, **run)
    alone = cross_validate({"autorec": lambda: IAutoRec(small)}, **run)
    assert list(shared["model"]) == ["autorec", "blend"]  # the part first
    for column in ("rmse", "mae", "ndcg@5", "precision@5"):
        assert shared.loc[0, column] == pytest.approx(alone.loc[0, column], abs=1e-12)
    with pytest.raises(ValueError, match="wholes"):
        cross_validate({"blend": whole}, parts={"a": ("nope", lambda m: m)}, **run)


def test_plot_leaves_unranked_models_out_of_the_ranking_panel_and_says_so():
    table = pd.DataFrame({"model": ["m", "m", "bfm", "bfm", "s", "s"],
                          "fold": [1, 2, 1, 2, "u1", "u2"],  # another source's fold labels
                          "rmse": [0.9, 0.92, 0.88, 0.89, 0.87, 0.88],
                          "ndcg@10": [0.1, 0.12, np.nan, np.nan, np.nan, np.nan]})
    fig = plots.cross_validation(table)
    rmse_ax, ndcg_ax = fig.axes[:2]
    assert [t.get_text() for t in ndcg_ax.get_xticklabels()] == ["m"]
    assert ndcg_ax.get_xlabel() == "not ranked here: bfm, s"
    assert len(rmse_ax.get_xticklabels()) == 3
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "ours: mean ± std over 2 folds"  # not 4 distinct fold labels


def test_plot_names_the_split_of_other_published_numbers():
    table = pd.DataFrame({"model": ["m", "m"], "fold": [1, 2], "rmse": [0.9, 0.92],
                          "ndcg@10": [0.1, 0.12]})
    fig = plots.cross_validation(table, published={"I-AutoRec": 0.831}, random_cv={},
                                 published_split="random 90/10")
    assert "I-AutoRec 0.831, random 90/10 (Sedhain et al. 2015)" in [
        t.get_text() for t in fig.axes[0].texts]
