"""``optimizer="sparse_adam"``: the CPU engine's lazy Adam (:mod:`recsae._fast.lazy_adam`)
equals torch's own ``SparseAdam`` (first and output layers, sparse gradients) + ``Adam``
(the rest), as :class:`recsae.sparse_torch.SparseTorchTrainer` runs them."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsae._fast.sparse_trainer import SparseTrainer
from recsae.model import StackedAutoencoder
from recsae.sparse_torch import SparseTorchTrainer
from recsae.splits import canonical_csr
from recsae.trainconfig import TrainConfig

N_RATINGS = 40


def _csr(n_users: int = 60, seed: int = 0) -> sp.csr_matrix:
    """Sparse ratings (~10%: many columns untouched by a batch) and 2 feature columns."""
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, (n_users, N_RATINGS)) * (rng.random((n_users, N_RATINGS)) < 0.1)
    features = rng.integers(0, 3, (n_users, 2))
    return canonical_csr(np.concatenate([ratings, features], axis=1).astype(np.float32))


def _trainers(config: TrainConfig, data: sp.csr_matrix):
    torch.manual_seed(0)
    model = StackedAutoencoder(data.shape[1], config.hidden, config.activation, config.dropout)
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    lazy = SparseTrainer(copy.deepcopy(model), data, N_RATINGS, none, config)
    reference = SparseTorchTrainer(copy.deepcopy(model), data, N_RATINGS, none, config)
    return lazy, reference


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_lazy_adam_equals_torch_sparse_adam(weight_decay, activation):
    config = TrainConfig(hidden=(6, 3, 6), activation=activation, batch_size=8, lr=0.02,
                         optimizer="sparse_adam", weight_decay=weight_decay)
    data = _csr()
    lazy, reference = _trainers(config, data)
    generator = torch.Generator().manual_seed(1)
    for _ in range(4):
        order = torch.randperm(data.shape[0], generator=generator)
        rmse = lazy.train_epoch(order, 0.02), reference.train_epoch(order, 0.02)
        assert rmse[0] == pytest.approx(rmse[1], rel=1e-5)
    lazy.restore(None)
    reference.restore(None)
    for p, q in zip(lazy.model.parameters(), reference.model.parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=1e-5)
    # Adam and lazy Adam differ: the reference is not dense Adam in disguise.
    dense_config = TrainConfig(**{**config.to_dict(), "optimizer": "adam"})
    dense, _ = _trainers(dense_config, data)
    generator = torch.Generator().manual_seed(1)
    for _ in range(4):
        dense.train_epoch(torch.randperm(data.shape[0], generator=generator), 0.02)
    dense.restore(None)
    assert not np.allclose(dense.model.layers[0].weight.detach().numpy(),
                           lazy.model.layers[0].weight.detach().numpy(), atol=1e-4)


def test_only_the_rows_a_minibatch_touches_move():
    """One step on users 0..3: first-layer rows of absent input columns and output rows of
    unscored columns keep their weights; the gradient array is never read or zeroed
    outside what the batch touches (NaN there stays, and nothing becomes NaN)."""
    config = TrainConfig(hidden=(5,), batch_size=4, lr=0.05, optimizer="sparse_adam")
    data = _csr()
    lazy, _ = _trainers(config, data)
    before = [p.detach().numpy().copy() for p in lazy.model.parameters()]
    lazy.net.grad[:] = np.nan
    lazy.train_epoch(torch.arange(4), 0.05)  # one minibatch: users 0..3
    lazy.restore(None)
    after = [p.detach().numpy() for p in lazy.model.parameters()]
    present = np.unique(data[:4].indices)
    scored = np.unique(data[:4].indices[data[:4].indices < N_RATINGS])
    absent = np.setdiff1d(np.arange(data.shape[1]), present)
    unscored = np.setdiff1d(np.arange(data.shape[1]), scored)
    assert absent.size and unscored.size and present.size
    np.testing.assert_array_equal(after[0][:, absent], before[0][:, absent])
    assert (after[0][:, present] != before[0][:, present]).all()
    assert (after[1] != before[1]).all()  # the first layer's bias: dense Adam
    np.testing.assert_array_equal(after[2][unscored], before[2][unscored])
    np.testing.assert_array_equal(after[3][unscored], before[3][unscored])
    assert (after[3][scored] != before[3][scored]).all()
    assert all(np.isfinite(a).all() for a in after)
    w_in = lazy.net.grad[:data.shape[1] * 5].reshape(data.shape[1], 5)
    assert np.isnan(w_in[absent]).all() and np.isfinite(w_in[present]).all()


def test_fit_with_sparse_adam_learns_on_both_engines():
    from recsae.training import fit

    data = _csr(120)
    config = TrainConfig(hidden=(8, 4, 8), epochs=20, batch_size=16, lr=0.02,
                         optimizer="sparse_adam", patience=None)
    numba_run = fit(data, N_RATINGS, config)
    torch_run = fit(data, N_RATINGS, config, sparse="torch")
    rmse = numba_run.history["train_rmse"]
    assert rmse.iloc[-1] < 0.5 * rmse.iloc[0]
    np.testing.assert_allclose(numba_run.history["val_rmse"], torch_run.history["val_rmse"],
                               rtol=1e-4)
