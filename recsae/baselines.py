"""Rating-prediction baselines: global mean, user+item biases, popularity, biased MF.

Every model has the same small contract (:class:`recsae.protocol.RatingModel`):

* ``fit(train) -> self`` with ``train`` a ratings frame (``user_id, item_id, rating``);
* ``predict(user_ids, item_ids) -> np.ndarray`` ``[n]`` float64, one score per pair.

Unknown ids are handled on purpose, never by a KeyError: an id absent from the training
frame contributes nothing of its own, so the model falls back to what it knows (details in
each class). This is :class:`recsae.protocol.RatingModel`, the contract every rating model
shares; :mod:`recsae.protocol` scores them.

Each model checks its training ratings on a dataset's rating scale (``dataset=``, an entry
of :data:`recsae.datasets.DATASETS`): whole stars 1..5 by default, half stars for
``dataset="ml-10m"``, ``"ml-20m"``, ``"ml-25m"`` or ``"ml-latest-small"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from recsae.data import validate_ratings
from recsae.datasets import get_spec


def _check_train(model: object, train: pd.DataFrame) -> pd.DataFrame:
    """Refuse a training frame that is not a valid ratings frame (``user_id, item_id, rating``,
    on the scale of the model's ``dataset``, no NaN, no duplicate pair; see
    :func:`recsae.data.validate_ratings`).

    Returns ``train`` itself, so that the models compute on the caller's own values and
    dtypes; only where one of its columns is not numeric (numbers stored as strings or
    bools, which the validator converts) the validated copy instead.
    """
    dataset = getattr(model, "dataset", "ml-100k")
    checked = validate_ratings(train, f"the training ratings of {type(model).__name__}.fit",
                               scale=get_spec(dataset).rating_scale, require_timestamp=False)
    numeric = all(pd.api.types.is_numeric_dtype(train[c]) and not pd.api.types.is_bool_dtype(
        train[c]) for c in ("user_id", "item_id", "rating"))
    return train if numeric else checked


def _positions(index: pd.Index, ids: np.ndarray) -> np.ndarray:
    """Row of each id in ``index``; -1 for an id never seen in training."""
    return index.get_indexer(np.asarray(ids))


def _lookup(values: np.ndarray, positions: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``values[positions]`` with ``default`` where the position is -1 (unknown id)."""
    return np.where(positions >= 0, values[np.maximum(positions, 0)], default)


class GlobalMean:
    """Predicts the mean training rating for every pair (known or not)."""

    def __init__(self, dataset: str = "ml-100k"):
        self.dataset = get_spec(dataset).name

    def fit(self, train: pd.DataFrame) -> GlobalMean:
        """Store the mean of ``train["rating"]``."""
        train = _check_train(self, train)
        self.mean_ = float(train["rating"].mean())
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` copies of the global mean."""
        return np.full(len(np.asarray(user_ids)), self.mean_, dtype=np.float64)


class BiasModel:
    """``r(u, i) = mu + b_u + b_i`` with L2-regularised biases (Koren 2010, section 2.1).

    Fitted by alternating closed-form least squares with the defaults of Surprise's
    ``BaselineOnly(method="als")`` (reg_u 15, reg_i 10, 10 rounds): each round first sets
    every user bias given the item biases, ``b_u = sum_{i in R(u)} (r_ui - mu - b_i) /
    (reg_user + |R(u)|)``, then every item bias given the user biases, ``b_i = sum_{u in
    R(i)} (r_ui - mu - b_u) / (reg_item + |R(i)|)``. An unknown user or item gets bias 0, so
    an unknown pair gets ``mu``.

    What is *not* the same as Surprise: Surprise updates the item biases first. With the
    same 10 rounds the two orders stop at slightly different points: u1.test RMSE 0.96000
    here against 0.95994 for Surprise 1.1.5 (checked with scikit-surprise; swapping the
    order here reproduces Surprise's predictions exactly). The order is kept because the
    committed notebook outputs were made with it.
    """

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_iter: int = 10,
                 dataset: str = "ml-100k"):
        self.reg_user, self.reg_item, self.n_iter = reg_user, reg_item, n_iter
        self.dataset = get_spec(dataset).name

    def fit(self, train: pd.DataFrame) -> BiasModel:
        """Estimate ``mu``, ``user_bias_`` ``[n_users]`` and ``item_bias_`` ``[n_items]``."""
        train = _check_train(self, train)
        users, u = np.unique(train["user_id"].to_numpy(), return_inverse=True)
        items, i = np.unique(train["item_id"].to_numpy(), return_inverse=True)
        r = train["rating"].to_numpy(dtype=np.float64)
        self.users_, self.items_ = pd.Index(users), pd.Index(items)
        self.mean_ = float(r.mean())
        n_u = np.bincount(u, minlength=len(users))
        n_i = np.bincount(i, minlength=len(items))
        b_u, b_i = np.zeros(len(users)), np.zeros(len(items))
        for _ in range(self.n_iter):
            b_u = np.bincount(u, r - self.mean_ - b_i[i], len(users)) / (self.reg_user + n_u)
            b_i = np.bincount(i, r - self.mean_ - b_u[u], len(items)) / (self.reg_item + n_i)
        self.user_bias_, self.item_bias_ = b_u, b_i
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predictions ``mu + b_u + b_i`` (unclipped)."""
        return (self.mean_ + _lookup(self.user_bias_, _positions(self.users_, user_ids))
                + _lookup(self.item_bias_, _positions(self.items_, item_ids)))


class Popularity:
    """Item popularity, a ranking baseline that ignores the user.

    ``score="count"``: the number of training ratings of the item (unknown item: 0).
    ``score="mean"``: the item's mean rating shrunk towards the global mean ``mu`` by
    ``shrinkage`` pseudo-ratings, ``(sum_r + shrinkage * mu) / (n + shrinkage)`` (unknown
    item: ``mu``); only this variant is on the rating scale.
    """

    def __init__(self, score: str = "count", shrinkage: float = 10.0, dataset: str = "ml-100k"):
        self.dataset = get_spec(dataset).name
        if score not in {"count", "mean"}:
            raise ValueError(f"score must be 'count' or 'mean', not {score!r}.")
        self.score, self.shrinkage = score, shrinkage

    def fit(self, train: pd.DataFrame) -> Popularity:
        """Count (and sum) the ratings of every item."""
        train = _check_train(self, train)
        stats = train.groupby("item_id")["rating"].agg(["count", "sum"])
        self.items_ = pd.Index(stats.index.to_numpy())
        self.mean_ = float(train["rating"].mean())
        count = stats["count"].to_numpy(dtype=np.float64)
        if self.score == "count":
            self.item_score_, self.default_ = count, 0.0
        else:
            total = stats["sum"].to_numpy(dtype=np.float64)
            self.item_score_ = (total + self.shrinkage * self.mean_) / (count + self.shrinkage)
            self.default_ = self.mean_
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` item scores; ``user_ids`` only fixes the length."""
        if len(np.asarray(user_ids)) != len(np.asarray(item_ids)):
            raise ValueError("user_ids and item_ids must have the same length.")
        return _lookup(self.item_score_, _positions(self.items_, item_ids), self.default_)


@dataclass
class MFConfig:
    """Hyper-parameters of :class:`BiasedMF` (defaults: Surprise's ``SVD``)."""

    n_factors: int = 100
    n_epochs: int = 20
    lr: float = 0.005
    reg: float = 0.02
    init_std: float = 0.1
    batch_size: int = 256
    seed: int = 0


class BiasedMF:
    """Biased matrix factorisation ``r(u, i) = mu + b_u + b_i + p_u . q_i`` (Funk SVD).

    The same model, objective, update rule and defaults as Surprise's ``SVD`` (SGD on the
    squared error with L2 weight ``reg`` on ``b_u, b_i, p_u, q_i``, factors drawn from
    N(0, 0.1), ``x += lr * (err * d(pred)/dx - reg * x)``), but not its numbers: here each
    epoch visits the ratings in a fresh seeded permutation drawn by torch's generator
    (Surprise shuffles with NumPy's), in float32 (Surprise: float64), and the per-rating
    updates are vectorised over minibatches of ``batch_size`` ratings (each computed at the
    batch's starting parameters and summed with ``index_add_``). With ``batch_size=1`` the
    update sequence is Surprise's loop's, up to the visiting order and float precision.
    Deterministic on CPU for a given seed. Unknown users/items get zero bias and factors,
    so an unknown user still gets ``mu + b_i`` and an unknown pair ``mu``.
    """

    def __init__(self, config: MFConfig | None = None, device: torch.device | str = "cpu",
                 dataset: str = "ml-100k"):
        self.dataset = get_spec(dataset).name
        self.config = config or MFConfig()
        self.device = torch.device(device)

    def fit(self, train: pd.DataFrame) -> BiasedMF:
        """Run ``config.n_epochs`` SGD epochs; ``self.history_`` holds each epoch's train RMSE."""
        train = _check_train(self, train)
        cfg = self.config
        users, u = np.unique(train["user_id"].to_numpy(), return_inverse=True)
        items, i = np.unique(train["item_id"].to_numpy(), return_inverse=True)
        self.users_, self.items_ = pd.Index(users), pd.Index(items)
        gen = torch.Generator().manual_seed(cfg.seed)
        dev = self.device
        u_t = torch.as_tensor(u, device=dev)
        i_t = torch.as_tensor(i, device=dev)
        r_t = torch.as_tensor(train["rating"].to_numpy(dtype=np.float32), device=dev)
        self.mean_ = float(r_t.mean())
        # Drawn on the CPU generator, then moved, so the init does not depend on the device.
        p = (torch.randn(len(users), cfg.n_factors, generator=gen) * cfg.init_std).to(dev)
        q = (torch.randn(len(items), cfg.n_factors, generator=gen) * cfg.init_std).to(dev)
        b_u = torch.zeros(len(users), device=dev)
        b_i = torch.zeros(len(items), device=dev)
        history = []
        n_threads = torch.get_num_threads()
        if dev.type == "cpu":
            # Minibatch ops are tiny: extra intra-op threads only add overhead (2x slower on
            # 2 cores, far worse on a busy machine). Restored below.
            torch.set_num_threads(1)
        try:
            self._run_epochs(cfg, gen, u_t, i_t, r_t, p, q, b_u, b_i, history)
        finally:
            torch.set_num_threads(n_threads)
        self.history_ = pd.DataFrame({"epoch": np.arange(1, cfg.n_epochs + 1),
                                      "train_rmse": history})
        self.user_bias_, self.item_bias_ = b_u.cpu().numpy(), b_i.cpu().numpy()
        self.user_factors_, self.item_factors_ = p.cpu().numpy(), q.cpu().numpy()
        return self

    def _run_epochs(self, cfg: MFConfig, gen: torch.Generator, u_t: torch.Tensor,
                    i_t: torch.Tensor, r_t: torch.Tensor, p: torch.Tensor, q: torch.Tensor,
                    b_u: torch.Tensor, b_i: torch.Tensor, history: list[float]) -> None:
        """The SGD epochs, updating ``p, q, b_u, b_i`` in place and appending train RMSEs."""
        dev = self.device
        for _ in range(cfg.n_epochs):
            order = torch.randperm(len(r_t), generator=gen).to(dev)
            sse = 0.0
            for start in range(0, len(order), cfg.batch_size):
                idx = order[start:start + cfg.batch_size]
                bu, bi, r = u_t[idx], i_t[idx], r_t[idx]
                pu, qi = p[bu], q[bi]
                err = r - (self.mean_ + b_u[bu] + b_i[bi] + (pu * qi).sum(1))
                sse += float((err**2).sum())
                # Surprise's updates: x += lr * (err * d(pred)/dx - reg * x).
                b_u.index_add_(0, bu, cfg.lr * (err - cfg.reg * b_u[bu]))
                b_i.index_add_(0, bi, cfg.lr * (err - cfg.reg * b_i[bi]))
                p.index_add_(0, bu, cfg.lr * (err[:, None] * qi - cfg.reg * pu))
                q.index_add_(0, bi, cfg.lr * (err[:, None] * pu - cfg.reg * qi))
            history.append(float(np.sqrt(sse / len(r_t))))

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predictions (unclipped), float64."""
        pu, pi = _positions(self.users_, user_ids), _positions(self.items_, item_ids)
        p = np.where((pu >= 0)[:, None], self.user_factors_[np.maximum(pu, 0)], 0.0)
        q = np.where((pi >= 0)[:, None], self.item_factors_[np.maximum(pi, 0)], 0.0)
        return (self.mean_ + _lookup(self.user_bias_, pu) + _lookup(self.item_bias_, pi)
                + (p * q).sum(axis=1)).astype(np.float64)
