"""The sparse CPU minibatches compute the dense step's loss and gradients."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from recsae import sparse
from recsae.models import ACTIVATIONS, StackedAutoencoder
from recsae.training import TrainConfig, TrainingRows, fit, masked_mse_loss

N_RATINGS = 30


def _matrix(n_users: int = 12, seed: int = 0) -> np.ndarray:
    """Ratings in the first N_RATINGS columns (~30% rated), then 4 dense feature columns;
    user 5 has rated nothing (its row still has features), user 7's row is all zeros."""
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, size=(n_users, N_RATINGS)) * (rng.random((n_users, N_RATINGS)) < 0.3)
    features = rng.integers(0, 4, size=(n_users, 4))
    matrix = np.concatenate([ratings, features], axis=1).astype(np.float32)
    matrix[5, :N_RATINGS] = 0.0
    matrix[7] = 0.0
    return matrix


def test_batch_holds_the_rows_entries_in_order():
    matrix = _matrix()
    rows = np.array([3, 5, 0, 7])
    batch = sparse.SparseRows(matrix, N_RATINGS).batch(rows)
    dense = np.zeros((rows.size, matrix.shape[1]), dtype=np.float32)
    for r in range(rows.size):
        span = slice(batch.indptr[r], batch.indptr[r + 1])
        dense[r, batch.cols[span]] = batch.vals[span]
    np.testing.assert_array_equal(dense, matrix[rows])
    # Scored: the non-zero rating columns only, none of the feature columns.
    scored = np.zeros((rows.size, N_RATINGS), dtype=np.float32)
    scored[batch.out_rows, batch.out_cols] = batch.targets
    np.testing.assert_array_equal(scored, matrix[rows, :N_RATINGS])
    assert batch.targets.size == int((matrix[rows, :N_RATINGS] != 0).sum())
    assert (batch.indptr[2] - batch.indptr[1]) == 4  # user 5: features only


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_equal_autograd_on_the_dense_model(activation):
    matrix = _matrix()
    rows = torch.tensor([3, 5, 0, 7, 11, 2])
    torch.manual_seed(1)
    model = StackedAutoencoder(matrix.shape[1], (8, 3, 8), activation)
    dense_model = copy.deepcopy(model)

    sse, count = sparse.minibatch_gradients(model, sparse.SparseRows(matrix, N_RATINGS)
                                            .batch(rows.numpy()))
    x = torch.from_numpy(matrix)[rows]
    out = dense_model(x)[:, :N_RATINGS]
    target = x[:, :N_RATINGS]
    dense_sse, dense_count = masked_mse_loss(out, target, target != 0)
    (dense_sse / dense_count).backward()

    assert count == int(dense_count)
    assert sse == pytest.approx(float(dense_sse.detach()), rel=1e-5)
    for p, q in zip(model.parameters(), dense_model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_outputs_at_equal_the_dense_forward():
    matrix = _matrix()
    torch.manual_seed(2)
    model = StackedAutoencoder(matrix.shape[1], (6,), "tanh").eval()
    rows, cols = np.array([0, 0, 4, 11, 7]), np.array([0, 33, 2, 29, 1])
    expected = model(torch.from_numpy(matrix))[rows, cols]
    got = sparse.outputs_at(model, sparse.SparseRows(matrix, N_RATINGS).batch(), rows, cols)
    torch.testing.assert_close(got, expected.detach(), rtol=1e-5, atol=1e-6)
    predicted = model.predict_entries(torch.from_numpy(matrix), torch.from_numpy(rows),
                                      torch.from_numpy(cols))
    torch.testing.assert_close(predicted, expected.detach(), rtol=1e-5, atol=1e-6)


def test_dropout_masks_units_in_training_only():
    matrix = _matrix()
    torch.manual_seed(3)
    model = StackedAutoencoder(matrix.shape[1], (50,), dropout=0.5)
    batch = sparse.SparseRows(matrix, N_RATINGS).batch()
    hidden, cache = sparse._last_hidden(model.train(), batch)
    kept = cache[0][2]
    assert set(torch.unique(kept).tolist()) == {0.0, 2.0}  # dropped, or kept and scaled
    torch.testing.assert_close(hidden, cache[0][1] * kept)
    _, cache = sparse._last_hidden(model.eval(), batch)
    assert cache[0][2] is None


def test_sparse_and_dense_fits_agree():
    """Ten epochs on synthetic data: the two paths differ by float rounding only."""
    matrix = _matrix(n_users=40)
    config = TrainConfig(hidden=(8, 4, 8), epochs=10, batch_size=8, patience=None, seed=4)
    fast = fit(matrix, N_RATINGS, config, device="cpu", threads=1)
    dense = fit(matrix, N_RATINGS, config, device="cpu", threads=1, sparse=False)
    assert fast.best_epoch == dense.best_epoch
    np.testing.assert_allclose(fast.history["val_rmse"], dense.history["val_rmse"], rtol=1e-4)
    np.testing.assert_allclose(fast.history["train_rmse"], dense.history["train_rmse"], rtol=1e-4)


def test_sparse_rows_refuse_other_devices():
    with pytest.raises(ValueError, match="CPU only"):
        TrainingRows(_matrix(), N_RATINGS, torch.device("meta"), use_sparse=True)
