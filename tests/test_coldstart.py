"""Tests of recsae.coldstart: the truncation, the rebuilt input rows, a small real study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from recsae import coldstart as C
from recsae import data, plots
from recsae import features as F
from recsae import user_matrix as UM
from recsae.training import TrainConfig


def ratings_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def toy_ratings() -> pd.DataFrame:
    """User 1: 6 ratings, user 2: 2 ratings, user 3: 4 ratings (never truncated below)."""
    rows = [(1, i, 1.0 + i % 5) for i in range(10, 16)]
    rows += [(2, 20, 4.0), (2, 21, 2.0)]
    rows += [(3, i, 3.0) for i in range(30, 34)]
    return ratings_frame(rows)


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("budget", [0, 1, 3, 5, 10])
def test_truncation_keeps_min_of_budget_and_available(budget):
    train = toy_ratings()
    reduced = C.truncate_ratings(train, [1, 2], budget, seed=0)
    sizes = reduced.groupby("user_id").size().reindex([1, 2, 3], fill_value=0)
    assert sizes[1] == min(budget, 6)
    assert sizes[2] == min(budget, 2)
    assert sizes[3] == 4  # not a cold user: untouched
    # Kept ratings are real rows of the input, values included.
    merged = reduced.merge(train, on=["user_id", "item_id"], suffixes=("", "_orig"))
    assert len(merged) == len(reduced)
    assert (merged["rating"] == merged["rating_orig"]).all()


def test_truncation_is_seeded_nested_and_order_free():
    train = toy_ratings()
    first = C.truncate_ratings(train, [1, 2], 3, seed=7)
    again = C.truncate_ratings(train.sample(frac=1.0, random_state=1), [1, 2], 3, seed=7)
    pd.testing.assert_frame_equal(first, again)  # same seed: same ratings, any row order
    others = [C.truncate_ratings(train, [1, 2], 3, seed=s) for s in range(1, 6)]
    kept = {tuple(o.loc[o["user_id"] == 1, "item_id"]) for o in [first, *others]}
    assert len(kept) > 1  # the seed matters
    # Budgets are nested for one seed: the 1 kept rating is among the 3 kept ones.
    one = C.truncate_ratings(train, [1, 2], 1, seed=7)
    pairs = set(map(tuple, first[["user_id", "item_id"]].to_numpy()))
    assert set(map(tuple, one[["user_id", "item_id"]].to_numpy())) <= pairs


def test_truncation_rejects_negative_budget():
    with pytest.raises(ValueError, match="budget"):
        C.truncate_ratings(toy_ratings(), [1], -1)


# --------------------------------------------------------------------------- input rows


@pytest.fixture(scope="module")
def u1(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return data.load_split(1)


@pytest.fixture(scope="module")
def tables(shared_data) -> F.FeatureTables:
    return F.load_feature_tables("corrected")


def attributes_of(tables: F.FeatureTables, user: int) -> dict[str, object]:
    row = tables.users.set_index("user_id").loc[user]
    return {"gender": row["gender"], "age": int(row["age"]), "occupation": row["occupation"]}


@pytest.mark.parametrize("budget", [1, 3, 10])
def test_truncated_rows_match_user_row(u1, tables, budget):
    train, test = u1
    users = np.unique(test["user_id"].to_numpy())[:25]
    reduced = C.truncate_ratings(train, users, budget, seed=3)
    inputs = C.cold_inputs(reduced, test, tables, "ratings+genres+attributes", users)
    columns = UM.build_from_tables(train, test, tables, "ratings+genres+attributes").columns
    assert inputs.shape == (users.size, columns.n_columns)
    available = train.groupby("user_id").size()
    for row, user in zip(inputs, users, strict=True):
        kept = reduced[reduced["user_id"] == user]
        assert len(kept) == min(budget, available[user])
        expected = UM.user_row(dict(zip(kept["item_id"], kept["rating"], strict=True)), columns,
                              tables, attributes_of(tables, int(user)))
        # The whole row, and the genre block in particular, is what the builders give for
        # the truncated ratings, not the full training row's genre shares.
        np.testing.assert_array_equal(row[columns.genre_slice], expected[columns.genre_slice])
        np.testing.assert_array_equal(row, expected)
        assert np.count_nonzero(row[columns.rating_slice]) == len(kept)


def test_zero_budget_rows_keep_attributes_only(u1, tables):
    train, test = u1
    users = np.unique(test["user_id"].to_numpy())[:40]
    reduced = C.truncate_ratings(train, users, 0)
    full = UM.build_from_tables(train, test, tables, "ratings+genres+attributes")
    inputs = C.cold_inputs(reduced, test, tables, "ratings+genres+attributes", users)
    cols = full.columns
    assert not inputs[:, cols.rating_slice].any()
    assert not inputs[:, cols.genre_slice].any()  # no kept rating, no liked genre
    rows = pd.Index(cols.user_ids).get_indexer(users)
    np.testing.assert_array_equal(inputs[:, cols.attribute_slice],
                                  full.train[rows][:, cols.attribute_slice])
    assert (inputs[:, cols.attribute_slice].sum(axis=1) > 0).all()
    ratings_only = C.cold_inputs(reduced, test, tables, "ratings", users)
    assert not ratings_only.any()  # the ratings-only model sees an all-zero row


# --------------------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def small_study(u1) -> pd.DataFrame:
    train, test = u1
    return C.cold_start_study(train, test, budgets=(0, 5), config=TrainConfig(epochs=8),
                              threads=1)


def test_small_study_table_is_sane(small_study):
    table = small_study
    assert list(table.columns) == C.table_columns(10)
    models = [C.ae_name(f) for f in C.FEATURE_SETS] + [C.BIAS, C.POPULARITY]
    assert table["model"].tolist() == models * 2
    assert table["budget"].tolist() == [0] * 4 + [5] * 4
    assert table["holdout_users"].all()  # the strict protocol is the default
    rated = table[table["model"] != C.POPULARITY]
    assert np.isfinite(rated["rmse"]).all() and (rated["rmse"] < 1.5).all()
    assert np.isfinite(rated["mae"]).all()
    assert table.loc[table["model"] == C.POPULARITY, "rmse"].isna().all()  # ranking only
    for column in ("ndcg@10", "precision@10", "recall@10"):
        assert table[column].between(0.0, 1.0).all()
    assert (table["n_users"] == 459).all() and (table["n_ratings"] == 20_000).all()
    assert table.loc[table["budget"] == 0, "mean_kept"].eq(0).all()
    assert table.loc[table["budget"] == 5, "mean_kept"].between(4.9, 5.0).all()
    # Popularity is a much better ranker than nothing: a sanity check of the ranking path.
    assert table.loc[table["model"] == C.POPULARITY, "ndcg@10"].min() > 0.1
    fits = table.attrs["fits"]
    assert set(fits) == {(f, True) for f in C.FEATURE_SETS}
    assert all(fit["n_train_users"] == 943 - 459 for fit in fits.values())
    assert all(0.8 < fit["full_row_rmse"] < 1.5 for fit in fits.values())


def test_both_protocols_in_one_table(u1):
    train, test = u1
    table = C.cold_start_study(train, test, budgets=(0,), config=TrainConfig(epochs=2),
                               feature_sets=("ratings",), holdout_users=(True, False),
                               min_item_ratings=20)
    n_test_users = test["user_id"].nunique()
    fits = table.attrs["fits"]
    assert fits["ratings", True]["n_train_users"] == 943 - n_test_users
    assert fits["ratings", False]["n_train_users"] == 943
    assert table["model"].tolist() == [C.ae_name("ratings")] * 2 + [C.BIAS, C.POPULARITY]
    assert table["holdout_users"].tolist() == [True, False, True, True]  # baselines: strict
    with pytest.raises(ValueError, match="holdout_users"):
        C.cold_start_study(train, test, budgets=(0,), holdout_users=(True, True))


def test_plot_cold_start_returns_figure(small_study):
    fig = plots.cold_start(small_study)
    assert isinstance(fig, Figure)
    rmse_ax, ndcg_ax = fig.axes[:2]
    assert len(rmse_ax.get_lines()) == 3  # popularity has no RMSE
    assert len(ndcg_ax.get_lines()) == 4
    autoencoders = small_study[small_study["model"].str.startswith("AE")]
    mixed = pd.concat([small_study, autoencoders.assign(holdout_users=False)])
    lines = plots.cold_start(mixed).axes[1].get_lines()
    assert len(lines) == 6
    dashed = [line for line in lines if line.get_linestyle() == "--"]
    assert len(dashed) == 2 and all("full rows" in line.get_label() for line in dashed)
