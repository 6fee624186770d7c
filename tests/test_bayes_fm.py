"""BayesianFM (myfm Gibbs sampler): contract, determinism, no test leakage, u1 sanity, side features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("myfm")

from recsae import data
from recsae.bayes_fm import AGE_BUCKET_NAMES, BayesianFM
from recsae.data import ML100K_GENRES

COLUMNS = ["user_id", "item_id", "rating", "timestamp"]
DAY = 86_400


@pytest.fixture(scope="module")
def u1(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return data.load_split(1)


@pytest.fixture(scope="module")
def side_tables(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return data.load_users(), data.load_movies()


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """A seeded low-rank toy problem: 40 users, 30 items, ratings on 1..5, over 10 days."""
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    pairs = rng.permutation(40 * 30)[:600]
    u, i = pairs // 30 + 1, pairs % 30 + 1
    rating = np.clip(np.rint(3 + (p[u - 1] * q[i - 1]).sum(1)), 1, 5).astype(int)
    timestamp = 880_000_000 + rng.integers(0, 10, size=len(u)) * DAY
    return pd.DataFrame({"user_id": u, "item_id": i, "rating": rating, "timestamp": timestamp})


@pytest.mark.parametrize("features", ["ids", "svdpp_flipped"])
@pytest.mark.parametrize("output", ["regression", "ordered_probit"])
def test_contract_shapes_dtype_and_unknown_ids(small, features, output):
    model = BayesianFM(n_iter=8, features=features, output=output, seed=1).fit(small)
    assert model.fit(small) is model
    users = np.array([1, 2, 999, 999, 3])
    items = np.array([1, 999, 2, 999, 3])
    pred = model.predict(users, items)
    assert pred.shape == (5,) and pred.dtype == np.float64 and np.isfinite(pred).all()
    if output == "ordered_probit":
        assert ((pred >= 1) & (pred <= 5)).all()  # an expected rating
    with_ts = model.predict(users, items, timestamps=np.full(5, 880_000_000 + 3 * DAY))
    assert with_ts.shape == (5,) and np.isfinite(with_ts).all()
    # A day never seen in training (far future) falls back to the nearest training day.
    assert np.isfinite(model.predict(users, items, timestamps=np.full(5, 2_000_000_000))).all()
    assert model.predict(np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)
    with pytest.raises(ValueError):
        model.predict(np.array([1, 2]), np.array([1]))


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        BayesianFM(features="svd")
    with pytest.raises(ValueError):
        BayesianFM(output="poisson")
    with pytest.raises(ValueError):
        BayesianFM(features="svdpp_flipped+side")  # needs the side tables


def test_same_seed_same_predictions_other_seed_differs(small):
    def run(seed):
        model = BayesianFM(n_iter=10, features="svdpp_flipped", seed=seed).fit(small)
        return model.predict(small["user_id"].to_numpy(), small["item_id"].to_numpy(),
                             timestamps=small["timestamp"].to_numpy())

    first, second, other = run(7), run(7), run(8)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_features_come_from_the_training_frame_only(small):
    train, held_out = small.iloc[:500], small.iloc[500:]
    model = BayesianFM(n_iter=8, features="svdpp_flipped", seed=3, use_day=True).fit(train)
    names = np.array(model.feature_names_)

    # The implicit set of a user is exactly the movies it rated in *train*.
    user = int(held_out["user_id"].iloc[0])
    row = model.design_matrix(np.array([user]), np.array([1]),
                              timestamps=np.array([880_000_000])).toarray()[0]
    rated = {f"user_rated_item={i}" for i in train.loc[train["user_id"] == user, "item_id"]}
    in_row = {n for n in names[row != 0] if n.startswith("user_rated_item=")}
    assert in_row == rated
    assert np.isclose(np.sum(row[np.isin(names, list(rated))] ** 2), 1.0)  # 1/sqrt(|N(u)|)
    # Vocabularies (users, items, days) are those of train.
    assert set(model.users_) == set(train["user_id"])
    assert set(model.items_) == set(train["item_id"])
    assert set(model.days_) == set(train["timestamp"] // DAY)

    # Predictions are per pair: predicting a pair alone or among the held-out pairs is the same
    # (nothing is learnt from the pairs asked for).
    u, i, t = (held_out[c].to_numpy() for c in ("user_id", "item_id", "timestamp"))
    batch = model.predict(u, i, timestamps=t)
    alone = np.array([model.predict(u[k:k + 1], i[k:k + 1], timestamps=t[k:k + 1])[0]
                      for k in range(5)])
    np.testing.assert_allclose(alone, batch[:5], rtol=0, atol=1e-12)

    # And a refit on the same train, after a model saw the held-out ratings in its train,
    # is unchanged: only `train` enters fit.
    BayesianFM(n_iter=8, features="svdpp_flipped", seed=3, use_day=True).fit(small)
    again = BayesianFM(n_iter=8, features="svdpp_flipped", seed=3, use_day=True).fit(train)
    np.testing.assert_array_equal(again.predict(u, i, timestamps=t), batch)


def test_missing_timestamps_take_the_users_most_frequent_training_day():
    train = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "item_id": [1, 2, 3, 1, 2],
                          "rating": [5, 4, 3, 2, 1],
                          "timestamp": np.array([3, 3, 7, 5, 9]) * DAY})
    model = BayesianFM(n_iter=4, features="svdpp_flipped", use_day=True).fit(train)

    def day_of(users):
        X = model.design_matrix(users, np.ones(len(users), dtype=int))
        return X[:, : len(model.days_)].toarray().argmax(1)

    # user 1: day 3 (twice); user 2: a tie, the latest (9); unknown user: latest day (9).
    np.testing.assert_array_equal(model.days_[day_of(np.array([1, 2, 77]))], [3, 9, 9])


def test_short_run_on_u1_beats_the_global_mean(u1):
    train, test = u1
    y = test["rating"].to_numpy(dtype=float)
    baseline = np.sqrt(np.mean((train["rating"].mean() - y) ** 2))  # ~1.154 on u1
    model = BayesianFM(n_iter=16, features="svdpp_flipped", seed=0).fit(train)
    pred = np.clip(model.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy(),
                                 timestamps=test["timestamp"].to_numpy()), 1, 5)
    rmse = np.sqrt(np.mean((pred - y) ** 2))
    assert rmse < baseline - 0.2, (rmse, baseline)  # ~0.90 after 16 sweeps


def test_side_feature_matrix_has_the_expected_columns(u1, side_tables):
    train, _ = u1
    users, movies = side_tables
    model = BayesianFM(n_iter=2, features="svdpp_flipped+side", use_day=True, users=users,
                       movies=movies).fit(train)
    groups = list(dict.fromkeys(model.feature_groups_))
    assert groups == ["day", "user", "user_rated_item", "age", "gender", "occupation",
                      "item", "item_rated_by_user", "genre"]
    names = pd.Series(model.feature_names_)
    grp = pd.Series(model.feature_groups_)
    assert list(names[grp == "age"]) == [f"age={b}" for b in AGE_BUCKET_NAMES]
    assert list(names[grp == "gender"]) == ["gender=F", "gender=M"]
    assert list(names[grp == "occupation"]) == [f"occupation={o}"
                                                for o in sorted(users["occupation"].unique())]
    assert len(names[grp == "occupation"]) == 21
    assert list(names[grp == "genre"]) == [f"genre={g}" for g in ML100K_GENRES]
    assert (grp == "user").sum() == train["user_id"].nunique()
    assert (grp == "item").sum() == train["item_id"].nunique()

    # User 1: 24-year-old male technician; movie 1 (Toy Story): Animation, Children's, Comedy.
    # User 5000 is unknown everywhere: no user, side or implicit columns, but movie 1's.
    X = model.design_matrix(np.array([1, 5000]), np.array([1, 1]),
                            timestamps=np.array([train["timestamp"].iloc[0]] * 2))
    assert X.shape == (2, len(names))
    row = pd.Series(X.toarray()[0], index=names)
    assert set(row[(grp == "age").to_numpy() & (row != 0).to_numpy()].index) == {"age=18-24"}
    assert row["gender=M"] == 1 and row["gender=F"] == 0
    assert row["occupation=technician"] == 1 and row[(grp == "occupation").to_numpy()].sum() == 1
    genre = row[(grp == "genre").to_numpy()]
    assert set(genre[genre != 0].index) == {"genre=Animation", "genre=Children's", "genre=Comedy"}
    np.testing.assert_allclose(genre[genre != 0], 1 / np.sqrt(3))
    assert row[(grp == "day").to_numpy()].sum() == 1
    unknown = pd.Series(X.toarray()[1], index=names)
    user_side = grp.isin(["user", "user_rated_item", "age", "gender", "occupation"]).to_numpy()
    assert (unknown[user_side] == 0).all()
    assert (unknown[~user_side] == row[~user_side]).all()
    assert np.isfinite(model.predict(np.array([1, 5000]), np.array([1, 1]))).all()
