"""The experiment grid: table layout, trainer choice per cell, the metric artefacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from recsae import ablation, experiments, plots
from recsae.data import load_split
from recsae.features import FEATURE_SETS
from recsae.runtime import torch_threads
from recsae.user_matrix import build_user_matrices


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def u1(shared_data):
    return load_split(1)


def test_exact_cells():
    assert experiments.exact_cells("none") == set()
    assert experiments.exact_cells("headline") == {("ratings+genres+attributes", 3)}
    assert len(experiments.exact_cells("depth3")) == 3
    assert len(experiments.exact_cells("all")) == 9
    assert experiments.exact_cells([("ratings", "5")]) == {("ratings", 5)}
    with pytest.raises(ValueError, match="exact"):
        experiments.exact_cells("some")


def test_small_grid_table(u1):
    train, test = u1
    table = experiments.run_grid(train, test, feature_sets=("ratings", "ratings+genres+attributes"),
                                 depths=(3,), epochs=2, exact="headline")
    assert list(table.columns) == experiments.TABLE_COLUMNS
    assert len(table) == 4
    trainers = dict(zip(zip(table["recipe"], table["features"], strict=True), table["trainer"],
                        strict=True))
    assert trainers[("as_published", "ratings")] == experiments.TRAINER_ARTICLE_SETTINGS
    assert trainers[("as_published", "ratings+genres+attributes")] == experiments.TRAINER_EXACT
    assert trainers[("corrected", "ratings")] == experiments.TRAINER_CORRECTED
    # The article averages over users with a positive target entry: attributes make it all.
    counted = dict(zip(table["features"] + "/" + table["recipe"],
                       table["n_users_in_article_metric"], strict=True))
    assert counted["ratings/as_published"] == 459
    assert counted["ratings+genres+attributes/as_published"] == 943
    assert (table["n_test_ratings"] == 20000).all() and (table["n_test_users"] == 459).all()
    assert np.isfinite(table[["article_metric", "global_rmse", "per_user_rmse"]]).all().all()
    assert (table["global_rmse"] <= table["global_rmse_unclipped"] + 1e-12).all()
    assert "as_published (exact): as_published/ratings+genres+attributes/3-layer" in \
        table.attrs["note"]
    fig = plots.experiment_grid(table, {"global mean": 1.154})
    # Panels: as published (exact) and corrected, plus the hatched stand-in panel.
    assert isinstance(fig, Figure) and len(fig.axes) == 6


def test_feature_columns_lower_the_article_metric_for_identical_predictions(u1):
    """The global-mean predictor: 1.097 -> 0.912 -> 0.425 by the article's metric, while
    its RMSE stays 1.154 (recipe as published, u1.test)."""
    train, test = u1
    tests = {f: build_user_matrices(train, test, "as_published", f).test for f in FEATURE_SETS}
    pred = np.full((943, 1682), train["rating"].mean(), dtype=np.float32)
    effect = ablation.feature_column_effect(pred, tests, 1682).set_index("features")
    np.testing.assert_allclose(effect["global_rmse"], 1.1537, atol=1e-3)
    np.testing.assert_allclose(effect["article_metric"], [1.0967, 0.9118, 0.4247], atol=1e-3)
    np.testing.assert_allclose(effect["article_metric_rated_users"], [1.0967, 0.9118, 0.8726],
                               atol=1e-3)
    assert effect["n_users_in_article_metric"].tolist() == [459, 459, 943]


def test_workers_give_the_same_table(u1):
    train, test = u1
    kwargs = dict(recipes=("corrected",), feature_sets=("ratings",), depths=(3, 5), epochs=2)
    serial = experiments.run_grid(train, test, **kwargs)
    parallel = experiments.run_grid(train, test, workers=2, **kwargs)
    columns = [c for c in experiments.TABLE_COLUMNS if c != "seconds"]
    pd.testing.assert_frame_equal(serial[columns], parallel[columns])


def test_architectures_count_every_weight():
    nets = experiments.architectures({"as published": 1704}).set_index("network")
    # 1704*20+20 + 20*10+10 + 10*20+20 + 20*1704+1704
    assert nets.loc["3 layers", "weights (as published)"] == 70_314
    assert nets.loc["5 layers", "weights (as published)"] == 1_097_454
    assert nets.loc["7 layers", "weights (as published)"] == 1_200_114
    assert nets["linear layers"].tolist() == [4, 10, 14]
    assert nets["sizes from"].tolist() == ["the article", "the article", "our choice"]


def test_cell_key_depends_on_contents_not_recipe_name(u1):
    train, test = u1
    published = build_user_matrices(train, test, "as_published", "ratings")
    corrected = build_user_matrices(train, test, "corrected", "ratings")
    key = experiments.cell_key
    cell = experiments.Cell(published, 3, experiments.TRAINER_EXACT)
    assert key(cell) == key(cell._replace(matrices=corrected))  # the same ratings-only rows
    assert key(cell) != key(cell._replace(seed=1))
    assert key(cell) != key(cell._replace(trainer=experiments.TRAINER_CORRECTED))
    headline = build_user_matrices(train, test, "corrected", "ratings+genres+attributes")
    assert key(cell) != key(cell._replace(matrices=headline))


def test_run_cells_reads_back_what_the_memo_stored(u1):
    train, test = u1
    matrices = build_user_matrices(train, test, "corrected", "ratings")
    store: dict[str, object] = {}
    calls = []

    def memo(name, compute, **key):
        token = repr(sorted(key.items()))
        if token not in store:
            calls.append(name)
            store[token] = compute()
        return store[token]

    cells = [experiments.Cell(matrices, 3, experiments.TRAINER_CORRECTED, epochs=2)]
    first = experiments.run_cells(cells, memo=memo)
    again = experiments.run_cells(cells * 2, workers=2, memo=memo)  # no process is started
    assert calls == ["experiment_cell"]
    assert again == [first[0], first[0]]
    assert first[0]["recipe"] == "corrected" and first[0]["features"] == "ratings"


def test_a_failing_cell_stops_the_run(u1):
    train, test = u1
    matrices = build_user_matrices(train, test, "corrected", "ratings")
    cells = [experiments.Cell(matrices, 3, "no such trainer", epochs=1),
             experiments.Cell(matrices, 3, experiments.TRAINER_CORRECTED, epochs=1)]
    with pytest.raises(ValueError, match="unknown trainer"):
        experiments.run_cells(cells, workers=2)
    # The next call starts a fresh pool.
    rows = experiments.run_cells(cells[1:], workers=2)
    assert rows[0]["trainer"] == experiments.TRAINER_CORRECTED
    experiments.shutdown_pools()


def test_deep_headline_keeps_the_deeper_nets_for_the_headline_features_only(u1):
    train, test = u1
    every = experiments.grid_cells(train, test, stand_ins="all")
    cells = experiments.grid_cells(train, test, stand_ins="all", deep="headline")
    assert len(every) == 18 and len(cells) == 10  # 6 three-layer cells + 2 recipes x 2 deep
    assert {(c.matrices.features, c.depth) for c in cells if c.depth != 3} == {
        ("ratings+genres+attributes", 5), ("ratings+genres+attributes", 7)}
    with pytest.raises(ValueError, match="deep must be one of"):
        experiments.grid_cells(train, test, deep="some")


def test_exact_rows_hold_the_history_and_the_trained_weights(u1):
    """Notebook 4 rebuilds its as-published model from a cell's row: the same weights and
    history as training it in place."""
    import torch

    from recsae import article, runtime
    from recsae.model import StackedAutoencoder, article_hidden_sizes

    train, test = u1
    matrices = build_user_matrices(train, test, "as_published", "ratings+genres+attributes")
    [row] = experiments.run_cells([experiments.Cell(matrices, 3, experiments.TRAINER_EXACT, 2)])
    runtime.seed_everything(0)
    model = StackedAutoencoder(matrices.train.shape[1], article_hidden_sizes(3))
    history = article.train_as_published(model, matrices.train, matrices.columns.n_items, 2)
    assert row["history"]["article_train_metric"].equals(history["article_train_metric"])
    assert all(torch.equal(v, row["model_state"][k]) for k, v in model.state_dict().items())
    table = experiments.run_grid(train, test, feature_sets=("ratings",), depths=(3,), epochs=1,
                                 recipes=("as_published",), exact="depth3")
    assert list(table.columns) == experiments.TABLE_COLUMNS  # no extra columns in the table
