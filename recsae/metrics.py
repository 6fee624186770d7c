"""Rating-prediction metrics: the article's own number and honest ones, as pure functions.

All functions take NumPy arrays (torch tensors are converted) of shape
``[n_users, n_columns]`` or ``[n_users, n_items]``:

* ``pred``: the model's output for each user, computed from the user's *training* row;
* ``target``: the user's *test* row (0 = no rating there);
* ``mask``: boolean, True where a rating is to be scored. It is always passed explicitly to
  the honest metrics; :func:`rating_mask` builds the usual one (test ratings, rating columns).

The article's metric (:func:`article_metric`) differs from an RMSE in two ways that both
make it smaller without any better prediction:

1. its per-user correction divides by the number of non-zero entries of the *whole* target
   row, genre-count and attribute columns included, while the squared errors come from the
   rating columns only;
2. it averages over every user whose whole target row has a positive entry. With attribute
   columns (a gender flag is always 1) that is every user, including those with no test
   rating, who each contribute an error of exactly 0.
"""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def _as_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def rating_mask(target: ArrayLike, n_rating_columns: int | None = None) -> np.ndarray:
    """Boolean ``[n_users, n_rating_columns]``: True where ``target`` holds a rating.

    Rating columns come first in a user matrix, so only the first ``n_rating_columns``
    columns are kept (all of them when None).
    """
    target = _as_numpy(target)
    n = target.shape[1] if n_rating_columns is None else n_rating_columns
    return target[:, :n] != 0


def _check(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
    if not pred.shape == target.shape == mask.shape:
        raise ValueError(f"pred {pred.shape}, target {target.shape} and mask {mask.shape} "
                         "must have the same shape; slice the rating columns first.")
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be boolean, not {mask.dtype}.")
    if not mask.any():
        raise ValueError("mask selects no entry; nothing to score.")


def _errors(pred: ArrayLike, target: ArrayLike, mask: ArrayLike,
            clip: tuple[float, float] | None) -> np.ndarray:
    """Flat float64 errors ``pred - target`` at the masked entries, ``pred`` clipped first."""
    pred, target, mask = _as_numpy(pred), _as_numpy(target), _as_numpy(mask)
    _check(pred, target, mask)
    p = pred[mask].astype(np.float64)
    if clip is not None:
        p = np.clip(p, *clip)
    return p - target[mask].astype(np.float64)


def global_rmse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike,
                clip: tuple[float, float] | None = (1.0, 5.0)) -> float:
    """RMSE over all masked entries, each rating counted once.

    Args:
        pred, target, mask: ``[n_users, n_items]``; ``mask`` boolean.
        clip: clip predictions to this range first (ratings are 1..5); None: no clipping.
    """
    return float(np.sqrt(np.mean(_errors(pred, target, mask, clip) ** 2)))


def global_mae(pred: ArrayLike, target: ArrayLike, mask: ArrayLike,
               clip: tuple[float, float] | None = (1.0, 5.0)) -> float:
    """Mean absolute error over all masked entries (see :func:`global_rmse`)."""
    return float(np.mean(np.abs(_errors(pred, target, mask, clip))))


def per_user_rmse_values(pred: ArrayLike, target: ArrayLike, mask: ArrayLike,
                         clip: tuple[float, float] | None = (1.0, 5.0)) -> np.ndarray:
    """Per-user RMSE ``[n_users]`` over the user's masked entries; NaN for users with none."""
    pred, target, mask = _as_numpy(pred), _as_numpy(target), _as_numpy(mask)
    _check(pred, target, mask)
    p = pred.astype(np.float64)
    if clip is not None:
        p = np.clip(p, *clip)
    squared = np.where(mask, (p - target) ** 2, 0.0)
    counts = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(squared.sum(axis=1) / counts)  # 0/0 -> NaN for users without ratings


def per_user_rmse(pred: ArrayLike, target: ArrayLike, mask: ArrayLike,
                  clip: tuple[float, float] | None = (1.0, 5.0)) -> float:
    """Mean over users with at least one masked entry of their RMSE (each user counts once)."""
    return float(np.nanmean(per_user_rmse_values(pred, target, mask, clip)))


def honest_metrics(pred: ArrayLike, target: ArrayLike, mask: ArrayLike) -> dict[str, float]:
    """The honest metrics in one dict.

    Args:
        pred, target, mask: ``[n_users, n_items]`` (rating columns only); ``mask`` boolean,
            usually :func:`rating_mask` of the test matrix.

    Returns:
        ``global_rmse``, ``global_mae`` (predictions clipped to 1..5),
        ``global_rmse_unclipped``, ``global_mae_unclipped``, ``per_user_rmse`` (clipped),
        ``n_ratings`` and ``n_users`` (users with at least one masked entry).
    """
    mask_np = _as_numpy(mask)
    return {
        "global_rmse": global_rmse(pred, target, mask),
        "global_mae": global_mae(pred, target, mask),
        "global_rmse_unclipped": global_rmse(pred, target, mask, clip=None),
        "global_mae_unclipped": global_mae(pred, target, mask, clip=None),
        "per_user_rmse": per_user_rmse(pred, target, mask),
        "n_ratings": int(mask_np.sum()),
        "n_users": int(mask_np.any(axis=1).sum()),
    }


def article_metric_per_user(pred: ArrayLike, target: ArrayLike,
                            n_rating_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The article's per-user error, exactly as its test loop computes it.

    For each user (row) ``u``, with ``n = n_rating_columns``:

    * the output is zeroed wherever the whole target row is 0 (all columns);
    * ``mse_u`` = mean over the ``n`` rating columns of ``(masked output - target)**2``
      (unrated columns contribute 0 but still count in the mean's denominator);
    * ``value_u = sqrt(mse_u * n / (number of entries > 0 in the WHOLE target row + 1e-10))``.

    Args:
        pred: model outputs ``[n_users, n_columns]``.
        target: target rows ``[n_users, n_columns]``, rating columns first.
        n_rating_columns: the article's ``nb_movies``.

    Returns:
        ``(values, counted)``, both ``[n_users]``: the per-user values (float64) and whether
        the article counts the user (whole target row has an entry > 0).
    """
    pred, target = _as_numpy(pred), _as_numpy(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred {pred.shape} and target {target.shape} differ in shape.")
    if not 0 < n_rating_columns <= target.shape[1]:
        raise ValueError(f"n_rating_columns={n_rating_columns} out of range for "
                         f"{target.shape[1]} columns.")
    n = n_rating_columns
    target64 = target.astype(np.float64)
    # The article zeroes the output where target == 0 but counts entries where target > 0.
    masked = np.where(target[:, :n] != 0, pred[:, :n].astype(np.float64), 0.0)
    mse = np.mean((masked - target64[:, :n]) ** 2, axis=1)
    positives = (target > 0).sum(axis=1)
    corrector = n / (positives + 1e-10)
    return np.sqrt(mse * corrector), positives > 0


def article_metric(pred: ArrayLike, target: ArrayLike, n_rating_columns: int) -> float:
    """The article's reported loss: the mean of :func:`article_metric_per_user` over the
    users it counts. See the module docstring for why it is not an RMSE."""
    values, counted = article_metric_per_user(pred, target, n_rating_columns)
    if not counted.any():
        raise ValueError("no target row has a positive entry; the article metric is undefined.")
    return float(values[counted].mean())


def global_mean_rmse(train_ratings: ArrayLike, test_ratings: ArrayLike) -> float:
    """RMSE on ``test_ratings`` of always predicting the mean of ``train_ratings``
    (1-D arrays of rating values): the baseline every model must beat."""
    train = _as_numpy(train_ratings).astype(np.float64)
    test = _as_numpy(test_ratings).astype(np.float64)
    return float(np.sqrt(np.mean((test - train.mean()) ** 2)))


def pair_metrics(pred: ArrayLike, target: ArrayLike, user_rows: ArrayLike) -> dict[str, float]:
    """:func:`honest_metrics` on ``(user, item)`` pairs instead of ``[n_users, n_items]``.

    Args:
        pred, target: ``[n]`` prediction and test rating of each scored pair;
        user_rows: ``[n]`` int, the user (any integer id) of each pair.

    Returns:
        The keys of :func:`honest_metrics`, equal to it (to float rounding) for the pairs
        where the dense ``mask`` is True; memory O(n), whatever the number of items.
    """
    pred = _as_numpy(pred).astype(np.float64).ravel()
    target = _as_numpy(target).astype(np.float64).ravel()
    users = _as_numpy(user_rows).ravel()
    if not pred.shape == target.shape == users.shape:
        raise ValueError(f"pred {pred.shape}, target {target.shape} and user_rows "
                         f"{users.shape} must have the same length.")
    if not pred.size:
        raise ValueError("no pair to score.")
    clipped = np.clip(pred, 1.0, 5.0)
    _, rows = np.unique(users, return_inverse=True)
    squared = (clipped - target) ** 2
    counts = np.bincount(rows)
    per_user = np.sqrt(np.bincount(rows, weights=squared) / counts)
    return {
        "global_rmse": float(np.sqrt(np.mean(squared))),
        "global_mae": float(np.mean(np.abs(clipped - target))),
        "global_rmse_unclipped": float(np.sqrt(np.mean((pred - target) ** 2))),
        "global_mae_unclipped": float(np.mean(np.abs(pred - target))),
        "per_user_rmse": float(np.mean(per_user)),
        "n_ratings": int(pred.size),
        "n_users": int(counts.size),
    }
