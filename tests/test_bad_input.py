"""Bad input to the trainers is refused up front, with a message saying what to pass instead.

:func:`recsae.training.fit` and :func:`recsae.article.train_as_published` share one checker
(:func:`recsae.article.check_matrix`); :class:`recsae.training.TrainConfig` checks every
hyper-parameter when it is made (and so when ``from_dict`` or a checkpoint makes one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsae.article import check_matrix, train_as_published
from recsae.model import StackedAutoencoder
from recsae.runtime import torch_threads
from recsae.training import TrainConfig, fit

N_USERS, N_ITEMS, N_EXTRA = 12, 9, 3
TINY = TrainConfig(hidden=(4,), epochs=1, batch_size=4)


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def matrix(seed: int = 0) -> np.ndarray:
    """``[12, 9 + 3]`` float32: ratings 1..5 at random places, then 3 feature columns."""
    rng = np.random.default_rng(seed)
    ratings = np.where(rng.random((N_USERS, N_ITEMS)) < 0.5, rng.integers(1, 6, (N_USERS, N_ITEMS)), 0)
    ratings[:, 0] = 3  # every user rates something
    return np.hstack([ratings, rng.random((N_USERS, N_EXTRA))]).astype(np.float32)


def fit_tiny(train, n_rating_columns=N_ITEMS):
    return fit(train, n_rating_columns, TINY, device="cpu")


def published_tiny(train, n_rating_columns=N_ITEMS):
    """train_as_published on a fresh model; the model must be untouched when it refuses."""
    torch.manual_seed(0)
    model = StackedAutoencoder(N_ITEMS + N_EXTRA, (4,))
    before = [p.detach().clone() for p in model.parameters()]
    try:
        return train_as_published(model, train, n_rating_columns, epochs=1)
    except (TypeError, ValueError):
        assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
        raise


TRAINERS = pytest.mark.parametrize("train_with", [fit_tiny, published_tiny],
                                   ids=["fit", "train_as_published"])


# ------------------------------------------------------------------ the matrix


@TRAINERS
@pytest.mark.parametrize("seed", range(6))
def test_nan_or_inf_anywhere_is_refused_and_located(train_with, seed):
    rng = np.random.default_rng(seed)
    train = matrix(seed)
    row, col = int(rng.integers(N_USERS)), int(rng.integers(N_ITEMS + N_EXTRA))
    train[row, col] = rng.choice([np.nan, np.inf, -np.inf])
    as_tensor = bool(seed % 2)  # the trainers also take torch tensors
    with pytest.raises(ValueError, match=rf"1 NaN or infinite entries \(first at row {row}, "
                                         rf"column {col}\)"):
        train_with(torch.from_numpy(train) if as_tensor else train)


@TRAINERS
@pytest.mark.parametrize("as_tensor", [False, True])
def test_float64_beyond_float32_is_refused(train_with, as_tensor):
    train = matrix().astype(np.float64)
    train[2, 1] = 1e300  # finite here, inf once the trainers cast to float32
    with pytest.raises(ValueError, match=r"NaN or infinite entries \(first at row 2, column 1\)"):
        train_with(torch.from_numpy(train) if as_tensor else train)


@TRAINERS
@pytest.mark.parametrize("n", [0, -1, N_ITEMS + N_EXTRA + 1, 2.5, True, "9", None])
def test_n_rating_columns_outside_the_matrix_is_refused(train_with, n):
    with pytest.raises(ValueError, match=r"n_rating_columns must be an integer between 1 and "
                                         r"train's 12 columns .* not "):
        train_with(matrix(), n)


@TRAINERS
def test_n_rating_columns_may_be_a_numpy_integer_or_every_column(train_with):
    train_with(matrix(), np.int64(N_ITEMS))
    train_with(matrix(), N_ITEMS + N_EXTRA)


@TRAINERS
def test_a_ratings_frame_is_not_a_matrix(train_with):
    frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [5, 3, 4]})
    with pytest.raises(TypeError, match="NumPy array .*build_user_matrices.* not a pandas "
                                        "DataFrame: a ratings frame is not a matrix"):
        train_with(frame)
    with pytest.raises(TypeError, match="not a pandas Series"):
        train_with(frame["rating"])


@TRAINERS
@pytest.mark.parametrize("shape", [(0, N_ITEMS + N_EXTRA), (N_USERS, 0), (0, 0)])
def test_an_empty_matrix_is_refused(train_with, shape):
    with pytest.raises(ValueError, match=r"is empty \(shape .*\): a user matrix needs at least "
                                         "one user row and one column"):
        train_with(np.zeros(shape, dtype=np.float32))


@TRAINERS
@pytest.mark.parametrize("bad", [np.ones(N_ITEMS), np.ones((2, 3, N_ITEMS)), np.float32(3)],
                         ids=["1-D", "3-D", "0-D"])
def test_a_matrix_must_be_two_dimensional(train_with, bad):
    with pytest.raises(ValueError, match=r"must be 2-D \[n_users, n_columns\], not of shape"):
        train_with(bad)


@TRAINERS
def test_non_numbers_are_refused(train_with):
    with pytest.raises(TypeError, match="must hold numbers"):
        train_with(np.full((N_USERS, N_ITEMS), "5"))
    with pytest.raises(TypeError, match="must be a 2-D numeric array"):
        train_with([[1.0, 2.0], [3.0]])


def test_check_matrix_accepts_valid_matrices_of_any_numeric_dtype():
    for train in (matrix(), matrix().astype(np.float64), matrix().astype(np.int64),
                  torch.from_numpy(matrix()), matrix().tolist()):
        check_matrix(train, N_ITEMS)


def test_fit_refuses_a_dict_for_its_config():
    with pytest.raises(TypeError, match=r"TrainConfig \(TrainConfig.from_dict\(d\) for a dict\)"):
        fit(matrix(), N_ITEMS, TINY.to_dict())


# ------------------------------------------------------------------ TrainConfig


@pytest.mark.parametrize(("field", "value", "rule"), [
    ("lr", 0.0, "a finite number > 0"),
    ("lr", -1e-3, "a finite number > 0"),
    ("lr", float("nan"), "a finite number > 0"),
    ("lr", float("inf"), "a finite number > 0"),
    ("lr", "0.01", "a finite number > 0"),
    ("epochs", 2.5, "a whole number >= 1"),
    ("epochs", 200.0, "a whole number >= 1"),
    ("epochs", 0, "a whole number >= 1"),
    ("epochs", True, "a whole number >= 1"),
    ("patience", 0, r"a whole number >= 1, or None"),
    ("patience", 1.5, r"a whole number >= 1, or None"),
    ("batch_size", 32.5, "a whole number >= 1"),
    ("batch_size", 0, "a whole number >= 1"),
    ("weight_decay", -0.1, "a finite number >= 0"),
    ("weight_decay", float("inf"), "a finite number >= 0"),
    ("momentum", 1.0, r"a number in \[0, 1\)"),
    ("momentum", -0.5, r"a number in \[0, 1\)"),
    ("dropout", 1.0, r"a number in \[0, 1\)"),
    ("dropout", -0.1, r"a number in \[0, 1\)"),
    ("val_fraction", float("nan"), r"a number in \[0, 1\)"),
    ("seed", -1, "a whole number >= 0"),
    ("seed", 0.5, "a whole number >= 0"),
    ("hidden", (20, 0, 20), "a non-empty sequence of whole layer sizes >= 1"),
    ("hidden", (20, -3), "a non-empty sequence of whole layer sizes >= 1"),
    ("hidden", (), "a non-empty sequence of whole layer sizes >= 1"),
    ("hidden", (8.5,), "a non-empty sequence of whole layer sizes >= 1"),
    ("hidden", 20, "a non-empty sequence of whole layer sizes >= 1"),
    ("activation", "softmax", "one of"),
])
def test_train_config_refuses_bad_values(field, value, rule):
    with pytest.raises(ValueError, match=rf"TrainConfig.{field} must be {rule}"):
        TrainConfig(**{field: value})
    with pytest.raises(ValueError, match=rf"TrainConfig.{field} must be {rule}"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), field: value})


@pytest.mark.parametrize("seed", range(5))
def test_train_config_refuses_random_bad_values(seed):
    """Any number outside a field's range, however it is drawn, is refused."""
    rng = np.random.default_rng(seed)
    bad = {"lr": -rng.random() * 10.0 ** rng.integers(-6, 3),
           "epochs": int(-rng.integers(0, 1000)),
           "batch_size": float(rng.integers(1, 512)) + rng.uniform(0.01, 0.99),
           "weight_decay": -rng.uniform(1e-9, 10),
           "momentum": rng.choice([-1, 1]) * rng.uniform(1, 100) if seed % 2 else 1.0 + rng.random(),
           "dropout": 1.0 + rng.random(),
           "seed": int(-rng.integers(1, 2**31)),
           "patience": int(-rng.integers(0, 100))}
    for field, value in bad.items():
        with pytest.raises(ValueError, match=f"TrainConfig.{field} must be"):
            TrainConfig(**{field: value})


def test_valid_configs_are_unchanged():
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()
    article = TrainConfig.article_settings((20, 10, 20), epochs=5, seed=3)
    assert TrainConfig.from_dict(article.to_dict()) == article
    edge = TrainConfig(lr=1, epochs=np.int64(3), batch_size=1, patience=None, seed=0,
                       momentum=0.0, dropout=0.0, weight_decay=0, hidden=[np.int64(8), 4.0])
    assert edge.hidden == (8, 4) and edge.epochs == 3 and edge.lr == 1
    assert TrainConfig(hidden=(h for h in (6, 3))).hidden == (6, 3)  # any iterable, once
