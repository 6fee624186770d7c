"""The evaluation protocol: one contract for rating models, one way to score them.

Every rating model in recsae (the baselines, I-AutoRec, the blend, the user autoencoder)
follows :class:`RatingModel`: ``fit(train)`` on a ratings frame, then
``predict(user_ids, item_ids)`` for any pairs, unknown ids included. Cross-validation,
the cold-start study and recommendation all use the same pieces:

* :func:`evaluate_rating_model`: RMSE and MAE of predictions clipped to the rating scale;
* :func:`score_all`: the score of every (user, item) pair, in chunks of users;
* :func:`candidate_items`: which movies may be ranked at all (enough training ratings);
* a test rating ``>=`` :data:`recsae.constants.RELEVANT_RATING` is relevant, top-k lists
  are :data:`recsae.constants.DEFAULT_K` long (:mod:`recsae.ranking` computes the metrics).

Hyper-parameters are chosen on :func:`recsae.splits.validation_split` of the training
frame, never on a test file.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from recsae.constants import clip_ratings

# Pairs scored per predict call: bounds memory on ML-1M (6,040 x 3,706 pairs would need
# GBs in one call for a factor model).
SCORE_CHUNK = 1_000_000


class RatingModel(Protocol):
    """What a rating model offers: ``fit(train) -> self``, then ``predict``.

    ``train`` is a ratings frame (``user_id, item_id, rating[, timestamp]``); ``predict``
    returns ``[n]`` float64 predictions, one per pair, and handles ids it never saw in
    training by a documented fallback (never a KeyError).
    """

    def fit(self, train: pd.DataFrame) -> RatingModel: ...

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray: ...


def evaluate_rating_model(model: RatingModel, test: pd.DataFrame) -> dict[str, float]:
    """RMSE and MAE of ``model``'s predictions on ``test``, clipped to the rating scale first.

    Returns:
        ``{"rmse": ..., "mae": ..., "n": number of test ratings}``.
    """
    pred = clip_ratings(model.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy()))
    err = pred - test["rating"].to_numpy(dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "n": len(err)}


def score_all(model: RatingModel, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
    """``[n_users, n_items]`` float64 predictions of every pair, in chunks of users."""
    user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
    scores = np.empty((len(user_ids), len(item_ids)))
    step = max(1, SCORE_CHUNK // max(1, len(item_ids)))
    for start in range(0, len(user_ids), step):
        users = user_ids[start:start + step]
        scores[start:start + len(users)] = model.predict(
            np.repeat(users, len(item_ids)), np.tile(item_ids, len(users))
        ).reshape(len(users), len(item_ids))
    return scores


def candidate_items(train: pd.DataFrame, item_ids: np.ndarray, min_ratings: int = 1) -> np.ndarray:
    """``[n_items]`` bool: the movies of ``item_ids`` that may be ranked, those with at least
    ``min_ratings`` training ratings.

    A model learns nothing about a movie nobody rated in training, and little about one
    rated a few times: an autoencoder's output there is whatever its biases make it, and a
    movie with a single 5-star rating tops an unfiltered list. ``min_ratings=1`` (every
    movie rated in training) is the evaluation's rule; recommendations for people use a
    higher floor (e.g. 20).
    """
    counts = train["item_id"].value_counts().reindex(np.asarray(item_ids), fill_value=0)
    return counts.to_numpy() >= min_ratings


def item_matrix_fallbacks(train: pd.DataFrame) -> tuple[pd.Index, pd.Index, float, np.ndarray]:
    """What :func:`item_matrix_predict` needs besides the reconstruction, from the training
    ratings: the sorted user and movie ids, the global mean and each movie's mean rating."""
    users = pd.Index(np.unique(train["user_id"].to_numpy()))
    items = pd.Index(np.unique(train["item_id"].to_numpy()))
    item_mean = train.groupby("item_id")["rating"].mean().reindex(items).to_numpy(dtype=np.float64)
    return users, items, float(train["rating"].mean()), item_mean


def item_matrix_predict(reconstruction: np.ndarray, users: pd.Index, items: pd.Index,
                        global_mean: float, item_mean: np.ndarray, user_ids: np.ndarray,
                        item_ids: np.ndarray) -> np.ndarray:
    """``predict`` for a model that reconstructs an ``[n_items, n_users]`` matrix (I-AutoRec
    and its relatives): the reconstruction where both ids were in training, the movie's
    training mean for an unknown user, the global mean for an unknown movie (unclipped)."""
    user_rows = users.get_indexer(np.asarray(user_ids))
    item_rows = items.get_indexer(np.asarray(item_ids))
    pred = np.full(len(user_rows), global_mean)
    known_item = item_rows >= 0
    pred[known_item] = item_mean[item_rows[known_item]]
    both = known_item & (user_rows >= 0)
    pred[both] = reconstruction[item_rows[both], user_rows[both]]
    return pred
