"""The user autoencoder as a rating model: same numbers as the matrix path, fallbacks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from recsae import data, protocol, training, user_matrix
from recsae.user_autoencoder import UserAutoencoder

QUICK = replace(training.TrainConfig(), epochs=15, seed=0)


def test_matches_training_on_the_matrix():
    train, test = data.load_split(1)
    model = UserAutoencoder(QUICK, "ratings+genres+attributes").fit(train)
    matrices = user_matrix.build_user_matrices(train, test, "corrected")
    result = training.fit(matrices.train, matrices.columns.n_items, QUICK, device="cpu", threads=1)
    expected = training.predict(result.model, matrices.train)
    rows = matrices.columns.user_ids.tolist().index(5)
    cols = matrices.columns.item_ids.tolist().index(17)
    assert model.predict(np.array([5]), np.array([17]))[0] == expected[rows, cols]
    assert protocol.evaluate_rating_model(model, test)["rmse"] < 1.154


def test_ratings_only_works_on_any_ids_and_falls_back():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": rng.integers(100, 130, 400), "item_id": rng.integers(5000, 5040, 400),
                          "rating": rng.integers(1, 6, 400), "timestamp": 0}).drop_duplicates(
        ["user_id", "item_id"])
    model = UserAutoencoder(replace(QUICK, epochs=3, val_fraction=0.0)).fit(frame)
    out = model.predict(np.array([100, 999]), np.array([5001, 5001]))
    assert np.isfinite(out).all()
    assert out[1] == frame["rating"].mean()  # unknown user: the global mean
