"""I-AutoRec with item side information: the article's idea (side features in the
autoencoder's input) done on the item-based model.

Each item's input is its rating vector over the training users followed by a block of
item features (e.g. the 19 ML-100K genre flags, times ``side_scale``); the output
reconstructs the ratings only::

    h(r_i, s_i) = V sigmoid(W [r_i; s_i] + b) + c,   loss on the observed entries of r_i.

Training, the weight penalty, the validation tracking and the fallbacks for unknown ids are
those of :class:`recsae.autorec.IAutoRec` (full-batch Rprop by default); the features only
widen ``W``. An item missing from the feature table gets zeros.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from recsae.autorec import AutoRecConfig, _item_user_matrix
from recsae.constants import RATING_MAX, RATING_MIN
from recsae.loss import masked_sse
from recsae.protocol import item_matrix_fallbacks, item_matrix_predict


def genre_flags(movies: pd.DataFrame) -> pd.DataFrame:
    """``item_id`` plus one 0/1 float column per genre, from :func:`recsae.data.load_movies`'s
    ``|``-joined ``genres`` column."""
    split = movies["genres"].fillna("").str.get_dummies(sep="|").astype(np.float32)
    return pd.concat([movies[["item_id"]].reset_index(drop=True),
                      split.reset_index(drop=True)], axis=1)


class SideIAutoRec:
    """I-AutoRec whose item input carries side features; ``fit(train, valid=None)``,
    ``predict(user_ids, item_ids)`` (the :class:`recsae.protocol.RatingModel` contract)."""

    def __init__(self, config: AutoRecConfig | None = None,
                 item_features: pd.DataFrame | None = None, side_scale: float = 1.0):
        self.config = config or AutoRecConfig()
        self.item_features = item_features
        self.side_scale = side_scale

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> SideIAutoRec:
        """Train on ``train``; with ``valid``, ``history_`` tracks its RMSE every epoch."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return self._fit(train, valid)

    def _side(self) -> torch.Tensor:
        if self.item_features is None:
            return torch.zeros(len(self.items_), 0)
        table = self.item_features.set_index("item_id").reindex(self.items_, fill_value=0)
        return torch.as_tensor(table.to_numpy(dtype=np.float32) * self.side_scale)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> SideIAutoRec:
        cfg = self.config
        self.users_, self.items_, self.mean_, self.item_mean_ = item_matrix_fallbacks(train)
        x = _item_user_matrix(train, self.users_, self.items_)
        observed = x > 0
        n_obs = float(observed.sum())
        inputs = torch.cat([x, self._side()], dim=1)
        encoder = nn.Linear(inputs.shape[1], cfg.hidden)
        decoder = nn.Linear(cfg.hidden, len(self.users_))
        params = list(encoder.parameters()) + list(decoder.parameters())
        if cfg.optimizer == "rprop":
            optimizer = torch.optim.Rprop(params, lr=cfg.lr)
        elif cfg.optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=cfg.lr)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'rprop', not {cfg.optimizer!r}.")
        if cfg.batch_size is not None or cfg.dropout:
            raise ValueError("SideIAutoRec trains full batch without dropout.")

        def forward() -> torch.Tensor:
            return decoder(torch.sigmoid(encoder(inputs)))

        v_target = None if valid is None else _item_user_matrix(valid, self.users_, self.items_)
        rows = []
        for epoch in range(1, cfg.n_epochs + 1):
            sse, _ = masked_sse(forward(), x, observed)
            norm2 = encoder.weight.pow(2).sum() + decoder.weight.pow(2).sum()
            loss = (sse + 0.5 * cfg.reg * norm2) / n_obs
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            row = {"epoch": epoch, "loss": loss.item(), "train_rmse": float(np.sqrt(sse.item() / n_obs))}
            if v_target is not None:
                with torch.no_grad():
                    v_sse, v_n = masked_sse(forward().clamp(RATING_MIN, RATING_MAX), v_target,
                                            v_target > 0)
                row["valid_rmse"] = float(torch.sqrt(v_sse / v_n))
            rows.append(row)
        self.history_ = pd.DataFrame(rows)
        with torch.no_grad():
            self.reconstruction_ = forward().numpy().astype(np.float64)
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predicted ratings (unclipped); unknown ids as in :class:`IAutoRec`."""
        return item_matrix_predict(self.reconstruction_, self.users_, self.items_, self.mean_,
                                   self.item_mean_, user_ids, item_ids)
