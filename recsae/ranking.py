"""Top-k ranking metrics over numpy arrays with explicit masks, dense or sparse.

The pipeline is three pure steps, so each can be tested on a hand-made array:

1. :func:`ranking_masks` turns train/test DataFrames into two boolean matrices
   ``[n_users, n_items]`` for a given user and item id order: the *seen* items (in training,
   to be excluded from the ranking) and the *relevant* items (test rating >= ``threshold``).
2. :func:`rank_top_k` ranks every user's items by score, seen items excluded, and returns
   the item *column indices* of the top ``k``.
3. :func:`ranking_metrics` compares those indices with the relevant mask.

At scale (ML-10M and up, where ``[n_users, n_items]`` is GBs) the same three steps run
without a dense matrix: :func:`sparse_ranking_masks` gives CSR masks,
:func:`rank_top_k_batched` scores and ranks a batch of users at a time, and
:func:`ranking_metrics` accepts the sparse relevant mask. The results are the dense ones.

Conventions (the standard ones, as in RecBole and microsoft/recommenders):

* a user with no relevant test item is skipped (every metric is undefined for them); the
  averages are over the remaining users, whose count is returned as ``n_users``;
* ``precision@k = hits / k`` (``k`` is the cut-off, even when fewer items could be ranked);
* ``recall@k = hits / n_relevant``;
* ``ndcg@k``: binary gains, discount ``1 / log2(rank + 1)`` with ranks from 1, divided by the
  ideal DCG of ``min(k, n_relevant)`` hits at the top;
* ``map@k`` (mean average precision): per user, the sum of ``precision@i`` at every rank
  ``i <= k`` that is a hit, divided by ``min(k, n_relevant)``; then the mean over users;
* ``hit_rate@k``: share of users with at least one hit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

NO_ITEM = -1  # pads a top-k row when a user has fewer than k rankable items


def _index_of(ids: np.ndarray, known: np.ndarray, what: str, on_unknown: str) -> np.ndarray:
    """Positions of ``ids`` in ``known`` (which must be unique); -1 for unknown ids."""
    if len(known) == 0:
        if len(ids) and on_unknown == "raise":
            raise ValueError(f"no {what} ids were given, but the ratings have some.")
        return np.full(len(ids), -1)
    order = np.argsort(known, kind="stable")
    pos = np.searchsorted(known, ids, sorter=order)
    pos = np.clip(pos, 0, len(known) - 1)
    found = known[order[pos]] == ids
    if not found.all() and on_unknown == "raise":
        missing = np.unique(ids[~found])
        raise ValueError(f"{len(missing)} {what} ids are not in the given order "
                         f"(first: {missing[:5].tolist()}); pass on_unknown='drop' to ignore them.")
    return np.where(found, order[pos], -1)


def rating_matrix(ratings: pd.DataFrame, user_ids: Sequence[int] | np.ndarray,
                  item_ids: Sequence[int] | np.ndarray, on_unknown: str = "raise") -> np.ndarray:
    """Dense ``[n_users, n_items]`` float32 ratings, 0 where unobserved.

    Row ``r`` is ``user_ids[r]``, column ``c`` is ``item_ids[c]``. Ratings whose user or item
    is not in the given order raise ``ValueError`` (``on_unknown="raise"``) or are dropped
    (``on_unknown="drop"``).
    """
    if on_unknown not in {"raise", "drop"}:
        raise ValueError(f"on_unknown must be 'raise' or 'drop', not {on_unknown!r}.")
    users = np.asarray(user_ids)
    items = np.asarray(item_ids)
    for name, ids in (("user", users), ("item", items)):
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"{name}_ids contains duplicates.")
    rows = _index_of(ratings["user_id"].to_numpy(), users, "user", on_unknown)
    cols = _index_of(ratings["item_id"].to_numpy(), items, "item", on_unknown)
    keep = (rows >= 0) & (cols >= 0)
    matrix = np.zeros((len(users), len(items)), dtype=np.float32)
    matrix[rows[keep], cols[keep]] = ratings["rating"].to_numpy()[keep]
    return matrix


def ranking_masks(train: pd.DataFrame, test: pd.DataFrame, user_ids: Sequence[int] | np.ndarray,
                  item_ids: Sequence[int] | np.ndarray, threshold: float = 4.0,
                  on_unknown: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """The two boolean ``[n_users, n_items]`` masks a top-k evaluation needs.

    Returns:
        ``(seen, relevant)``: ``seen[u, i]`` is True where user ``u`` rated item ``i`` in
        ``train`` (to exclude from the ranking); ``relevant[u, i]`` is True where the test
        rating is ``>= threshold``. Unknown ids: see :func:`rating_matrix`.
    """
    seen = rating_matrix(train, user_ids, item_ids, on_unknown) > 0
    relevant = rating_matrix(test, user_ids, item_ids, on_unknown) >= threshold
    return seen, relevant


def rank_top_k(scores: np.ndarray, exclude_mask: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` best-scored items, excluded items left out.

    Args:
        scores: ``[n_users, n_items]`` float; higher is better; NaN is rejected.
        exclude_mask: ``[n_users, n_items]`` bool; True items are never returned (as if
            their score were -inf, but they rank below even a genuine -inf score).
        k: the cut-off, ``1 <= k <= n_items``.

    Returns:
        ``[n_users, k]`` int64 column indices, best first. Ties are broken by the lower
        column index. A row with fewer than ``k`` rankable items is padded with
        :data:`NO_ITEM` (-1), e.g. a row whose items are all excluded is all -1.
    """
    scores = np.asarray(scores)
    exclude_mask = np.asarray(exclude_mask, dtype=bool)
    if scores.ndim != 2 or scores.shape != exclude_mask.shape:
        raise ValueError(f"scores {scores.shape} and exclude_mask {exclude_mask.shape} must be "
                         "2-D arrays of the same shape [n_users, n_items].")
    n_items = scores.shape[1]
    if not 1 <= k <= n_items:
        raise ValueError(f"k must be between 1 and the number of items ({n_items}), not {k}.")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; rank_top_k needs a total order.")
    top = np.empty((scores.shape[0], k), dtype=np.int64)
    step = max(1, RANK_BLOCK // n_items)
    for start in range(0, scores.shape[0], step):
        rows = slice(start, start + step)
        top[rows] = _top_k_rows(scores[rows], exclude_mask[rows], k)
    return top


# Scores ranked per block of rows in :func:`rank_top_k` (bounds its float64 temporaries).
RANK_BLOCK = 1 << 22


def _top_k_rows(scores: np.ndarray, exclude: np.ndarray, k: int) -> np.ndarray:
    """:func:`rank_top_k` of a block of rows, by ``np.argpartition``: O(n_items) a row.

    The order it reproduces is the stable lexsort by (excluded, -score, column): an
    excluded item's key is NaN, which sorts after every number (-inf scores included).
    The k-th smallest key cuts each row; keys below it are in, and of those equal to it
    the lowest columns fill the rest; then the k chosen are sorted by key, stably.
    """
    keys = np.where(exclude, np.nan, -scores.astype(np.float64))
    n_rows, n_items = keys.shape
    kth = np.partition(keys, k - 1, axis=1)[:, k - 1:k]  # [rows, 1]; NaN sorts last
    below = (keys < kth) | (np.isnan(kth) & ~np.isnan(keys))
    tied = (keys == kth) | (np.isnan(keys) & np.isnan(kth))
    room = k - below.sum(axis=1, keepdims=True)
    chosen = below | (tied & (np.cumsum(tied, axis=1) <= room))
    columns = np.nonzero(chosen)[1].reshape(n_rows, k)  # ascending column within each row
    rows = np.arange(n_rows)[:, None]
    order = columns[rows, np.argsort(keys[rows, columns], axis=1, kind="stable")]
    n_rankable = (~exclude).sum(axis=1, keepdims=True)
    return np.where(np.arange(k)[None, :] < n_rankable, order, NO_ITEM).astype(np.int64)


def rank_top_k_batched(score_rows: Callable[[np.ndarray], np.ndarray],
                       exclude: sparse.csr_matrix, k: int,
                       batch_rows: int = 1024) -> np.ndarray:
    """:func:`rank_top_k` of every row without a ``[n_users, n_items]`` array.

    Args:
        score_rows: ``rows -> [len(rows), n_items]`` scores of those rows (e.g. a model's
            predictions of a batch of users); called once per batch.
        exclude: ``[n_users, n_items]`` sparse: a stored non-zero entry is excluded (seen).
        k, batch_rows: the cut-off, and the rows scored at a time.

    Returns:
        ``[n_users, k]`` int64, equal to ``rank_top_k(all scores, exclude.toarray() != 0, k)``.
    """
    exclude = sparse.csr_matrix(exclude)
    n_users = exclude.shape[0]
    top = np.empty((n_users, k), dtype=np.int64)
    for start in range(0, n_users, batch_rows):
        rows = np.arange(start, min(start + batch_rows, n_users))
        top[rows] = rank_top_k(score_rows(rows), exclude[rows].toarray() != 0, k)
    return top


def sparse_ranking_masks(train: pd.DataFrame, test: pd.DataFrame,
                         user_ids: Sequence[int] | np.ndarray, item_ids: Sequence[int] | np.ndarray,
                         threshold: float = 4.0, on_unknown: str = "raise"
                         ) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """:func:`ranking_masks` as two boolean CSR matrices (equal to the dense ones)."""
    users, items = np.asarray(user_ids), np.asarray(item_ids)
    masks = []
    for frame, keep_rule in ((train, lambda r: r > 0), (test, lambda r: r >= threshold)):
        rows = _index_of(frame["user_id"].to_numpy(), users, "user", on_unknown)
        cols = _index_of(frame["item_id"].to_numpy(), items, "item", on_unknown)
        keep = (rows >= 0) & (cols >= 0) & keep_rule(frame["rating"].to_numpy())
        data = np.ones(int(keep.sum()), dtype=bool)
        matrix = sparse.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(users), len(items)))
        matrix.sum_duplicates()
        masks.append(matrix)
    return masks[0], masks[1]


def ranking_metrics_per_user(top_k: np.ndarray, relevant_mask: np.ndarray) -> pd.DataFrame:
    """Per-user precision, recall, NDCG, AP and hit at ``k = top_k.shape[1]``.

    Args:
        top_k: ``[n_users, k]`` column indices from :func:`rank_top_k` (-1 = no item).
        relevant_mask: ``[n_users, n_items]`` bool.

    Returns:
        One row per user with at least one relevant item (others are skipped), indexed by
        the user's row number, columns ``n_relevant, hits, precision, recall, ndcg, ap, hit``.
    """
    top_k = np.asarray(top_k)
    relevant_mask = np.asarray(relevant_mask, dtype=bool)
    if top_k.ndim != 2 or relevant_mask.ndim != 2 or top_k.shape[0] != relevant_mask.shape[0]:
        raise ValueError(f"top_k {top_k.shape} and relevant_mask {relevant_mask.shape} must be "
                         "2-D with the same number of rows.")
    k = top_k.shape[1]
    if k < 1:
        raise ValueError("top_k has no columns (k must be >= 1).")
    if (top_k >= relevant_mask.shape[1]).any() or (top_k < NO_ITEM).any():
        raise ValueError("top_k holds column indices outside the relevant_mask.")
    rows = np.arange(top_k.shape[0])[:, None]
    gains = relevant_mask[rows, np.maximum(top_k, 0)] & (top_k != NO_ITEM)  # [n_users, k]
    return _per_user(gains, relevant_mask.sum(axis=1), k)


def _per_user(gains: np.ndarray, n_relevant: np.ndarray, k: int) -> pd.DataFrame:
    """The per-user metrics from the ``[n_users, k]`` hits and each user's relevant count."""
    keep = n_relevant > 0
    gains, n_relevant = gains[keep].astype(np.float64), n_relevant[keep]

    ranks = np.arange(1, k + 1)
    discounts = 1.0 / np.log2(ranks + 1)
    n_ideal = np.minimum(k, n_relevant)
    ideal_dcg = np.cumsum(discounts)[n_ideal - 1]
    hits = gains.sum(axis=1)
    precision_at_i = np.cumsum(gains, axis=1) / ranks
    return pd.DataFrame({
        "n_relevant": n_relevant,
        "hits": hits.astype(np.int64),
        "precision": hits / k,
        "recall": hits / n_relevant,
        "ndcg": (gains * discounts).sum(axis=1) / ideal_dcg,
        "ap": (precision_at_i * gains).sum(axis=1) / n_ideal,
        "hit": (hits > 0).astype(np.float64),
    }, index=pd.Index(np.flatnonzero(keep), name="row"))


def sparse_ranking_metrics_per_user(top_k: np.ndarray, relevant: sparse.spmatrix) -> pd.DataFrame:
    """:func:`ranking_metrics_per_user` with a sparse ``[n_users, n_items]`` relevant matrix
    (a stored non-zero is relevant): the same table, without a dense mask."""
    top_k = np.asarray(top_k)
    relevant = sparse.csr_matrix(relevant)
    relevant.eliminate_zeros()
    relevant.sum_duplicates()  # sorted column indices, each once
    if top_k.ndim != 2 or top_k.shape[0] != relevant.shape[0] or top_k.shape[1] < 1:
        raise ValueError(f"top_k {top_k.shape} must be [n_users, k >= 1] for relevant "
                         f"{relevant.shape}.")
    n_items = relevant.shape[1]
    if (top_k >= n_items).any() or (top_k < NO_ITEM).any():
        raise ValueError("top_k holds column indices outside the relevant matrix.")
    n_relevant = np.diff(relevant.indptr).astype(np.int64)
    keys = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), n_relevant) * n_items
    keys += relevant.indices
    query = np.arange(top_k.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(top_k, 0)
    found = np.minimum(np.searchsorted(keys, query), max(keys.size - 1, 0))
    gains = (keys[found] == query) & (top_k != NO_ITEM) if keys.size else top_k < NO_ITEM
    return _per_user(gains, n_relevant, top_k.shape[1])


def ranking_metrics(top_k: np.ndarray, relevant_mask: np.ndarray) -> dict[str, float]:
    """Mean ranking metrics over users with at least one relevant item.

    Args:
        top_k: ``[n_users, k]`` column indices from :func:`rank_top_k` (-1 = no item).
        relevant_mask: ``[n_users, n_items]`` bool, or a scipy sparse matrix whose stored
            non-zeros are the relevant items (:func:`sparse_ranking_masks`).

    Returns:
        ``{"precision@k", "recall@k", "ndcg@k", "map@k", "hit_rate@k"}`` (with the number
        for ``k``) and ``"n_users"``, the number of users averaged over.
        Raises ``ValueError`` if no user has a relevant item.
    """
    per_user = (sparse_ranking_metrics_per_user(top_k, relevant_mask)
                if sparse.issparse(relevant_mask) else ranking_metrics_per_user(top_k, relevant_mask))
    if per_user.empty:
        raise ValueError("No user has a relevant item; ranking metrics are undefined.")
    k = np.asarray(top_k).shape[1]
    means = per_user.mean()
    return {
        f"precision@{k}": float(means["precision"]),
        f"recall@{k}": float(means["recall"]),
        f"ndcg@{k}": float(means["ndcg"]),
        f"map@{k}": float(means["ap"]),
        f"hit_rate@{k}": float(means["hit"]),
        "n_users": int(len(per_user)),
    }


def evaluate_ranking(scores: np.ndarray, seen_mask: np.ndarray, relevant_mask: np.ndarray,
                     k: int = 10) -> dict[str, float]:
    """:func:`rank_top_k` then :func:`ranking_metrics`; all arrays ``[n_users, n_items]``."""
    return ranking_metrics(rank_top_k(scores, seen_mask, k), relevant_mask)
