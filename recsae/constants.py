"""The numbers and names every part of recsae agrees on, in one place.

* the rating scale of MovieLens-100K and ML-1M (whole stars 1..5); a dataset with another
  scale (half stars from ML-10M on) carries its own in :mod:`recsae.datasets`;
* the evaluation protocol's constants: a test rating at or above
  :data:`RELEVANT_RATING` is relevant, and top-k lists are :data:`DEFAULT_K` long;
* the article's "liked" rule for genre counts (:data:`LIKED_RATING`);
* the column names of a ratings frame.
"""

from __future__ import annotations

import numpy as np

RATING_MIN = 1.0  # the lowest rating on the 1..5 star scale
RATING_MAX = 5.0  # the highest; predictions are clipped to [RATING_MIN, RATING_MAX]
RATING_STEP = 1.0  # whole stars

RELEVANT_RATING = 4.0  # ranking: a test rating >= this is a relevant item
DEFAULT_K = 10  # ranking cut-off: top-10 lists
LIKED_RATING = 3  # the article counts a movie as liked in the genre counts when rated >= 3

# A ratings frame: one row per (user, movie) rating.
USER, ITEM, RATING, TIMESTAMP = "user_id", "item_id", "rating", "timestamp"
RATING_COLUMNS = [USER, ITEM, RATING, TIMESTAMP]
RATING_DTYPES = {USER: "int32", ITEM: "int32", RATING: "int32", TIMESTAMP: "int64"}


def clip_ratings(pred: np.ndarray, low: float = RATING_MIN, high: float = RATING_MAX) -> np.ndarray:
    """Predictions clipped to the rating scale (what every reported RMSE and MAE scores)."""
    return np.clip(pred, low, high)
