"""Every split recsae makes, in one family: test folds, validation sets, held-out ratings.

* :func:`load_dataset_split`: a dataset's train/test pair, as its table entry says
  (:mod:`recsae.datasets`). ML-100K ships its own five folds (``u1.base``/``u1.test`` ..
  ``u5``), each test file a disjoint 20% of ``u.data``, returned as they are. The others
  (ML-1M, ML-10M, ML-20M, ML-25M, ml-latest-small) ship one ratings file and no split; the
  usual protocol (AutoRec, GLocal-K) is a seeded uniform 90/10 split of the ratings, which
  :func:`random_split` makes. Its ``fold`` argument picks one of the disjoint test blocks
  of the same seeded permutation, so folds ``1..round(1 / test_fraction)`` of one seed are
  a K-fold cross-validation.
* :func:`validation_split`: the same seeded uniform split carved from a *training* frame,
  where every hyper-parameter of a rating model is chosen (never on a test file).
* :func:`holdout_per_user`: the user autoencoder's validation, carved from each row of a
  training *matrix* (dense, or a SciPy CSR matrix: then nothing dense of its size is made,
  and the same seed holds out the same entries), so that every user keeps ratings to be
  encoded from.

Ids are not re-indexed: a test user or item with no training rating stays in the test part,
and the models' documented fallbacks handle it (the usual protocol does the same).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsae.data import PathLike, load_ratings
from recsae.datasets import get_spec


def random_split(ratings: pd.DataFrame, test_fraction: float = 0.1, seed: int = 0,
                 fold: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded uniform split of ``ratings`` into ``(train, test)``; every rating in exactly one.

    Args:
        ratings: ``[n, >=3]`` frame (``user_id, item_id, rating[, timestamp]``).
        test_fraction: share of ratings in ``test``: fold ``k`` holds positions
            ``round((k - 1) * f * n)`` to ``round(k * f * n)`` of the permutation, so
            ``round(test_fraction * n)`` ratings, give or take one.
        seed: seed of the permutation.
        fold: which block of the permutation is the test part (1-based, at most
            ``floor(1 / test_fraction)``: ``test_fraction=0.2`` gives 5 folds whatever
            ``n``); blocks of one seed are disjoint. ``fold=1`` is :func:`validation_split`
            with the same seed.

    Returns:
        ``(train, test)``, both with ``ratings``' columns, rows in their original order and a
        fresh ``RangeIndex``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}.")
    n = len(ratings)
    n_test = round(test_fraction * n)
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_fraction {test_fraction} of {n} ratings leaves an empty part.")
    # Folds are blocks of the permutation; the float tolerance keeps 1 / 0.2 at 5 folds.
    n_folds = int(1.0 / test_fraction + 1e-9)
    if not 1 <= fold <= n_folds:
        raise ValueError(f"fold must be in 1..{n_folds} for test_fraction {test_fraction}, not {fold}.")
    order = np.random.default_rng(seed).permutation(n)
    is_test = np.zeros(n, dtype=bool)
    is_test[order[round((fold - 1) * test_fraction * n): round(fold * test_fraction * n)]] = True
    return (ratings[~is_test].reset_index(drop=True), ratings[is_test].reset_index(drop=True))


def validation_split(ratings: pd.DataFrame, valid_frac: float = 0.1,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded uniform split of a *training* frame into ``(fit, valid)``: ``valid`` holds
    ``round(valid_frac * len(ratings))`` ratings (:func:`random_split`'s first block). Use it
    on ``u1.base`` to tune, never on ``u1.test``."""
    return random_split(ratings, valid_frac, seed, fold=1)


def canonical_csr(matrix: object) -> sp.csr_matrix:
    """A user matrix (SciPy sparse, or dense) as a float32 ``csr_matrix`` in canonical
    form: each row's columns sorted, no duplicates, no explicit zeros (0 = unrated). A copy:
    the caller's matrix is never changed."""
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()  # also sorts each row's columns
    csr.eliminate_zeros()
    return csr


def holdout_per_user(train: np.ndarray | sp.csr_matrix, n_rating_columns: int, fraction: float,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray] | tuple[sp.csr_matrix,
                                                                             sp.csr_matrix]:
    """Move a seeded ``fraction`` of each user's training ratings into a validation target.

    Each user keeps at least one rating in the input; ``round(fraction * k)`` of their
    ``k`` ratings are held out. Feature columns stay as given (built from all training
    ratings: a small leak into validation, never into the test file).

    Args:
        train: ``[n_users, n_columns]``, rating columns first: a dense array, or a SciPy
            sparse matrix (CSR; then both results are :func:`canonical_csr` matrices and
            nothing of size ``n_users x n_columns`` is allocated densely). The same
            ``seed`` holds out the same entries from a dense matrix and from its CSR.

    Returns:
        ``(fit_input, val_target)``: ``[n_users, n_columns]`` with the held-out ratings
        zeroed, and ``[n_users, n_rating_columns]`` holding only them.
    """
    if sp.issparse(train):
        return _holdout_csr(canonical_csr(train), n_rating_columns, fraction, seed)
    rng = np.random.default_rng(seed)
    fit_input = np.array(train, dtype=np.float32, copy=True)
    val_target = np.zeros((train.shape[0], n_rating_columns), dtype=np.float32)
    for u in range(train.shape[0]):
        rated = np.flatnonzero(fit_input[u, :n_rating_columns])
        n_val = min(int(round(fraction * rated.size)), rated.size - 1)
        if n_val <= 0:
            continue
        held = rng.choice(rated, size=n_val, replace=False)
        val_target[u, held] = fit_input[u, held]
        fit_input[u, held] = 0.0
    return fit_input, val_target


def _holdout_csr(csr: sp.csr_matrix, n_rating_columns: int, fraction: float,
                 seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """:func:`holdout_per_user` on a canonical CSR: a row's rated entries come first and
    in column order (as ``np.flatnonzero`` finds them in the dense row), so the same draws
    pick the same entries."""
    rng = np.random.default_rng(seed)
    n_rows = csr.shape[0]
    row_of = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    n_rated = np.bincount(row_of[csr.indices < n_rating_columns], minlength=n_rows)
    # round() of a float64 rounds half to even, as np.rint: the dense loop's n_val.
    n_val = np.minimum(np.rint(fraction * n_rated).astype(np.int64), n_rated - 1)
    held = np.zeros(csr.nnz, dtype=bool)
    for u, k, n in zip(*(a.tolist() for a in (np.flatnonzero(n_val > 0), n_rated[n_val > 0],
                                              n_val[n_val > 0])), strict=True):
        held[csr.indptr[u] + rng.choice(k, size=n, replace=False)] = True

    def part(keep: np.ndarray, n_columns: int) -> sp.csr_matrix:
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of[keep], minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix((csr.data[keep], csr.indices[keep], indptr),
                             shape=(n_rows, n_columns))

    return part(~held, csr.shape[1]), part(held, n_rating_columns)


def load_dataset_split(dataset: str = "ml-100k", fold: int | str = 1, seed: int = 0,
                       data_dir: PathLike = None,
                       test_fraction: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` ratings of one fold of ``dataset``, by its table entry.

    Args:
        dataset: a name in :data:`recsae.datasets.DATASETS`. ``"ml-100k"`` ships its folds:
            ``u{fold}.base``/``u{fold}.test`` (fold 1..5, 'a', 'b'; ``seed`` and
            ``test_fraction`` are ignored). Every other dataset (``split="random"`` in its
            entry) is split at random: its ratings cut by :func:`random_split`
            (``test_fraction``, default the entry's 0.1, ``seed``, ``fold``; fold 1 = the
            usual seeded 90/10 split).
        data_dir: cache folder (see :func:`recsae.download.default_data_dir`).

    Returns:
        Two frames ``user_id, item_id, rating, timestamp``.
    """
    spec = get_spec(dataset)
    if spec.split == "shipped":
        base, test = spec.fold_files(fold)
        return (load_ratings(base, dataset, data_dir), load_ratings(test, dataset, data_dir))
    fraction = spec.test_fraction if test_fraction is None else test_fraction
    return random_split(load_ratings(None, dataset, data_dir), fraction, seed, int(fold))
