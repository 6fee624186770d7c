"""Train/test splits for every dataset, behind one function.

* ML-100K ships its own five folds (``u1.base``/``u1.test`` .. ``u5``), each test file a
  disjoint 20% of ``u.data``; :func:`load_dataset_split` returns them as they are.
* ML-1M ships one ``ratings.dat`` and no split. The usual protocol (AutoRec, GLocal-K) is a
  seeded uniform 90/10 split of the ratings, which :func:`random_split` makes. Its ``fold``
  argument picks one of the disjoint test blocks of the same seeded permutation, so folds
  ``1..round(1 / test_fraction)`` of one seed are a K-fold cross-validation.

Ids are not re-indexed: a test user or item with no training rating stays in the test part,
and the models' documented fallbacks handle it (the usual protocol does the same).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsae.data import PathLike, load_ratings, load_split

DATASET_NAMES = ("ml-100k", "ml-1m")


def random_split(ratings: pd.DataFrame, test_fraction: float = 0.1, seed: int = 0,
                 fold: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded uniform split of ``ratings`` into ``(train, test)``; every rating in exactly one.

    Args:
        ratings: ``[n, >=3]`` frame (``user_id, item_id, rating[, timestamp]``).
        test_fraction: share of ratings in ``test``; ``test`` holds ``round(test_fraction * n)``.
        seed: seed of the permutation.
        fold: which block of the permutation is the test part (1-based, at most
            ``floor(n / n_test)``); blocks of one seed are disjoint. ``fold=1`` is the same
            split as :func:`recsae.baselines.split_ratings` with the same seed.

    Returns:
        ``(train, test)``, both with ``ratings``' columns, rows in their original order and a
        fresh ``RangeIndex``: ``[n - n_test, ...]`` and ``[n_test, ...]``.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}.")
    n = len(ratings)
    n_test = round(test_fraction * n)
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_fraction {test_fraction} of {n} ratings leaves an empty part.")
    n_folds = n // n_test
    if not 1 <= fold <= n_folds:
        raise ValueError(f"fold must be in 1..{n_folds} for test_fraction {test_fraction}, not {fold}.")
    # Same generator calls as split_ratings, so fold 1 reproduces its validation split.
    order = np.random.default_rng(seed).permutation(n)
    is_test = np.zeros(n, dtype=bool)
    is_test[order[(fold - 1) * n_test: fold * n_test]] = True
    return (ratings[~is_test].reset_index(drop=True), ratings[is_test].reset_index(drop=True))


def load_dataset_split(dataset: str = "ml-100k", fold: int | str = 1, seed: int = 0,
                       data_dir: PathLike = None,
                       test_fraction: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` ratings of one fold of ``dataset``.

    Args:
        dataset: ``"ml-100k"``: the shipped ``u{fold}.base``/``u{fold}.test`` (fold 1..5, 'a',
            'b'; ``seed`` and ``test_fraction`` are ignored). ``"ml-1m"``: ``ratings.dat`` cut
            by :func:`random_split` (``test_fraction``, ``seed``, ``fold``; fold 1 = the usual
            seeded 90/10 split).
        data_dir: cache folder (see :func:`recsae.download.default_data_dir`).

    Returns:
        Two frames ``user_id, item_id, rating, timestamp``.
    """
    if dataset == "ml-100k":
        return load_split(fold, data_dir)
    if dataset == "ml-1m":
        return random_split(load_ratings("ratings.dat", "ml-1m", data_dir), test_fraction, seed,
                            int(fold))
    raise ValueError(f"Unknown dataset {dataset!r}; choose one of {DATASET_NAMES}.")
