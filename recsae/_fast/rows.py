"""The training data of the sparse CPU trainer: a user matrix as CSR arrays
(:class:`SparseRows`), built from a dense matrix or straight from a SciPy CSR matrix, with
the same arrays either way (``tests/test_sparse.py``)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _csr(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``matrix`` ``[n_rows, n]`` as CSR: row pointer ``[n_rows + 1]`` int64, then the
    int64 columns and float32 values of the non-zero entries, row by row."""
    rows, cols = np.nonzero(matrix)  # row-major: each row's entries are contiguous
    indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=matrix.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int64), np.ascontiguousarray(matrix[rows, cols], np.float32)


class SparseRows:
    """A user matrix ``[n_users, n_columns]`` as CSR: each row is both an input and its
    own target, scored on its non-zero rating columns (``< n_rating_columns``), as in the
    dense loss. Minibatches are index arrays into it; nothing is copied per step.

    Attributes:
        indptr, cols, vals: the non-zero inputs (see :func:`_csr`).
        scored_indptr, scored_cols, scored_vals: the scored entries (targets), the same way.
    """

    def __init__(self, matrix: np.ndarray | sp.csr_matrix, n_rating_columns: int) -> None:
        self.n_rating_columns = int(n_rating_columns)
        if sp.issparse(matrix):  # a canonical CSR (splits.canonical_csr): the same arrays
            self.n_rows, self.n_columns = matrix.shape
            self.indptr = matrix.indptr.astype(np.int64)
            self.cols = matrix.indices.astype(np.int64)
            self.vals = np.ascontiguousarray(matrix.data, dtype=np.float32)
            scored = self.cols < n_rating_columns
            row_of = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
            self.scored_indptr = np.zeros(self.n_rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(row_of[scored], minlength=self.n_rows),
                      out=self.scored_indptr[1:])
            self.scored_cols, self.scored_vals = self.cols[scored], self.vals[scored]
            return
        matrix = np.asarray(matrix, dtype=np.float32)
        self.n_rows, self.n_columns = matrix.shape
        self.indptr, self.cols, self.vals = _csr(matrix)
        self.scored_indptr, self.scored_cols, self.scored_vals = _csr(matrix[:, :n_rating_columns])

    def n_scored(self, rows: np.ndarray) -> int:
        """How many scored ratings the rows ``rows`` hold."""
        return int((self.scored_indptr[rows + 1] - self.scored_indptr[rows]).sum())
