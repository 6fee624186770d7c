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


def _both_gradients(model: StackedAutoencoder, matrix: np.ndarray, rows: list[int],
                    seed: int = 0) -> tuple[float, int, float, int, StackedAutoencoder]:
    """The sparse step's (sse, count) with ``model``'s .grad set, then autograd's on the
    dense model (a copy): (sse, count, its model). The same seed before each, so that
    dropout draws the same masks (both draw one bernoulli_ per hidden layer, in order)."""
    dense_model = copy.deepcopy(model)
    torch.manual_seed(seed)
    sse, count = sparse.minibatch_gradients(model, sparse.SparseRows(matrix, N_RATINGS)
                                            .batch(np.array(rows)))
    x = torch.from_numpy(matrix)[torch.tensor(rows)]
    torch.manual_seed(seed)
    out = dense_model(x)[:, :N_RATINGS]
    target = x[:, :N_RATINGS]
    dense_sse, dense_count = masked_mse_loss(out, target, target != 0)
    (dense_sse / dense_count.clamp(min=1.0)).backward()
    return sse, count, float(dense_sse.detach()), int(dense_count), dense_model


@pytest.mark.parametrize("hidden", [(8, 3, 8), (6,)])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_equal_autograd_on_the_dense_model(activation, hidden):
    torch.manual_seed(1)
    model = StackedAutoencoder(_matrix().shape[1], hidden, activation)
    sse, count, dense_sse, dense_count, dense_model = _both_gradients(
        model, _matrix(), [3, 5, 0, 7, 11, 2])
    assert count == dense_count > 0
    assert sse == pytest.approx(dense_sse, rel=1e-5)
    for p, q in zip(model.parameters(), dense_model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_gradients_with_dropout_equal_autograd():
    """nn.Dropout and the sparse step draw the same masks from the same seed."""
    torch.manual_seed(5)
    model = StackedAutoencoder(_matrix().shape[1], (16, 4, 16), dropout=0.3).train()
    _, _, _, _, dense_model = _both_gradients(model, _matrix(), [0, 1, 2, 3, 4, 6], seed=9)
    for p, q in zip(model.parameters(), dense_model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)
    assert any(float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_a_batch_without_scored_ratings_has_zero_loss_and_gradients():
    torch.manual_seed(1)
    model = StackedAutoencoder(_matrix().shape[1], (8, 3, 8))
    sse, count, dense_sse, dense_count, _ = _both_gradients(model, _matrix(), [5, 7])
    assert (sse, count) == (0.0, 0) and (dense_sse, dense_count) == (0.0, 0)
    assert all(float(p.grad.abs().max()) == 0.0 for p in model.parameters())


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


def test_sparse_and_dense_fits_agree(monkeypatch):
    """Ten epochs on synthetic data: the two paths differ by float rounding only."""
    calls = []
    step = sparse.minibatch_gradients
    monkeypatch.setattr(sparse, "minibatch_gradients", lambda *a: calls.append(1) or step(*a))
    matrix = _matrix(n_users=40)
    config = TrainConfig(hidden=(8, 4, 8), epochs=10, batch_size=8, patience=None, seed=4)
    fast = fit(matrix, N_RATINGS, config, device="cpu", threads=1)
    assert len(calls) == 10 * 5  # every step of the CPU default went the sparse way
    dense = fit(matrix, N_RATINGS, config, device="cpu", threads=1, sparse=False)
    assert len(calls) == 10 * 5  # and none of these
    assert fast.best_epoch == dense.best_epoch
    np.testing.assert_allclose(fast.history["val_rmse"], dense.history["val_rmse"], rtol=1e-4)
    np.testing.assert_allclose(fast.history["train_rmse"], dense.history["train_rmse"], rtol=1e-4)


def test_the_cpu_default_is_sparse():
    cpu = torch.device("cpu")
    assert TrainingRows(_matrix(), N_RATINGS, cpu).sparse
    assert not TrainingRows(_matrix(), N_RATINGS, cpu, use_sparse=False).sparse


def test_sparse_rows_refuse_other_devices():
    with pytest.raises(ValueError, match="CPU only"):
        TrainingRows(_matrix(), N_RATINGS, torch.device("meta"), use_sparse=True)
