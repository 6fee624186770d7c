r"""What the network learned: the bottleneck codes of the users, and what they encode.

The stacked autoencoder squeezes every user's row through a narrow layer (10 units in the
article's net). That layer's output, the user's *code*, is all the decoder sees, so
whatever the network knows about a user is in those few numbers. This module takes the
codes out and asks two questions of them:

* what do they look like? :func:`user_codes` runs the encoder, :func:`pca` projects the
  codes onto their two directions of largest variance (a plain SVD of the centred codes);
* what do they know? :func:`cross_validated_probe` fits a small logistic regression
  (Newton's method, NumPy only) that predicts a yes/no label, such as gender, from the
  code, on folds it never trained on, next to the rate of always guessing the larger class
  and the area under the ROC curve (0.5: no better than chance);
  :func:`component_correlations` relates the projected codes to simple traits of each user
  (:func:`user_traits`: mean rating, number of ratings).

:func:`user_labels` turns the ML-100K user table into the labels the figures colour by.
Shapes: codes ``[n_users, n_units]``, labels ``[n_users]``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from recsae.model import StackedAutoencoder
from recsae.runtime import as_float_tensor

# Age bands of the ML-100K users (ages 7 to 73): lower bound -> label.
AGE_BANDS = ((0, "under 25"), (25, "25-34"), (35, "35-49"), (50, "50 and over"))
OTHER_OCCUPATION = "(all others)"


@torch.no_grad()
def user_codes(model: StackedAutoencoder, rows: np.ndarray | torch.Tensor) -> np.ndarray:
    """The bottleneck code of each row: ``model.encode`` in eval mode.

    Args:
        model: a trained :class:`StackedAutoencoder` (any device).
        rows: user rows ``[n_users, n_columns]``, e.g. the training matrix.

    Returns:
        ``[n_users, min(model.hidden)]`` float64 NumPy array.
    """
    model.eval()
    device = next(model.parameters()).device
    x = rows.float() if isinstance(rows, torch.Tensor) else as_float_tensor(rows)
    if x.ndim != 2 or x.shape[1] != model.n_inputs:
        raise ValueError(f"rows must be [n_users, {model.n_inputs}], not {tuple(x.shape)}.")
    return model.encode(x.to(device)).cpu().numpy().astype(np.float64)


class PCAResult(NamedTuple):
    """What :func:`pca` returns."""

    coords: np.ndarray  # [n, n_components]: each row projected onto the components
    components: np.ndarray  # [n_components, n_features]: unit directions, largest variance first
    explained: np.ndarray  # [n_components]: share of the total variance along each direction


def pca(x: np.ndarray, n_components: int = 2) -> PCAResult:
    """Principal components of the rows of ``x`` by an SVD of the centred matrix.

    With :math:`X_c = X - \\bar x = U S V^\\top`, the components are the first rows of
    :math:`V^\\top` and the coordinates :math:`X_c V`. Each component's sign is fixed so
    that its largest entry (in absolute value) is positive: the same input always gives the
    same picture.

    Args:
        x: ``[n, d]`` with ``n >= 2`` and ``1 <= n_components <= min(n, d)``.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or not 1 <= n_components <= min(x.shape):
        raise ValueError(f"need x [n >= 2, d] and 1 <= n_components <= min(n, d); got "
                         f"shape {x.shape} and n_components={n_components}.")
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:n_components]
    signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(axis=1)])
    components = components * signs[:, None]
    variance = s**2
    total = variance.sum()
    explained = variance[:n_components] / total if total > 0 else np.zeros(n_components)
    return PCAResult(centred @ components.T, components, explained)


def age_band(ages: np.ndarray | pd.Series) -> np.ndarray:
    """Each age's band label from :data:`AGE_BANDS` (object array)."""
    ages = np.asarray(ages)
    bounds = np.array([low for low, _ in AGE_BANDS])
    labels = np.array([label for _, label in AGE_BANDS], dtype=object)
    return labels[np.searchsorted(bounds, ages, side="right") - 1]


def user_labels(users: pd.DataFrame, user_ids: np.ndarray, n_occupations: int = 5) -> pd.DataFrame:
    """The labels a figure colours each matrix row by, in row order.

    Args:
        users: the ML-100K user table (``user_id, age, gender, occupation``).
        user_ids: the matrix's row ids (``ColumnIndex.user_ids``).
        n_occupations: keep this many most common occupations of the user table (ties
            by name); the rest become :data:`OTHER_OCCUPATION`.

    Returns:
        ``[len(user_ids), 3]``: ``gender`` ("female"/"male"), ``age group`` (see
        :func:`age_band`), ``occupation``.
    """
    table = users.set_index("user_id")
    missing = np.setdiff1d(np.asarray(user_ids), table.index.to_numpy())
    if missing.size:
        raise ValueError(f"{missing.size} row ids are not in the user table, e.g. {missing[:3]}.")
    rows = table.loc[np.asarray(user_ids)]
    counts = table["occupation"].value_counts()
    common = sorted(counts.index, key=lambda name: (-counts[name], name))[:n_occupations]
    occupation = rows["occupation"].where(rows["occupation"].isin(common), OTHER_OCCUPATION)
    return pd.DataFrame({
        "gender": pd.Categorical(rows["gender"].map({"F": "female", "M": "male"}).to_numpy(),
                                 categories=["male", "female"]),  # the colours of 01-02
        "age group": pd.Categorical(age_band(rows["age"].to_numpy()),
                                    categories=[label for _, label in AGE_BANDS]),
        "occupation": pd.Categorical(occupation.to_numpy(),
                                     categories=[*common, OTHER_OCCUPATION]),
    })


def user_traits(ratings: np.ndarray) -> pd.DataFrame:
    """Two simple facts about each user from their rating block ``[n_users, n_items]``
    (0 = unrated): ``mean rating`` and ``number of ratings (log)`` (natural log; NaN and
    -inf for a user without ratings)."""
    ratings = np.asarray(ratings, dtype=np.float64)
    count = (ratings != 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"mean rating": ratings.sum(axis=1) / count,
                             "number of ratings (log)": np.log(count)})


def component_correlations(coords: np.ndarray, traits: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation of each column of ``coords`` ``[n, k]`` (rows ``PC 1..k``) with
    each column of ``traits`` ``[n, m]``."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[0] != len(traits):
        raise ValueError(f"coords {coords.shape} and traits ({len(traits)} rows) differ.")
    table = {name: [float(np.corrcoef(coords[:, k], traits[name].to_numpy(float))[0, 1])
                    for k in range(coords.shape[1])] for name in traits.columns}
    return pd.DataFrame(table, index=[f"PC {k + 1}" for k in range(coords.shape[1])])


def stratified_folds(y: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """A fold number ``0..n_folds-1`` per sample, each class spread evenly over the folds
    (shuffled with ``seed``)."""
    y = np.asarray(y)
    if n_folds < 2 or n_folds > y.size:
        raise ValueError(f"n_folds must be in 2..{y.size}, not {n_folds}.")
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    offset = 0
    for value in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == value))
        fold[members] = (np.arange(members.size) + offset) % n_folds
        offset += members.size  # the next class continues where this one stopped
    return fold


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2,
                 iterations: int = 25) -> tuple[np.ndarray, float]:
    r"""Logistic regression by Newton's method: weights ``w`` and bias ``b`` minimising

    .. math::

        \sum_j \log(1 + e^{-s_j (w^\top x_j + b)}) + \tfrac{\lambda}{2} \lVert w \rVert^2,
        \qquad s_j = \pm 1,

    (the bias is not penalised). Standardise ``x`` first for ``l2`` to mean the same on
    every column.

    Args:
        x: ``[n, d]`` features; y: ``[n]`` 0/1 labels.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("need x [n, d] and 0/1 labels y [n].")
    design = np.hstack([x, np.ones((x.shape[0], 1))])
    penalty = np.full(design.shape[1], float(l2))
    penalty[-1] = 0.0
    theta = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ theta))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def roc_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive (``y == 1``) scores
    higher than a random negative, ties counting one half (0.5: the scores know nothing)."""
    scores, y = np.asarray(scores, dtype=np.float64), np.asarray(y).astype(bool)
    if y.all() or not y.any():
        raise ValueError("the AUC needs both classes in y.")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Average rank (1-based) of each distinct score, given to every sample holding it.
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def cross_validated_probe(x: np.ndarray, y: np.ndarray, n_folds: int = 5, seed: int = 0,
                          l2: float = 1e-2) -> dict[str, float | int]:
    """How well a logistic regression on ``x`` predicts the 0/1 labels ``y`` on users it
    was not fitted on (stratified ``n_folds``-fold cross-validation).

    Each fold standardises ``x`` with its training part's mean and spread, fits
    :func:`fit_logistic` there and scores the held-out part; a user is predicted 1 when
    the probability is above 0.5.

    Returns:
        ``accuracy`` (share of all users predicted right), ``majority_rate`` (the accuracy
        of always guessing the larger class), ``balanced_accuracy`` (the mean of the two
        classes' recalls: 0.5 for any guess that ignores ``x``), ``auc`` (:func:`roc_auc`
        of the held-out scores: 0.5 is chance, whatever the threshold), ``n``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or set(np.unique(y)) != {0, 1}:
        raise ValueError("need x [n, d] and labels y [n] holding both 0 and 1.")
    fold = stratified_folds(y, n_folds, seed)
    scores = np.empty(y.size)
    for k in range(n_folds):
        fit_rows, held = fold != k, fold == k
        mean, spread = x[fit_rows].mean(axis=0), x[fit_rows].std(axis=0)
        spread[spread == 0] = 1.0
        w, b = fit_logistic((x[fit_rows] - mean) / spread, y[fit_rows], l2)
        scores[held] = (x[held] - mean) / spread @ w + b
    predicted = (scores > 0).astype(np.int64)
    recalls = [float(np.mean(predicted[y == c] == c)) for c in (0, 1)]
    return {"accuracy": float(np.mean(predicted == y)),
            "majority_rate": float(max(np.mean(y), 1 - np.mean(y))),
            "balanced_accuracy": float(np.mean(recalls)),
            "auc": roc_auc(scores, y),
            "n": int(y.size)}


def shuffled_aucs(x: np.ndarray, y: np.ndarray, n_shuffles: int = 20, n_folds: int = 5,
                  seed: int = 0, l2: float = 1e-2) -> np.ndarray:
    """The AUC of :func:`cross_validated_probe` with the labels shuffled, ``n_shuffles``
    times: how far from 0.5 chance alone moves it, for this many users and this class
    balance. Returns ``[n_shuffles]``."""
    rng = np.random.default_rng(seed)
    return np.array([cross_validated_probe(x, rng.permutation(y), n_folds, seed, l2)["auc"]
                     for _ in range(n_shuffles)])
