"""The sparse CPU step (flat parameters, numba kernels) computes the dense step's loss,
gradients and outputs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from recsae._fast import sparse
from recsae._fast.sparse_trainer import SparseTrainer
from recsae.loss import masked_sse
from recsae.model import ACTIVATIONS, StackedAutoencoder
from recsae.training import TrainConfig, _fit, fit

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


def _dense(indptr: np.ndarray, cols: np.ndarray, vals: np.ndarray, width: int) -> np.ndarray:
    dense = np.zeros((indptr.size - 1, width), dtype=np.float32)
    for r in range(indptr.size - 1):
        dense[r, cols[indptr[r]:indptr[r + 1]]] = vals[indptr[r]:indptr[r + 1]]
    return dense


def test_sparse_rows_hold_the_inputs_and_the_scored_ratings():
    matrix = _matrix()
    data = sparse.SparseRows(matrix, N_RATINGS)
    np.testing.assert_array_equal(_dense(data.indptr, data.cols, data.vals, matrix.shape[1]),
                                  matrix)
    # Scored: the non-zero rating columns only, none of the feature columns.
    scored = _dense(data.scored_indptr, data.scored_cols, data.scored_vals, N_RATINGS)
    np.testing.assert_array_equal(scored, matrix[:, :N_RATINGS])
    assert data.indptr[6] - data.indptr[5] == 4  # user 5: features only
    assert data.n_scored(np.array([3, 5, 7])) == int((matrix[3, :N_RATINGS] != 0).sum())


def test_flat_parameters_round_trip_through_the_model():
    torch.manual_seed(0)
    model = StackedAutoencoder(_matrix().shape[1], (8, 3, 8))
    net = sparse.FlatNet(model, max_rows=4)
    assert net.theta.size == model.n_parameters()
    other = StackedAutoencoder(_matrix().shape[1], (8, 3, 8))
    net.store(other)
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(p, q)
    assert all(p.is_contiguous() for p in other.parameters())


def _both_gradients(model: StackedAutoencoder, matrix: np.ndarray, rows: list[int],
                    seed: int = 0) -> tuple[float, int, list[torch.Tensor], float, int,
                                            StackedAutoencoder]:
    """The sparse step's (sse, count, gradients), then autograd's on the dense model (a
    copy): (sse, count, the model with .grad set). The same seed before each, so that
    dropout draws the same masks (both draw one bernoulli_ per hidden layer, in order)."""
    dense_model = copy.deepcopy(model)
    net = sparse.FlatNet(model, max_rows=len(rows))
    net.grad[:] = 7.0  # stale values: the step must overwrite every gradient
    torch.manual_seed(seed)
    sse, count = net.minibatch_gradients(sparse.SparseRows(matrix, N_RATINGS), np.array(rows))
    x = torch.from_numpy(matrix)[torch.tensor(rows)]
    torch.manual_seed(seed)
    out = dense_model(x)[:, :N_RATINGS]
    target = x[:, :N_RATINGS]
    dense_sse, dense_count = masked_sse(out, target, target != 0)
    (dense_sse / dense_count.clamp(min=1.0)).backward()
    return sse, count, net.gradients(), float(dense_sse.detach()), int(dense_count), dense_model


@pytest.mark.parametrize("hidden", [(8, 3, 8), (6,)])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_equal_autograd_on_the_dense_model(activation, hidden):
    torch.manual_seed(1)
    model = StackedAutoencoder(_matrix().shape[1], hidden, activation)
    sse, count, grads, dense_sse, dense_count, dense_model = _both_gradients(
        model, _matrix(), [3, 5, 0, 7, 11, 2])
    assert count == dense_count > 0
    assert sse == pytest.approx(dense_sse, rel=1e-5)
    for g, q in zip(grads, dense_model.parameters(), strict=True):
        torch.testing.assert_close(g, q.grad, rtol=1e-5, atol=1e-7)


def test_gradients_with_dropout_equal_autograd():
    """nn.Dropout and the sparse step draw the same masks from the same seed."""
    torch.manual_seed(5)
    model = StackedAutoencoder(_matrix().shape[1], (16, 4, 16), dropout=0.3).train()
    *_, grads, _, _, dense_model = _both_gradients(model, _matrix(), [0, 1, 2, 3, 4, 6], seed=9)
    for g, q in zip(grads, dense_model.parameters(), strict=True):
        torch.testing.assert_close(g, q.grad, rtol=1e-5, atol=1e-7)
    assert all(float(g.abs().sum()) > 0 for g in grads)


def test_a_batch_without_scored_ratings_has_zero_loss_and_gradients():
    torch.manual_seed(1)
    model = StackedAutoencoder(_matrix().shape[1], (8, 3, 8))
    sse, count, grads, dense_sse, dense_count, _ = _both_gradients(model, _matrix(), [5, 7])
    assert (sse, count) == (0.0, 0) and (dense_sse, dense_count) == (0.0, 0)
    assert all(float(g.abs().max()) == 0.0 for g in grads)


@pytest.mark.parametrize("hidden", [(6,), (8, 3, 8)])
def test_outputs_at_equal_the_dense_forward(hidden):
    """Eval mode (no dropout), rows in chunks smaller than the matrix."""
    matrix = _matrix()
    torch.manual_seed(2)
    model = StackedAutoencoder(matrix.shape[1], hidden, "tanh", dropout=0.5).eval()
    rows, cols = np.array([0, 0, 4, 7, 11]), np.array([0, 33, 2, 1, 29])
    expected = model(torch.from_numpy(matrix))[rows, cols].detach()
    query_indptr = np.searchsorted(rows, np.arange(matrix.shape[0] + 1))
    got = sparse.FlatNet(model, max_rows=5).outputs_at(sparse.SparseRows(matrix, N_RATINGS),
                                                      query_indptr, cols)
    torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-5, atol=1e-6)


def test_dropout_masks_drop_or_scale_each_unit():
    torch.manual_seed(3)
    net = sparse.FlatNet(StackedAutoencoder(_matrix().shape[1], (50, 7), dropout=0.5), 8)
    masks = net.dropout_masks(8)
    assert masks.shape == (2, 8, 50)
    assert set(np.unique(masks[0])) == {0.0, 2.0}  # dropped, or kept and scaled
    assert set(np.unique(masks[1, :, :7])) == {0.0, 2.0} and not masks[1, :, 7:].any()
    no_dropout = sparse.FlatNet(StackedAutoencoder(_matrix().shape[1], (5,)), 8)
    assert no_dropout.dropout_masks(8).size == 0


@pytest.mark.parametrize("overrides", [
    {"optimizer": "adam"},
    {"optimizer": "rmsprop", "schedule": "cosine", "momentum": 0.5},
    {"optimizer": "adamw", "dropout": 0.2},  # masks drawn in the same order, step by step
    {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05, "val_fraction": 0.0},
], ids=["adam", "rmsprop-cosine", "adamw-dropout", "sgd-no-validation"])
def test_sparse_and_dense_fits_agree(monkeypatch, overrides):
    """Ten epochs on synthetic data, a partial last batch (43 users, batches of 8): the two
    paths differ by float rounding only, whatever the optimizer."""
    calls = []
    step = sparse.FlatNet.minibatch_gradients
    monkeypatch.setattr(sparse.FlatNet, "minibatch_gradients",
                        lambda *a, **k: calls.append(1) or step(*a, **k))
    matrix = _matrix(n_users=43)
    config = TrainConfig(**{"hidden": (8, 4, 8), "epochs": 10, "batch_size": 8,
                            "patience": None, "seed": 4, "lr": 1e-2, "weight_decay": 0.01,
                            **overrides})
    fast = fit(matrix, N_RATINGS, config, device="cpu", threads=1)
    assert len(calls) == 10 * 6  # every step of the CPU default went the sparse way
    dense = fit(matrix, N_RATINGS, config, device="cpu", threads=1, sparse=False)
    assert len(calls) == 10 * 6  # and none of these
    assert fast.best_epoch == dense.best_epoch
    np.testing.assert_allclose(fast.history["val_rmse"], dense.history["val_rmse"], rtol=1e-4)
    np.testing.assert_allclose(fast.history["train_rmse"], dense.history["train_rmse"],
                               rtol=1e-4)
    np.testing.assert_allclose(fast.history["lr"], dense.history["lr"], rtol=1e-12)
    torch.manual_seed(config.seed)
    untrained = StackedAutoencoder(matrix.shape[1], config.hidden)
    for p, q, p0 in zip(fast.model.parameters(), dense.model.parameters(),
                        untrained.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)
        assert not torch.equal(p, p0)  # trained weights written back into the model


def test_work_buffers_are_reused_across_batch_sizes():
    """One FlatNet, a full batch then smaller ones: the same as a fresh net each time."""
    matrix = _matrix()
    torch.manual_seed(6)
    model = StackedAutoencoder(matrix.shape[1], (9, 3), dropout=0.4)
    data = sparse.SparseRows(matrix, N_RATINGS)
    reused = sparse.FlatNet(model, max_rows=12)
    for rows in (np.arange(12), np.array([4, 0, 9]), np.array([2])):
        torch.manual_seed(7)
        got = reused.minibatch_gradients(data, rows)
        grads = reused.gradients()
        fresh = sparse.FlatNet(model, max_rows=rows.size)
        torch.manual_seed(7)
        assert fresh.minibatch_gradients(data, rows) == got
        for g, h in zip(grads, fresh.gradients(), strict=True):
            assert torch.equal(g, h)


def test_out_of_bounds_input_is_refused():
    """numba does not check bounds: the Python side must, before a kernel runs."""
    matrix = _matrix()
    torch.manual_seed(0)
    net = sparse.FlatNet(StackedAutoencoder(matrix.shape[1], (5,)), max_rows=4)
    data = sparse.SparseRows(matrix, N_RATINGS)
    with pytest.raises(ValueError, match="does not fit the work buffers"):
        net.minibatch_gradients(data, np.arange(5))
    with pytest.raises(ValueError, match="must index the matrix's 12 rows"):
        net.minibatch_gradients(data, np.array([0, 12]))
    with pytest.raises(ValueError, match="must index"):
        net.minibatch_gradients(data, np.array([-1]))
    with pytest.raises(ValueError, match="34 inputs"):
        net.minibatch_gradients(sparse.SparseRows(matrix[:, :20], N_RATINGS), np.arange(2))
    with pytest.raises(ValueError, match="masks of shape"):
        sparse.FlatNet(StackedAutoencoder(matrix.shape[1], (5,), dropout=0.5), 4
                       ).minibatch_gradients(data, np.arange(2), np.ones((1, 3, 5), np.float32))
    indptr = np.zeros(13, dtype=np.int64)
    with pytest.raises(ValueError, match="row pointer"):
        net.outputs_at(data, indptr[:5], np.zeros(0, dtype=np.int64))
    indptr[1:] = 1
    with pytest.raises(ValueError, match="output columns"):
        net.outputs_at(data, indptr, np.array([34]))
    assert net.outputs_at(data, indptr, np.array([33])).shape == (1,)


def test_huge_batch_size_allocates_for_the_real_rows():
    config = TrainConfig(hidden=(6,), epochs=1, batch_size=10**9, patience=None)
    trainer = SparseTrainer(StackedAutoencoder(_matrix().shape[1], (6,)), _matrix(), N_RATINGS,
                             (np.zeros(0, np.int64), np.zeros(0, np.int64)), config)
    assert trainer.net.act.shape[1] == 12


def test_sparse_minibatches_refuse_other_devices():
    with pytest.raises(ValueError, match="CPU only"):
        _fit(_matrix(), N_RATINGS, TrainConfig(epochs=1), torch.device("meta"), True)
