"""The bug ladder and the metric artifacts on real ML-100K."""

from __future__ import annotations

import numpy as np
import pytest

from recsae import ablation, data, experiments, user_matrix


@pytest.fixture(scope="module")
def u1():
    return data.load_split(1)


def test_right_join_tables_use_ml100k_people_and_movies(u1):
    train, test = u1
    tables = ablation.right_join_tables()
    matrices = user_matrix.build_from_tables(train, test, tables, "ratings+genres+attributes")
    attrs = matrices.train[0, matrices.columns.attribute_slice]
    # User 1 of ML-100K: a 24-year-old male technician (index 19 in u.occupation).
    assert attrs.tolist() == [0.0, 1.0, 24.0, 19.0]
    genres = dict(zip(matrices.columns.genre_names, matrices.train[0, matrices.columns.genre_slice],
                      strict=True))
    assert len(genres) == 19 and genres["Drama"] == 47  # liked dramas of user 1 in u1.base


def test_metric_artifacts_same_predictions_different_metric(u1):
    train, test = u1
    table = ablation.metric_artifacts(*u1).set_index("features")
    # The predictions never change: the honest RMSE is the global-mean baseline everywhere.
    assert np.allclose(table["global_rmse"], 1.1537, atol=5e-4)
    metric = table["article_metric"]
    assert metric["ratings"] == pytest.approx(1.097, abs=1e-3)
    assert metric["ratings+genres"] == pytest.approx(0.912, abs=1e-3)
    assert metric["ratings+genres+attributes"] == pytest.approx(0.425, abs=1e-3)
    assert table["n_users_in_article_metric"].tolist() == [459, 459, 943]


def test_bug_ladder_runs_every_rung(u1):
    table = ablation.bug_ladder(*u1, epochs=2)
    assert [r.split(".")[0] for r in table["rung"]] == ["1", "2", "3", "4", "5", "6"]
    assert table["n_users_in_article_metric"].tolist() == [943, 943, 943, 459, 943, 943]
    assert np.isfinite(table["global_rmse"]).all()
    assert table["trainer"].tolist() == [r.trainer for r in ablation.RUNGS]


def test_rung_changes_name_one_earlier_rung_each():
    changes = ablation.rung_changes()
    assert changes["rung"].str.split(".").str[0].tolist() == ["1", "2", "3", "4", "5", "6"]
    assert changes["compared with"].tolist() == ["", "rung 1", "rung 2", "rung 3", "rung 1",
                                                 "rung 3"]
    assert "reference" in changes.loc[3, "what changed"]


def test_rungs_1_4_6_are_cells_of_the_experiment_grid(u1):
    """Notebook 6 reads these three rungs back from notebook 5's results cache."""
    train, test = u1
    grid = [experiments.cell_key(c) for c in experiments.grid_cells(train, test, depths=(3,))]
    trainers = [experiments.TRAINER_EXACT] * 4 + [experiments.TRAINER_ARTICLE_SETTINGS,
                                                  experiments.TRAINER_CORRECTED]
    shared = [i + 1 for i, (m, t) in enumerate(zip(ablation.rung_matrices(train, test),
                                                   trainers, strict=True))
              if experiments.cell_key(experiments.Cell(m, 3, t)) in grid]
    assert shared == [1, 4, 6]


def test_seed_noise_pairs_runs_by_seed(u1):
    table = ablation.seed_noise(*u1, seeds=[0, 1], epochs=2)
    assert table.columns.tolist() == ["seed", "with side features", "ratings only", "difference"]
    assert table["seed"].tolist() == [0, 1]
    np.testing.assert_allclose(table["difference"],
                               table["with side features"] - table["ratings only"])
    assert table["with side features"].nunique() == 2  # the seed changes the run
    with pytest.raises(ValueError, match="trainer"):
        ablation.seed_noise(*u1, seeds=[0], trainer="fast")
