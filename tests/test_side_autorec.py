"""I-AutoRec with item side features (recsae.side_autorec)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_glocal_k import ratings  # noqa: F401  (the shared fixture)

from recsae.autorec import AutoRecConfig, IAutoRec
from recsae.protocol import evaluate_rating_model
from recsae.side_autorec import SideIAutoRec, genre_flags
from recsae.splits import validation_split

SMALL = AutoRecConfig(hidden=5, reg=1.0, n_epochs=8)


def test_genre_flags_one_column_per_genre():
    movies = pd.DataFrame({"item_id": [1, 2, 3], "genres": ["Drama|Comedy", "", "Drama"]})
    flags = genre_flags(movies)
    assert list(flags.columns) == ["item_id", "Comedy", "Drama"]
    np.testing.assert_array_equal(flags[["Comedy", "Drama"]].to_numpy(), [[1, 1], [0, 0], [0, 1]])


def test_without_features_it_is_i_autorec(ratings):  # noqa: F811
    side = SideIAutoRec(SMALL).fit(ratings).reconstruction_
    plain = IAutoRec(SMALL).fit(ratings).reconstruction_
    np.testing.assert_allclose(side, plain, rtol=1e-4, atol=1e-4)


def test_features_widen_the_input_and_change_the_fit(ratings):  # noqa: F811
    feats = pd.DataFrame({"item_id": np.arange(1, 21), "a": np.arange(20) % 2 * 1.0})
    train, valid = validation_split(ratings, 0.2, seed=0)
    model = SideIAutoRec(SMALL, feats, side_scale=2.0).fit(train, valid)
    assert model._side().shape == (len(model.items_), 1)
    assert "valid_rmse" in model.history_ and len(model.history_) == SMALL.n_epochs
    plain = SideIAutoRec(SMALL).fit(train).reconstruction_
    assert not np.allclose(model.reconstruction_, plain)
    scores = evaluate_rating_model(model, valid)
    assert scores["n"] == len(valid) and np.isfinite(scores["rmse"])


def test_rejects_minibatches(ratings):  # noqa: F811
    with pytest.raises(ValueError, match="full batch"):
        SideIAutoRec(AutoRecConfig(batch_size=4)).fit(ratings)
