"""Rating baselines: hand-computed fixtures, unknown ids, and reference RMSEs on ML-100K u1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsae.baselines import (
    BiasedMF,
    BiasModel,
    GlobalMean,
    MFConfig,
    Popularity,
)
from recsae.data import DataFormatError, load_split
from recsae.protocol import evaluate_rating_model, score_all
from recsae.ranking import evaluate_ranking, ranking_masks
from recsae.splits import validation_split

# Two users, two items, three ratings; mu = 4.
TINY = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 20, 10], "rating": [5, 4, 3]})


@pytest.fixture(scope="module")
def u1(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_split(1)


def test_global_mean():
    model = GlobalMean().fit(TINY)
    np.testing.assert_allclose(model.predict(np.array([1, 99]), np.array([10, 99])), [4.0, 4.0])


def test_bias_model_one_round_by_hand():
    model = BiasModel(reg_user=1.0, reg_item=1.0, n_iter=1).fit(TINY)
    # Users first (item biases 0): b_1 = ((5-4) + (4-4)) / (1+2) = 1/3, b_2 = (3-4) / (1+1) = -1/2.
    np.testing.assert_allclose(model.user_bias_, [1 / 3, -1 / 2])
    # Then items: b_10 = ((5-4-1/3) + (3-4+1/2)) / (1+2) = 1/18, b_20 = (4-4-1/3) / (1+1) = -1/6.
    np.testing.assert_allclose(model.item_bias_, [1 / 18, -1 / 6])
    pred = model.predict(np.array([1, 2, 3, 3]), np.array([10, 20, 10, 30]))
    # (1,10), (2,20), unknown user on item 10 -> mu + b_10, unknown pair -> mu.
    np.testing.assert_allclose(pred, [4 + 1 / 3 + 1 / 18, 4 - 1 / 2 - 1 / 6, 4 + 1 / 18, 4.0])


def test_bias_model_without_regularisation_fits_a_consistent_frame_exactly():
    model = BiasModel(reg_user=0.0, reg_item=0.0, n_iter=200).fit(TINY)
    pred = model.predict(TINY["user_id"].to_numpy(), TINY["item_id"].to_numpy())
    np.testing.assert_allclose(pred, TINY["rating"], atol=1e-6)


def test_popularity_count_and_shrunk_mean():
    count = Popularity("count").fit(TINY)
    np.testing.assert_array_equal(count.predict(np.zeros(3), np.array([10, 20, 99])), [2, 1, 0])
    frame = pd.DataFrame({"user_id": [1, 2, 1], "item_id": [10, 10, 20], "rating": [5, 5, 2]})
    mean = Popularity("mean", shrinkage=2.0).fit(frame)
    # mu = 4; item 10: (10 + 8) / 4 = 4.5; item 20: (2 + 8) / 3 = 10/3.
    np.testing.assert_allclose(mean.predict(np.zeros(3), np.array([10, 20, 99])),
                               [4.5, 10 / 3, 4.0])
    with pytest.raises(ValueError, match="score must be"):
        Popularity("median")


def test_evaluate_rating_model_clips_to_the_rating_scale():
    class Fixed:
        def predict(self, user_ids, item_ids):
            return np.array([6.0, 0.0])

    test = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "rating": [4, 1]})
    # clipped to [5, 1]: errors 1 and 0.
    assert evaluate_rating_model(Fixed(), test) == pytest.approx(
        {"rmse": np.sqrt(0.5), "mae": 0.5, "n": 2})


def test_validation_split_is_seeded_and_disjoint():
    frame = pd.DataFrame({"user_id": np.arange(100), "item_id": 1, "rating": 3})
    train, valid = validation_split(frame, 0.1, seed=3)
    assert len(valid) == 10 and len(train) == 90
    assert set(train["user_id"]).isdisjoint(valid["user_id"])
    assert valid.equals(validation_split(frame, 0.1, seed=3)[1])
    assert not valid.equals(validation_split(frame, 0.1, seed=4)[1])


def test_biased_mf_learns_a_small_low_rank_problem_and_is_deterministic():
    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(1, 31), np.arange(1, 41), indexing="ij")
    truth = 3 + np.outer(rng.normal(size=30), rng.normal(size=40)).ravel()
    stars = np.clip(np.rint(truth), 1, 5).astype(np.int64)  # fit takes whole stars 1..5 only
    frame = pd.DataFrame({"user_id": users.ravel(), "item_id": items.ravel(), "rating": stars})
    config = MFConfig(n_factors=4, n_epochs=40, lr=0.02, reg=0.01, batch_size=32, seed=1)
    model = BiasedMF(config).fit(frame)
    assert model.history_["train_rmse"].iloc[-1] < 0.5 * model.history_["train_rmse"].iloc[0]
    again = BiasedMF(config).fit(frame)
    probe_u, probe_i = np.array([1, 5, 99]), np.array([1, 99, 99])
    np.testing.assert_array_equal(model.predict(probe_u, probe_i), again.predict(probe_u, probe_i))
    # Unknown pair -> mu; unknown item -> mu + b_u.
    pred = model.predict(probe_u, probe_i)
    assert pred[2] == pytest.approx(model.mean_)
    assert pred[1] == pytest.approx(model.mean_ + model.user_bias_[4])


def test_score_all_shape():
    model = BiasModel().fit(TINY)
    scores = score_all(model, np.array([1, 2]), np.array([10, 20, 30]))
    assert scores.shape == (2, 3)
    assert scores[1, 2] == pytest.approx(model.predict(np.array([2]), np.array([30]))[0])


def test_reference_rmse_on_u1(u1):
    train, test = u1
    global_mean = evaluate_rating_model(GlobalMean().fit(train), test)
    assert global_mean["rmse"] == pytest.approx(1.154, abs=0.002)
    bias = evaluate_rating_model(BiasModel().fit(train), test)
    assert bias["rmse"] < 1.0  # 0.960
    assert bias["rmse"] < global_mean["rmse"] - 0.15


def test_biased_mf_on_u1(u1):
    train, test = u1
    mf = evaluate_rating_model(BiasedMF(MFConfig(seed=0)).fit(train), test)
    assert mf["rmse"] < 0.96  # 0.951 with Surprise's SVD defaults (Surprise reports ~0.95)


def test_popularity_ranks_better_than_chance_on_u1(u1):
    train, test = u1
    users, items = np.arange(1, 944), np.arange(1, 1683)
    seen, relevant = ranking_masks(train, test, users, items)
    pop = Popularity("count").fit(train)
    metrics = evaluate_ranking(score_all(pop, users, items), seen, relevant, k=10)
    chance = relevant.sum() / (~seen).sum()  # precision of a random ranking
    assert metrics["precision@10"] > 5 * chance


# ------------------------------------------------------------------ bad training frames

MODELS = {
    "GlobalMean": GlobalMean,
    "BiasModel": BiasModel,
    "Popularity": lambda: Popularity("mean"),
    "BiasedMF": lambda: BiasedMF(MFConfig(n_factors=2, n_epochs=1)),
}


def random_frame(rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    """``n`` distinct (user, movie) pairs with whole-star ratings."""
    pairs = rng.choice(20 * 30, size=n, replace=False)
    return pd.DataFrame({"user_id": pairs // 30 + 1, "item_id": pairs % 30 + 1,
                         "rating": rng.integers(1, 6, size=n)})


def corrupt(frame: pd.DataFrame, kind: str, rng: np.random.Generator) -> tuple[pd.DataFrame, str]:
    """``frame`` with one randomly placed defect of ``kind``, and the message it must give."""
    frame = frame.copy()
    row = int(rng.integers(len(frame)))
    if kind == "nan":
        column = str(rng.choice(["user_id", "item_id", "rating"]))
        frame[column] = frame[column].astype(np.float64)
        frame.loc[row, column] = np.nan
        return frame, r"empty fields \(NaN\)"
    if kind == "off the scale":
        frame.loc[row, "rating"] = int(rng.choice([0, 6, 600, -3, 10**6]))
        return frame, r"ratings must lie on the scale 1..5"
    if kind == "half star":
        frame["rating"] = frame["rating"].astype(np.float64)
        frame.loc[row, "rating"] = rng.integers(1, 5) + 0.5
        return frame, r"ratings must lie on the scale 1..5 in steps of 1"
    if kind == "non-integer id":
        column = str(rng.choice(["user_id", "item_id"]))
        frame[column] = frame[column].astype(np.float64)
        frame.loc[row, column] += rng.uniform(0.1, 0.9)
        return frame, f"every {column} must be an integer id"
    other = (row + 1 + int(rng.integers(len(frame) - 1))) % len(frame)  # a duplicate pair
    frame.loc[other, ["user_id", "item_id"]] = frame.loc[row, ["user_id", "item_id"]].to_numpy()
    return frame, "rates the same movie twice for one user"


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", ["nan", "off the scale", "half star", "non-integer id",
                                  "duplicate"])
@pytest.mark.parametrize("seed", range(3))
def test_fit_refuses_a_bad_ratings_frame(name, kind, seed):
    rng = np.random.default_rng(seed)
    frame, message = corrupt(random_frame(rng), kind, rng)
    with pytest.raises(DataFormatError, match=message) as error:
        MODELS[name]().fit(frame)
    assert f"the training ratings of {type(MODELS[name]()).__name__}.fit" in str(error.value)


@pytest.mark.parametrize("name", MODELS)
def test_fit_refuses_what_is_not_a_ratings_frame(name):
    with pytest.raises(DataFormatError, match="is empty: there are no ratings"):
        MODELS[name]().fit(TINY.iloc[:0])
    with pytest.raises(DataFormatError, match="must be a pandas DataFrame with the columns"):
        MODELS[name]().fit(TINY.to_numpy())
    with pytest.raises(DataFormatError, match=r"lacks the columns \['rating'\]"):
        MODELS[name]().fit(TINY.rename(columns={"rating": "stars"}))
    with pytest.raises(DataFormatError, match="rating must be numeric"):
        MODELS[name]().fit(TINY.assign(rating=["5", "four", "3"]))


@pytest.mark.parametrize("name", MODELS)
def test_fit_computes_on_the_callers_values(name):
    """Validation changes nothing: float ratings, extra columns, a timestamp and numbers
    written as strings all give the fit of the plain integer frame."""
    frame = random_frame(np.random.default_rng(0))
    users, items = np.array([1, 5, 99]), np.array([3, 99, 7])
    expected = MODELS[name]().fit(frame).predict(users, items)
    for variant in (frame.astype({"rating": np.float64}), frame.assign(timestamp=1, x="a"),
                    frame.astype(str)):
        np.testing.assert_array_equal(MODELS[name]().fit(variant).predict(users, items),
                                      expected)


HALF_STAR_MODELS = {
    "GlobalMean": lambda: GlobalMean(dataset="ml-10m"),
    "BiasModel": lambda: BiasModel(dataset="ml-10m"),
    "Popularity": lambda: Popularity("mean", dataset="ml-10m"),
    "BiasedMF": lambda: BiasedMF(MFConfig(n_factors=2, n_epochs=1), dataset="ml-10m"),
}


@pytest.mark.parametrize("name", HALF_STAR_MODELS)
def test_a_half_star_dataset_is_fitted_on_its_own_scale(name):
    rng = np.random.default_rng(5)
    for _ in range(5):  # seeded half-star frames: accepted on ML-10M's scale, refused on ML-100K's
        frame = random_frame(rng).assign(rating=lambda f: rng.integers(1, 11, len(f)) / 2)
        model = HALF_STAR_MODELS[name]().fit(frame)
        assert np.isfinite(model.predict(frame["user_id"], frame["item_id"])).all()
        with pytest.raises(DataFormatError, match="in steps of 1"):
            MODELS[name]().fit(frame)
        bad = frame.copy()
        bad.loc[int(rng.integers(len(bad))), "rating"] = float(rng.choice([0.25, 5.5, 0.0, 4.75]))
        with pytest.raises(DataFormatError, match=r"scale 0.5..5 in steps of 0.5"):
            HALF_STAR_MODELS[name]().fit(bad)
    with pytest.raises(ValueError, match="Unknown dataset"):
        BiasModel(dataset="ml-99m")
