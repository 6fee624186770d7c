"""The column-grouped minibatch kernel (:mod:`recsae._fast.grouped`, the lazy-Adam path)
equals the row-by-row one (:meth:`recsae._fast.sparse.FlatNet.minibatch_gradients`, itself
proven equal to autograd in ``tests/test_sparse.py``) up to float rounding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsae._fast.grouped import ColumnGrouper, _group
from recsae._fast.lazy_adam import LazyAdam
from recsae._fast.rows import SparseRows
from recsae._fast.sparse import FlatNet
from recsae.model import ACTIVATIONS, StackedAutoencoder
from recsae.splits import canonical_csr


def _data(rng: np.random.Generator, n_users: int, n_ratings: int, n_side: int,
          density: float) -> sp.csr_matrix:
    ratings = rng.integers(1, 6, (n_users, n_ratings)) * (rng.random((n_users, n_ratings))
                                                         < density)
    side = rng.random((n_users, n_side)) * (rng.random((n_users, n_side)) < 0.5)
    return canonical_csr(np.concatenate([ratings, side], axis=1).astype(np.float32))


def _both(net: FlatNet, data: SparseRows, rows: np.ndarray, masks: np.ndarray):
    """(sse, count, grad) from the row-by-row kernel and from the grouped one (the grouped
    one after LazyAdam's zeroing, on a gradient array full of garbage elsewhere)."""
    sse, count = net.minibatch_gradients(data, rows, masks)
    expected = net.grad.copy()
    net.grad[:] = np.nan  # what the batch does not touch must not be read
    grouper = ColumnGrouper(net)
    in_cols, out_cols = grouper.group(data, rows)
    # The touched rows: every input column present in the batch, and the scored ones.
    present = np.unique(np.concatenate([data.cols[data.indptr[r]:data.indptr[r + 1]]
                                        for r in rows]))
    np.testing.assert_array_equal(in_cols, present)
    np.testing.assert_array_equal(out_cols, present[present < data.n_rating_columns])
    lazy = LazyAdam(net)
    lazy.use_rows(in_cols, out_cols)
    got = grouper.gradients(masks)
    return (sse, count, expected), (*got, net.grad.copy())


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_grouped_gradients_equal_the_row_by_row_kernel(activation):
    rng = np.random.default_rng(7)
    for case in range(12):  # seeded shapes, densities, depths, batches, dropout
        n_users, n_ratings = int(rng.integers(2, 40)), int(rng.integers(3, 30))
        data = SparseRows(_data(rng, n_users, n_ratings, int(rng.integers(0, 4)),
                                float(rng.uniform(0.05, 0.6))), n_ratings)
        hidden = [(5,), (6, 3, 6), (4, 7)][case % 3]
        torch.manual_seed(case)
        model = StackedAutoencoder(data.n_columns, hidden, activation,
                                   dropout=0.3 if case % 2 else 0.0)
        net = FlatNet(model, max_rows=n_users)
        rows = rng.permutation(n_users)[:int(rng.integers(1, n_users + 1))].astype(np.int64)
        masks = net.dropout_masks(rows.size)
        (sse, count, expected), (sse_g, count_g, got) = _both(net, data, rows, masks)
        assert count_g == count
        assert sse_g == pytest.approx(sse, rel=1e-5, abs=1e-9)
        touched = ~np.isnan(got)
        np.testing.assert_allclose(got[touched], expected[touched], rtol=1e-4, atol=1e-6)
        assert np.all(expected[~touched] == 0)  # untouched entries: no gradient there


def test_group_sorts_a_batch_by_column_and_leaves_its_counters_zero():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n_ratings = int(rng.integers(1, 20))
        matrix = _data(rng, int(rng.integers(1, 30)), n_ratings, 2, float(rng.uniform(0.0, 0.7)))
        data = SparseRows(matrix, n_ratings)
        rows = rng.permutation(data.n_rows)[:int(rng.integers(1, data.n_rows + 1))]
        rows = rows.astype(np.int64)
        sub = matrix[rows]
        present = np.unique(sub.indices)
        counts = np.zeros(data.n_columns, dtype=np.int32)
        columns = np.zeros(data.n_columns, dtype=np.int64)
        ptr = np.zeros(data.n_columns + 1, dtype=np.int64)
        n, n_scored, entry_row, entry_val = _group(data.indptr, data.cols, data.vals, rows,
                                                   counts, columns, ptr, n_ratings)
        assert not counts.any()
        np.testing.assert_array_equal(columns[:n], present)
        assert n_scored == np.count_nonzero(present < n_ratings)
        # Every entry of the batch once, under its column, in the order of the batch.
        for t, column in enumerate(present):
            at = slice(ptr[t], ptr[t + 1])
            expected_rows = np.flatnonzero(sub[:, column].toarray().ravel())
            np.testing.assert_array_equal(entry_row[at], expected_rows)
            np.testing.assert_array_equal(entry_val[at],
                                          sub[expected_rows, column].toarray().ravel())
        assert ptr[n] == sub.nnz


def test_grouped_outputs_equal_the_row_by_row_outputs():
    rng = np.random.default_rng(11)
    for case in range(8):
        n_users, n_ratings = int(rng.integers(1, 50)), int(rng.integers(2, 25))
        data = SparseRows(_data(rng, n_users, n_ratings, 2, float(rng.uniform(0.05, 0.5))),
                          n_ratings)
        torch.manual_seed(case)
        model = StackedAutoencoder(data.n_columns, [(4,), (5, 2, 5)][case % 2], "elu")
        net = FlatNet(model, max_rows=int(rng.integers(1, 8)))  # several chunks
        per_row = rng.integers(0, 4, n_users)
        indptr = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int64)
        cols = rng.integers(0, data.n_columns, indptr[-1]).astype(np.int64)
        expected = net.outputs_at(data, indptr, cols)
        got = ColumnGrouper(net).outputs_at(data, indptr, cols)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
