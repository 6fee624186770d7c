"""The corrected user-based autoencoder behind the rating-model interface of the baselines.

:class:`UserAutoencoder` has ``fit(train_frame)`` and ``predict(user_ids, item_ids)``, like
:mod:`recsae.baselines` and :mod:`recsae.autorec`, so :func:`recsae.crossval.cross_validate`
compares it with them on the same folds by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsae import data
from recsae.data import validate_ratings
from recsae.features import load_feature_tables
from recsae.training import TrainConfig, fit, predict
from recsae.user_matrix import build_from_tables, rating_block


@dataclass
class UserAutoencoder:
    """A user-based stacked autoencoder trained with :func:`recsae.training.fit`.

    Args:
        config: the corrected trainer's settings (default :class:`TrainConfig`).
        features: ``"ratings"`` (any dataset: rows are the training users, columns the
            training movies) or a feature set with side features (ML-100K only, built with
            the ``corrected`` recipe's tables).
        threads: torch CPU threads while training.
        device: where to train.
        data_dir: cache folder for the side tables.

    A (user, movie) pair the training data does not cover is predicted as the global mean.
    """

    config: TrainConfig = field(default_factory=TrainConfig)
    features: str = "ratings"
    threads: int | None = 1
    device: str = "cpu"
    data_dir: data.PathLike = None

    def fit(self, train: pd.DataFrame) -> UserAutoencoder:
        """Train on a ratings frame (``user_id, item_id, rating``)."""
        train = validate_ratings(train, "train ratings", require_timestamp=False)
        if self.features == "ratings":
            user_ids = np.unique(train["user_id"].to_numpy())
            item_ids = np.unique(train["item_id"].to_numpy())
            matrix = rating_block(train, user_ids, item_ids)
        else:
            tables = load_feature_tables("corrected", self.data_dir)
            # The builder wants a test frame too; only the training matrix is used here.
            matrices = build_from_tables(train, train, tables, self.features)
            user_ids, item_ids = matrices.columns.user_ids, matrices.columns.item_ids
            matrix = matrices.train
        result = fit(matrix, len(item_ids), self.config, device=self.device, threads=self.threads)
        self.predictions_ = predict(result.model, matrix)[:, : len(item_ids)]
        self.user_index_ = pd.Index(user_ids)
        self.item_index_ = pd.Index(item_ids)
        self.global_mean_ = float(train["rating"].mean())
        self.best_epoch_ = result.best_epoch
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Predicted ratings ``[n]`` for the pairs ``(user_ids[i], item_ids[i])``."""
        rows = self.user_index_.get_indexer(np.asarray(user_ids))
        cols = self.item_index_.get_indexer(np.asarray(item_ids))
        known = (rows >= 0) & (cols >= 0)
        out = np.full(len(rows), self.global_mean_, dtype=np.float64)
        out[known] = self.predictions_[rows[known], cols[known]]
        return out
