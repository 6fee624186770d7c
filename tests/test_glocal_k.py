"""The kernelised item autoencoder (recsae.glocal_k): kernel gate, shapes, seeds, stopping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsae.glocal_k import GlobalKernel, GlocalK, GlocalKConfig, KernelLayer, local_kernel, select_epochs
from recsae.protocol import evaluate_rating_model
from recsae.splits import validation_split

TINY = GlocalKConfig(hidden=6, kernel_dim=3, iters_per_epoch=2, pre_epochs=3, fine_epochs=2,
                     lambda_2=1.0, lambda_s=0.01)


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    """A small dense-ish ratings frame: 30 users x 20 items, ~40% observed, low-rank signal."""
    rng = np.random.default_rng(0)
    users, items = np.meshgrid(np.arange(1, 31), np.arange(1, 21), indexing="ij")
    keep = rng.random(users.shape) < 0.4
    signal = np.outer(rng.normal(size=30), rng.normal(size=20))
    rating = np.clip(np.rint(3 + signal + rng.normal(0, 0.3, users.shape)), 1, 5)
    return pd.DataFrame({"user_id": users[keep], "item_id": items[keep],
                         "rating": rating[keep].astype(np.float32)})


def test_local_kernel_values():
    u = torch.tensor([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    v = torch.tensor([[0.0, 0.0], [0.0, 0.5]])
    expected = torch.tensor([[1.0, 0.75], [0.75, 0.5], [0.0, 0.0]])
    torch.testing.assert_close(local_kernel(u, v), expected)


def test_gradients_flow_through_the_gate_and_stop_where_it_is_zero():
    layer = KernelLayer(3, 2, kernel_dim=2, activation=True, kernel=True)
    with torch.no_grad():
        layer.u.copy_(torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]]))  # input 2 is cut off
        layer.v.copy_(torch.tensor([[0.0, 0.1], [0.2, 0.0]]))
    out, reg = layer(torch.ones(4, 3))
    (out.sum() + reg.sum()).backward()
    assert layer.u.grad[:2].abs().sum() > 0 and layer.v.grad.abs().sum() > 0
    assert layer.weight.grad[:2].abs().sum() > 0
    # A zero gate is sparse: the weight is unused and gets only its L2 gradient (2 W).
    torch.testing.assert_close(layer.weight.grad[2], 2 * layer.weight.detach()[2])
    assert torch.all(layer.u.grad[2] == 0)


def test_a_fully_closed_gate_leaves_only_the_bias():
    layer = KernelLayer(4, 3, kernel_dim=2, activation=False, kernel=True)
    with torch.no_grad():
        layer.u.fill_(10.0)
        layer.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))
    out, reg = layer(torch.randn(5, 4))
    torch.testing.assert_close(out, torch.tensor([1.0, 2.0, 3.0]).expand(5, 3))
    assert float(reg[1].detach()) == 0.0


def test_global_kernel_shape_and_relu():
    gk = GlobalKernel(7, 3, 1.0, torch.Generator().manual_seed(0))
    out = gk(torch.rand(7, 11) * 5, torch.rand(7, 11) * 5)
    assert out.shape == (7, 11) and torch.all(out >= 0)


def test_fit_shapes_and_rating_model_contract(ratings):
    train, test = validation_split(ratings, 0.2, seed=1)
    model = GlocalK(TINY).fit(train)
    assert model.reconstruction_.shape == (len(model.items_), len(model.users_))
    pred = model.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy())
    assert pred.shape == (len(test),) and pred.dtype == np.float64 and np.all(np.isfinite(pred))
    assert list(model.history_["stage"]) == ["pre"] * 3 + ["fine"] * 2
    scores = evaluate_rating_model(model, test)
    assert scores["n"] == len(test) and scores["rmse"] < 2.0
    # Unknown ids: an unseen item gets the global mean, an unseen user the item's mean.
    item = model.items_[0]
    unknown = model.predict(np.array([999, model.users_[0]]), np.array([item, 999]))
    np.testing.assert_allclose(unknown, [model.item_mean_[0], model.mean_])


def test_training_lowers_the_training_error(ratings):
    model = GlocalK(TINY).fit(ratings)
    pre = model.history_[model.history_["stage"] == "pre"]["train_rmse"].to_numpy()
    assert pre[-1] < pre[0]


def test_deterministic_under_a_seed(ratings):
    a = GlocalK(TINY).fit(ratings).reconstruction_
    b = GlocalK(TINY).fit(ratings).reconstruction_
    c = GlocalK(GlocalKConfig(**{**TINY.__dict__, "seed": 1})).fit(ratings).reconstruction_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_side_features_widen_the_input(ratings):
    feats = pd.DataFrame({"item_id": [1, 2, 3], "drama": [1.0, 0.0, 1.0], "comedy": [0.0, 1.0, 1.0]})
    model = GlocalK(TINY, feats).fit(ratings)
    n_users = len(model.users_)
    assert model.net_.layers[0].weight.shape[0] == n_users + 2
    side = model._side()
    np.testing.assert_array_equal(side[3].numpy(), [0.0, 0.0])  # item 4 has no features: zeros
    np.testing.assert_array_equal(side[0].numpy(), [1.0, 0.0])


def test_validation_stopping_restores_the_best_epoch(ratings):
    fit_part, valid = validation_split(ratings, 0.2, seed=0)
    model = GlocalK(TINY).fit(fit_part, valid)
    hist = model.history_
    pre = hist[hist["stage"] == "pre"]
    assert model.best_pre_epochs_ == int(pre.loc[pre["valid_rmse"].idxmin(), "epoch"])
    pred = np.clip(model.predict(valid["user_id"].to_numpy(), valid["item_id"].to_numpy()), 1, 5)
    rmse = np.sqrt(np.mean((pred - valid["rating"].to_numpy()) ** 2))
    fine = hist[hist["stage"] == "fine"]["valid_rmse"]
    best = fine.min() if model.best_fine_epochs_ > 0 else pre["valid_rmse"].min()
    assert rmse == pytest.approx(best, rel=1e-5)


def test_select_epochs_uses_only_the_training_frame(ratings):
    train, test = validation_split(ratings, 0.2, seed=3)
    chosen, model, valid = select_epochs(train, TINY, valid_frac=0.25, split_seed=0)
    expected_valid = validation_split(train, 0.25, 0)[1]
    pd.testing.assert_frame_equal(valid, expected_valid)
    # Every validation rating comes from the training frame, none from the test frame.
    keys = ["user_id", "item_id"]
    assert len(valid.merge(train, on=keys)) == len(valid)
    assert len(valid.merge(test, on=keys)) == 0
    assert (chosen.pre_epochs, chosen.fine_epochs) == (model.best_pre_epochs_, model.best_fine_epochs_)
    assert chosen.pre_epochs <= TINY.pre_epochs and chosen.fine_epochs <= TINY.fine_epochs
