"""The I-AutoRec + MF blend (recsae.blend): members, weights fitted on validation, the tuned config."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

# The I-AutoRec tests' fast config and fixtures (a synthetic frame, u1).
from test_autorec import FAST, synthetic, u1  # noqa: F401

from recsae.autorec import TUNING_GRID, IAutoRec
from recsae.baselines import BiasedMF, GlobalMean, MFConfig
from recsae.blend import BEST_CONFIG, AutoRecBlend, BlendConfig, autorec_mf_blend, tune_blend
from recsae.protocol import evaluate_rating_model

TINY_MF = MFConfig(n_factors=4, n_epochs=5, batch_size=64)


def test_blend_with_one_weight_is_that_member(synthetic):
    users, items = synthetic["user_id"].to_numpy(), synthetic["item_id"].to_numpy()
    only_autorec = AutoRecBlend(BlendConfig((FAST,), weights=(0.0, 1.0, 0.0, 0.0))).fit(synthetic)
    np.testing.assert_allclose(only_autorec.predict(users, items),
                               IAutoRec(FAST).fit(synthetic).predict(users, items))
    assert only_autorec.members_[1] == [] and only_autorec.members_[2] == []  # not trained
    shifted_mf = AutoRecBlend(BlendConfig((FAST,), mf=TINY_MF, weights=(0.5, 0.0, 2.0, 0.0))).fit(synthetic)
    np.testing.assert_allclose(shifted_mf.predict(users, items),
                               0.5 + 2.0 * BiasedMF(TINY_MF).fit(synthetic).predict(users, items))


def test_blend_averages_configs_and_seeds(synthetic):
    users, items = synthetic["user_id"].to_numpy(), synthetic["item_id"].to_numpy()
    other = replace(FAST, hidden=8)
    blend = AutoRecBlend(BlendConfig((FAST, other), n_seeds=2, weights=(0.0, 1.0, 0.0, 0.0))).fit(synthetic)
    members = [IAutoRec(replace(c, seed=s)).fit(synthetic).predict(users, items)
               for c in (FAST, other) for s in (0, 1)]
    assert len(blend.members_[0]) == 4
    np.testing.assert_allclose(blend.predict(users, items), np.mean(members, axis=0))
    with pytest.raises(ValueError, match="weights"):
        AutoRecBlend(BlendConfig((FAST,), weights=(0.0, 1.0))).fit(synthetic)


def test_blend_fits_its_weights_on_a_validation_split(synthetic):
    blend = AutoRecBlend(BlendConfig((FAST,), mf=TINY_MF)).fit(synthetic)
    assert blend.weights_.shape == (4,) and np.isfinite(blend.weights_).all()
    train, test = synthetic.iloc[:600], synthetic.iloc[600:]
    fitted = AutoRecBlend(BlendConfig((FAST,), mf=TINY_MF)).fit(train)
    assert (evaluate_rating_model(fitted, test)["rmse"]
            < evaluate_rating_model(GlobalMean().fit(train), test)["rmse"])


def test_tune_blend_ranks_candidates_by_cross_fitted_validation_rmse(synthetic):
    table, best = tune_blend(synthetic, {"hidden": [8, 16]}, autorec_base=FAST, mf_grid=(TINY_MF,),
                             max_seeds=2, max_configs=2)
    candidates = table[table["candidate"] != "autorec grid"]
    # (1 or 2 configs) x (1 or 2 seeds) x (no MF, MF) x (no bias, bias)
    assert len(candidates) == 2 * 2 * 2 * 2
    assert len(table) - len(candidates) == 2  # the I-AutoRec grid
    assert candidates["cv_valid_rmse"].is_monotonic_increasing
    winner = candidates.iloc[0]
    assert (len(best.autorecs), best.n_seeds) == (winner["n_configs"], winner["n_seeds"])
    grid_rows = table[table["candidate"] == "autorec grid"]
    assert best.autorecs[0].hidden == grid_rows.iloc[0]["hidden"]  # the grid's winner first
    assert best.autorecs[0].n_epochs == grid_rows.iloc[0]["best_epoch"]
    assert best.weights == pytest.approx(winner["weights"], abs=1e-4)
    # A member left out of the winning blend has weight 0.
    assert (best.weights[2] == 0) == pd.isna(winner["mf"]) and (best.weights[3] == 0) != winner["bias"]


def test_best_config_is_a_blend_of_grid_configs():
    model = autorec_mf_blend()
    assert isinstance(model, AutoRecBlend) and model.config is BEST_CONFIG
    assert len(BEST_CONFIG.weights) == 4
    for config in BEST_CONFIG.autorecs:  # chosen from the documented grid, early-stopped
        assert config.hidden in TUNING_GRID["hidden"] and config.reg in TUNING_GRID["reg"]


@pytest.mark.slow
def test_autorec_mf_blend_beats_the_single_iautorec_on_u1(u1):
    train, test = u1
    metrics = evaluate_rating_model(autorec_mf_blend().fit(train), test)
    assert metrics["rmse"] == pytest.approx(0.8955, abs=0.002)  # I-AutoRec alone: 0.9051
