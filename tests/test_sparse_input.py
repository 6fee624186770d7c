"""A SciPy CSR user matrix goes from the checks through the holdout to the trainers without
being made dense, and gives the dense matrix's results."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsae._fast import sparse
from recsae.article import check_matrix
from recsae.splits import canonical_csr, holdout_per_user
from recsae.trainconfig import OPTIMIZERS, TrainConfig, build_optimizer
from recsae.training import fit

N_RATINGS = 30


def _matrix(n_users: int = 40, seed: int = 0) -> np.ndarray:
    """~30% rated ratings, 3 feature columns; user 5 rated nothing, the last two rows are
    all zeros (trailing empty CSR rows)."""
    rng = np.random.default_rng(seed)
    ratings = rng.integers(1, 6, (n_users, N_RATINGS)) * (rng.random((n_users, N_RATINGS)) < 0.3)
    matrix = np.concatenate([ratings, rng.integers(0, 3, (n_users, 3))], axis=1)
    matrix = matrix.astype(np.float32)
    matrix[5, :N_RATINGS] = 0.0
    matrix[-2:] = 0.0
    return matrix


def _digest(model: torch.nn.Module, history) -> str:
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().numpy().tobytes())
    h.update(history.drop(columns="seconds").to_numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize(("fraction", "seed"), [(0.1, 0), (0.3, 4), (0.5, 9)])
def test_csr_holdout_holds_out_the_dense_holdouts_entries(fraction, seed):
    matrix = _matrix()
    fit_dense, val_dense = holdout_per_user(matrix, N_RATINGS, fraction, seed)
    fit_csr, val_csr = holdout_per_user(sp.csr_array(matrix), N_RATINGS, fraction, seed)
    assert sp.issparse(fit_csr) and sp.issparse(val_csr) and val_csr.nnz > 0
    assert val_csr.shape == (matrix.shape[0], N_RATINGS)
    np.testing.assert_array_equal(fit_csr.toarray(), fit_dense)
    np.testing.assert_array_equal(val_csr.toarray(), val_dense)


def test_canonical_csr_sorts_and_drops_explicit_zeros():
    messy = sp.csr_matrix((np.array([2.0, 0.0, 1.0]), np.array([3, 1, 0]), np.array([0, 3, 3])),
                          shape=(2, 4))
    csr = canonical_csr(messy)
    assert csr.dtype == np.float32 and csr.nnz == 2
    assert csr.indices.tolist() == [0, 3] and csr.data.tolist() == [1.0, 2.0]
    assert messy.nnz == 3  # the caller's matrix is untouched


def test_sparse_rows_from_a_csr_equal_those_from_the_dense_matrix():
    matrix = _matrix()
    dense, csr = sparse.SparseRows(matrix, N_RATINGS), sparse.SparseRows(
        canonical_csr(matrix), N_RATINGS)
    for name in ("indptr", "cols", "vals", "scored_indptr", "scored_cols", "scored_vals"):
        a, b = getattr(dense, name), getattr(csr, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name


@pytest.mark.parametrize("sparse_engine", [True, False, "torch"])
def test_fit_on_a_csr_is_fit_on_the_dense_matrix_bit_for_bit(sparse_engine):
    matrix = _matrix()
    config = TrainConfig(hidden=(8, 4, 8), epochs=3, batch_size=8, optimizer="rmsprop",
                         weight_decay=1e-3, dropout=0.1, patience=None, seed=2)
    dense = fit(matrix, N_RATINGS, config, sparse=sparse_engine)
    csr = fit(sp.csr_matrix(matrix), N_RATINGS, config, sparse=sparse_engine)
    assert _digest(csr.model, csr.history) == _digest(dense.model, dense.history)
    assert not np.isnan(csr.history["val_rmse"]).any()


def test_the_torch_sparse_engine_trains_as_the_dense_step():
    """sparse='torch' (EmbeddingBag first layer, outputs at scored entries) follows the
    plain dense epoch to float rounding, for each optimizer and with dropout."""
    matrix = _matrix()
    for optimizer in ("adam", "sgd"):
        config = TrainConfig(hidden=(8, 4, 8), epochs=3, batch_size=8, optimizer=optimizer,
                             lr=0.01, momentum=0.5 if optimizer == "sgd" else 0.0,
                             weight_decay=1e-3, dropout=0.2, patience=None, seed=3)
        dense = fit(matrix, N_RATINGS, config, sparse=False)
        sparse_torch = fit(sp.csr_matrix(matrix), N_RATINGS, config, sparse="torch")
        np.testing.assert_allclose(sparse_torch.history["train_rmse"],
                                   dense.history["train_rmse"], rtol=1e-5)
        np.testing.assert_allclose(sparse_torch.history["val_rmse"],
                                   dense.history["val_rmse"], rtol=1e-5)
        for p, q in zip(sparse_torch.model.parameters(), dense.model.parameters(), strict=True):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=2e-6)


def test_check_matrix_takes_a_csr_and_names_its_faults():
    matrix = _matrix()
    check_matrix(sp.csr_matrix(matrix), N_RATINGS)
    check_matrix(sp.csr_array(matrix.astype(np.float64)), N_RATINGS)
    bad = sp.csr_matrix(matrix)
    bad.data[7] = np.nan
    row = int(np.searchsorted(bad.indptr, 7, side="right")) - 1
    with pytest.raises(ValueError, match=f"1 NaN or infinite entries \\(first at row {row}, "
                                         f"column {bad.indices[7]}\\)"):
        check_matrix(bad, N_RATINGS)
    huge = sp.csr_matrix(matrix.astype(np.float64))
    huge.data[0] = 1e300
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_matrix(huge, N_RATINGS)
    with pytest.raises(ValueError, match="n_rating_columns must be an integer between 1 and"):
        check_matrix(sp.csr_matrix(matrix), matrix.shape[1] + 1)
    with pytest.raises(ValueError, match="empty"):
        check_matrix(sp.csr_matrix((0, 5), dtype=np.float32), 3)
    with pytest.raises(TypeError, match="tocsr"):
        check_matrix(sp.coo_matrix(matrix), N_RATINGS)
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit(bad, N_RATINGS, TrainConfig(epochs=1))


def test_sparse_adam_is_a_known_optimizer_that_needs_a_sparse_engine():
    assert "sparse_adam" in OPTIMIZERS
    config = TrainConfig(optimizer="sparse_adam")
    with pytest.raises(ValueError, match="sparse_adam' needs sparse gradients"):
        build_optimizer(torch.nn.Linear(2, 2).parameters(), config)
    with pytest.raises(ValueError, match="needs a sparse engine"):
        fit(_matrix(), N_RATINGS, TrainConfig(epochs=1, optimizer="sparse_adam"), sparse=False)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="sparseadam")
    with pytest.raises(ValueError, match="sparse must be"):
        fit(_matrix(), N_RATINGS, TrainConfig(epochs=1), sparse="numba")


def test_the_engine_is_chosen_by_device_model_and_input():
    from recsae.training import _engine

    adam, lazy = TrainConfig(), TrainConfig(optimizer="sparse_adam")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # a device object; no GPU used
    assert _engine(None, cpu, True, False, adam) == "numba"
    assert _engine(None, cpu, True, True, lazy) == "numba"
    assert _engine(None, cuda, True, False, adam) == "dense"  # dense rows on a GPU: as before
    assert _engine(None, cuda, True, True, adam) == "torch"   # a CSR on a GPU: EmbeddingBag
    assert _engine(None, cuda, True, False, lazy) == "torch"
    assert _engine("torch", cpu, True, False, adam) == "torch"
    assert _engine(None, cpu, False, True, adam) == "dense"   # another module: dense
    with pytest.raises(ValueError, match="CPU only"):
        _engine(True, cuda, True, True, adam)
