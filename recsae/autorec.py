"""I-AutoRec: an item-based autoencoder for rating prediction (Sedhain et al., WWW 2015).

Each item is the vector of its ratings by all training users (``[n_users]``, 0 where
unobserved). A one-hidden-layer autoencoder ``h(r) = V sigmoid(W r + b) + c`` is trained to
reconstruct the *observed* entries only, with L2 weight decay on ``W`` and ``V``::

    min  sum_i || (r_i - h(r_i)) * observed_i ||^2  +  (reg / 2) * (||W||^2 + ||V||^2)

and the prediction for ``(u, i)`` is ``h(r_i)[u]``, item ``i``'s reconstruction at user
``u``. An item unseen in training gets the global mean; a user unseen in training (no input
column) gets the item's mean training rating.

Hyper-parameters are chosen on a seeded validation split carved from the *training* frame
(:func:`tune_autorec`), never on a test file; the number of epochs is chosen there too
(early stopping on validation RMSE) and then reused to refit on the whole training frame.

The package's most accurate model, :func:`best_autoencoder` (:data:`BEST_CONFIG`), is an
:class:`AutoRecBlend`: the average of the three best I-AutoRec configs, linearly blended
with a regularised biased MF; :func:`tune_blend` reruns the validation search that chose it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from recsae.baselines import (
    RATING_MAX,
    RATING_MIN,
    BiasedMF,
    BiasModel,
    MFConfig,
    RatingModel,
    split_ratings,
)


@dataclass
class AutoRecConfig:
    """Hyper-parameters of :class:`IAutoRec` (one place, filled by a notebook's parameters).

    The defaults are the configuration :func:`tune_autorec` chose with :data:`TUNING_GRID`
    over :data:`TUNING_BASE` on a 10% validation split of ML-100K ``u1.base`` (seed 0):
    validation RMSE 0.8938 at epoch 80 (next: hidden 300 / reg 100, 0.8945).
    """

    hidden: int = 500          # hidden units, as in the paper
    reg: float = 200.0         # lambda: L2 weight on W and V, on the *summed* squared error
    optimizer: str = "rprop"   # "rprop" (full batch, as in the paper) or "adam"
    lr: float = 0.01           # Rprop's initial step; Adam's step size
    n_epochs: int = 80         # passes over the items (= optimiser steps when full batch)
    batch_size: int | None = None  # items per step; None = full batch (all items)
    dropout: float = 0.0       # input dropout (denoising); 0 = the plain I-AutoRec
    seed: int = 0


# The search that chose the defaults above (see tune_autorec); rerun it to check them.
TUNING_BASE = AutoRecConfig(optimizer="rprop", lr=0.01, n_epochs=120)
TUNING_GRID: dict[str, list[object]] = {"hidden": [300, 500], "reg": [100.0, 200.0, 300.0]}


class AutoRecNet(nn.Module):
    """``n_in -> hidden (sigmoid) -> n_in (identity)``; ``n_in`` = number of users."""

    def __init__(self, n_in: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.Linear(n_in, hidden)
        self.decoder = nn.Linear(hidden, n_in)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, n_in] -> [batch, hidden]``."""
        return torch.sigmoid(self.encoder(self.dropout(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[batch, hidden] -> [batch, n_in]`` ratings (unbounded)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, n_in] -> [batch, n_in]`` reconstruction."""
        return self.decode(self.encode(x))

    def weight_norm2(self) -> torch.Tensor:
        """``||W||^2 + ||V||^2`` (biases are not decayed, as in the paper)."""
        return self.encoder.weight.pow(2).sum() + self.decoder.weight.pow(2).sum()


def masked_sse(pred: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squared errors over observed entries and their number.

    All three tensors ``[batch, n]``; ``mask`` is bool or 0/1. Returning the pair (not a
    mean) lets an epoch's RMSE be summed exactly over batches.
    """
    mask = mask.to(pred.dtype)
    return ((pred - target) ** 2 * mask).sum(), mask.sum()


def _item_user_matrix(ratings: pd.DataFrame, users: pd.Index, items: pd.Index) -> torch.Tensor:
    """Dense ``[n_items, n_users]`` float32 ratings, 0 where unobserved (unknown ids dropped)."""
    rows = items.get_indexer(ratings["item_id"].to_numpy())
    cols = users.get_indexer(ratings["user_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    matrix = torch.zeros(len(items), len(users))
    matrix[rows[keep], cols[keep]] = torch.as_tensor(
        ratings["rating"].to_numpy(dtype=np.float32)[keep])
    return matrix


class IAutoRec:
    """Item-based AutoRec with ``fit(train, valid=None)`` and ``predict(user_ids, item_ids)``.

    The device is passed in (default CPU) and used only here; the model never picks one.
    """

    def __init__(self, config: AutoRecConfig | None = None, device: torch.device | str = "cpu"):
        self.config = config or AutoRecConfig()
        self.device = torch.device(device)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> IAutoRec:
        """Train on ``train``; if ``valid`` is given, track its RMSE every epoch.

        Sets ``history_``: DataFrame ``epoch, loss, train_rmse[, valid_rmse]`` (train RMSE is
        measured during the epoch's steps, with dropout if any; valid RMSE in eval mode).
        """
        # nn.Linear's init and dropout draw from torch's global generators: seed them inside
        # fork_rng so the caller's random state is left as it was.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.config.seed)
            return self._fit(train, valid)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> IAutoRec:
        """:meth:`fit`'s body, run with the global generators seeded."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        self.users_ = pd.Index(np.unique(train["user_id"].to_numpy()))
        self.items_ = pd.Index(np.unique(train["item_id"].to_numpy()))
        self.mean_ = float(train["rating"].mean())
        item_stats = train.groupby("item_id")["rating"].mean()
        self.item_mean_ = item_stats.reindex(self.items_).to_numpy(dtype=np.float64)

        dev = self.device
        x = _item_user_matrix(train, self.users_, self.items_).to(dev)  # [n_items, n_users]
        observed = x > 0
        n_obs = float(observed.sum())
        net = AutoRecNet(len(self.users_), cfg.hidden, cfg.dropout).to(dev)
        if cfg.optimizer == "adam":
            optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        elif cfg.optimizer == "rprop":
            optimizer = torch.optim.Rprop(net.parameters(), lr=cfg.lr)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'rprop', not {cfg.optimizer!r}.")
        if valid is not None:
            v_target = _item_user_matrix(valid, self.users_, self.items_).to(dev)
            v_mask = v_target > 0

        n_items = len(self.items_)
        batch = n_items if cfg.batch_size is None else cfg.batch_size
        rows = []
        for epoch in range(1, cfg.n_epochs + 1):
            net.train()
            order = torch.randperm(n_items, generator=gen).to(dev)
            sse_sum = loss_sum = 0.0
            for start in range(0, n_items, batch):
                idx = order[start:start + batch]
                sse, _ = masked_sse(net(x[idx]), x[idx], observed[idx])
                # The weight penalty is spread over batches in proportion to their size,
                # so one epoch applies it once, whatever the batch size; dividing by n_obs
                # only rescales the objective (keeps Adam's epsilon in a sensible range).
                loss = (sse + 0.5 * cfg.reg * net.weight_norm2() * len(idx) / n_items) / n_obs
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                sse_sum += sse.item()
                loss_sum += loss.item()
            row = {"epoch": epoch, "loss": loss_sum, "train_rmse": np.sqrt(sse_sum / n_obs)}
            if valid is not None:
                net.eval()
                with torch.no_grad():
                    v_sse, v_n = masked_sse(net(x).clamp(RATING_MIN, RATING_MAX), v_target,
                                            v_mask)
                row["valid_rmse"] = float(torch.sqrt(v_sse / v_n))
            rows.append(row)
        self.history_ = pd.DataFrame(rows)
        net.eval()
        with torch.no_grad():
            # Predictions only ever need this one forward pass, so store it: [n_items, n_users].
            self.reconstruction_ = net(x).cpu().numpy().astype(np.float64)
        self.net_ = net
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predicted ratings (unclipped; see the module docstring for unknown ids)."""
        users = self.users_.get_indexer(np.asarray(user_ids))
        items = self.items_.get_indexer(np.asarray(item_ids))
        pred = np.full(len(users), self.mean_)
        known_item = items >= 0
        pred[known_item] = self.item_mean_[items[known_item]]
        both = known_item & (users >= 0)
        pred[both] = self.reconstruction_[items[both], users[both]]
        return pred

    def predict_matrix(self) -> np.ndarray:
        """``[n_users, n_items]`` predictions for the training users and items
        (``users_`` and ``items_`` give the ids), ready for :mod:`recsae.ranking`."""
        return self.reconstruction_.T.copy()


def _as_configs(grid: Iterable[AutoRecConfig] | Mapping[str, Sequence[object]],
                base: AutoRecConfig) -> list[AutoRecConfig]:
    """A list of configs, or the Cartesian product of a ``{field: values}`` grid over ``base``."""
    if isinstance(grid, Mapping):
        keys = list(grid)
        return [replace(base, **dict(zip(keys, values, strict=True)))
                for values in itertools.product(*(grid[k] for k in keys))]
    return list(grid)


def tune_autorec(train: pd.DataFrame,
                 grid: Iterable[AutoRecConfig] | Mapping[str, Sequence[object]],
                 base: AutoRecConfig | None = None, valid_frac: float = 0.1, split_seed: int = 0,
                 device: torch.device | str = "cpu") -> tuple[pd.DataFrame, AutoRecConfig]:
    """Grid search on a seeded validation split carved from ``train`` (never the test file).

    Args:
        train: the training ratings (e.g. ``u1.base``); ``valid_frac`` of them are held out
            with :func:`recsae.baselines.split_ratings` (seed ``split_seed``).
        grid: configs to try, or ``{field: [values]}`` expanded over ``base``.
        base: the config the grid varies (default :class:`AutoRecConfig()`).

    Returns:
        ``(table, best)``: one row per config with its position in the grid (``config``),
        its fields, ``best_epoch``,
        ``valid_rmse`` (at ``best_epoch``), ``final_valid_rmse`` and ``seconds``, sorted by
        ``valid_rmse``; ``best`` is the winning config with ``n_epochs`` set to its
        ``best_epoch`` (early stopping), ready to refit on the whole of ``train``.
    """
    fit_part, valid_part = split_ratings(train, valid_frac, split_seed)
    rows, configs = [], _as_configs(grid, base or AutoRecConfig())
    if not configs:
        raise ValueError("The grid is empty.")
    for number, cfg in enumerate(configs):
        start = time.perf_counter()
        history = IAutoRec(cfg, device).fit(fit_part, valid_part).history_
        best = history.loc[history["valid_rmse"].idxmin()]
        rows.append({"config": number, **asdict(cfg), "best_epoch": int(best["epoch"]),
                     "valid_rmse": float(best["valid_rmse"]),
                     "final_valid_rmse": float(history["valid_rmse"].iloc[-1]),
                     "seconds": time.perf_counter() - start})
    table = pd.DataFrame(rows).sort_values("valid_rmse", kind="stable").reset_index(drop=True)
    winner = configs[int(table.loc[0, "config"])]
    return table, replace(winner, n_epochs=int(table.loc[0, "best_epoch"]))


# ----------------------------------------------------------------------------------------
# The package's best autoencoder: a seed ensemble of I-AutoRec blended with biased MF.
# ----------------------------------------------------------------------------------------

# Names of the blend's members, in the order of BlendConfig.weights (after the intercept).
BLEND_MEMBERS = ("autorec", "mf", "bias")


@dataclass
class BlendConfig:
    """Hyper-parameters of :class:`AutoRecBlend`, all chosen on a validation split.

    ``weights`` is ``(intercept, w_autorec, w_mf, w_bias)``: the prediction is
    ``intercept + w_autorec * A + w_mf * MF + w_bias * Bias``, where ``A`` averages one
    I-AutoRec per (config in ``autorecs``, seed in ``config.seed .. config.seed + n_seeds -
    1``). A member whose weight is 0 is not trained. ``weights=None`` fits them inside
    :meth:`AutoRecBlend.fit` on a ``valid_frac`` split of the training frame (every member
    trained twice, so slower).
    """

    autorecs: tuple[AutoRecConfig, ...] = (AutoRecConfig(),)
    n_seeds: int = 1
    mf: MFConfig = field(default_factory=MFConfig)
    weights: tuple[float, float, float, float] | None = None
    valid_frac: float = 0.1    # only used when weights is None
    split_seed: int = 0


def _least_squares_weights(members: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[1 + n_members]`` (intercept first) minimising the squared error of the blend.

    ``members``: ``[n, n_members]`` predictions, ``target``: ``[n]`` ratings.
    """
    design = np.column_stack([np.ones(len(target)), members])
    return np.linalg.lstsq(design, target, rcond=None)[0]


class AutoRecBlend:
    """An ensemble of :class:`IAutoRec` (configs x seeds) linearly blended with
    :class:`BiasedMF` and :class:`BiasModel`; the same ``fit(train)`` / ``predict(user_ids,
    item_ids)`` contract as every rating model.

    Averaging autoencoders lowers their variance (different configs help more than
    different seeds: with a strong L2 penalty the seeds land on nearly the same solution);
    the blend adds what a different model family gets right (MF's user factors, and
    sensible predictions for items too rare for the autoencoder). The weights are
    hyper-parameters, fitted by least squares on a validation split (:func:`tune_blend`),
    so the final fit trains each member once.
    """

    def __init__(self, config: BlendConfig | None = None, device: torch.device | str = "cpu"):
        self.config = config or BlendConfig()
        self.device = torch.device(device)

    def _fit_members(self, train: pd.DataFrame, active: Sequence[bool]) -> list[list[RatingModel]]:
        """Fitted members per :data:`BLEND_MEMBERS` entry (empty list where not active)."""
        cfg = self.config
        autorecs = [IAutoRec(replace(c, seed=c.seed + s), self.device).fit(train)
                    for c in cfg.autorecs for s in range(cfg.n_seeds)] if active[0] else []
        mf = [BiasedMF(cfg.mf, self.device).fit(train)] if active[1] else []
        bias = [BiasModel().fit(train)] if active[2] else []
        return [autorecs, mf, bias]

    @staticmethod
    def _member_predictions(members: list[list[RatingModel]], user_ids: np.ndarray,
                            item_ids: np.ndarray) -> np.ndarray:
        """``[n, 3]`` predictions of each member (mean over an ensemble; 0 where absent)."""
        columns = [np.mean([m.predict(user_ids, item_ids) for m in group], axis=0) if group
                   else np.zeros(len(user_ids)) for group in members]
        return np.column_stack(columns)

    def fit(self, train: pd.DataFrame) -> AutoRecBlend:
        """Train the members on ``train`` (fitting the weights first if they are None).

        Sets ``weights_`` ``[4]`` and ``members_`` (lists of fitted models per member).
        """
        cfg = self.config
        if cfg.weights is None:
            fit_part, valid = split_ratings(train, cfg.valid_frac, cfg.split_seed)
            members = self._fit_members(fit_part, [True] * len(BLEND_MEMBERS))
            preds = self._member_predictions(members, valid["user_id"].to_numpy(),
                                             valid["item_id"].to_numpy())
            self.weights_ = _least_squares_weights(preds, valid["rating"].to_numpy(np.float64))
        else:
            self.weights_ = np.asarray(cfg.weights, dtype=np.float64)
        if self.weights_.shape != (1 + len(BLEND_MEMBERS),):
            raise ValueError(f"weights must be (intercept, {', '.join(BLEND_MEMBERS)}).")
        self.members_ = self._fit_members(train, list(self.weights_[1:] != 0))
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` blended predictions (unclipped)."""
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        preds = self._member_predictions(self.members_, user_ids, item_ids)
        return self.weights_[0] + preds @ self.weights_[1:]


# The search tune_blend runs by default (about 2.5 minutes on one core). The I-AutoRec grid
# is TUNING_GRID's; the MF grid varies Surprise's SVD towards stronger regularisation, which
# ML-100K's sparsity needs.
BLEND_MF_GRID: tuple[MFConfig, ...] = (
    MFConfig(),
    MFConfig(n_factors=100, n_epochs=60, reg=0.08),
    MFConfig(n_factors=200, n_epochs=100, reg=0.1),
)


def tune_blend(train: pd.DataFrame,
               autorec_grid: Iterable[AutoRecConfig] | Mapping[str, Sequence[object]] | None = None,
               autorec_base: AutoRecConfig | None = None,
               mf_grid: Sequence[MFConfig] = BLEND_MF_GRID, max_configs: int = 3, max_seeds: int = 2,
               valid_frac: float = 0.1, split_seed: int = 0,
               device: torch.device | str = "cpu") -> tuple[pd.DataFrame, BlendConfig]:
    """Choose every hyper-parameter of :class:`AutoRecBlend` on a validation split of ``train``.

    Steps, all on the same seeded ``valid_frac`` split (never a test file):

    1. :func:`tune_autorec` over ``autorec_grid`` (default :data:`TUNING_GRID` over
       :data:`TUNING_BASE`) ranks I-AutoRec configs, each with its early-stopping epoch;
    2. the best ``max_configs`` of them are trained with ``max_seeds`` seeds each;
    3. every MF config in ``mf_grid`` is trained once, and the bias model once;
    4. for every candidate (the top 1..max_configs configs x 1..max_seeds seeds averaged,
       each MF config or none, with or without the bias model) the blend weights are
       fitted by least squares on the validation predictions. Candidates are ranked by a
       2-fold *cross-fitted* validation RMSE (weights fitted on one half of the validation
       set, scored on the other), so a blend is not favoured for fitting it in-sample.

    Returns:
        ``(table, best)``: one row per candidate (``candidate, n_configs, n_seeds, mf, bias,
        valid_rmse`` (in-sample weights), ``cv_valid_rmse, weights``) sorted by
        ``cv_valid_rmse``, then the I-AutoRec grid's rows (``candidate == "autorec grid"``,
        their ``valid_rmse`` from :func:`tune_autorec`, which skips validation ratings of
        items unseen in the fit part); ``best``: the winner, weights fitted on the whole
        validation set, ready for :class:`AutoRecBlend` to refit on all of ``train``.
    """
    grid = TUNING_GRID if autorec_grid is None else autorec_grid
    base = TUNING_BASE if autorec_base is None else autorec_base
    ar_table, _ = tune_autorec(train, grid, base, valid_frac, split_seed, device)
    configs = _as_configs(grid, base)
    top = [replace(configs[int(row["config"])], n_epochs=int(row["best_epoch"]))
           for _, row in ar_table.head(max_configs).iterrows()]
    fit_part, valid = split_ratings(train, valid_frac, split_seed)
    users, items = valid["user_id"].to_numpy(), valid["item_id"].to_numpy()
    target = valid["rating"].to_numpy(np.float64)

    # autorec_preds[c][s]: config c (rank order), seed offset s; [n_valid] each.
    autorec_preds = [[IAutoRec(replace(c, seed=c.seed + s), device).fit(fit_part).predict(users, items)
                      for s in range(max_seeds)] for c in top]
    mfs = [BiasedMF(c, device).fit(fit_part).predict(users, items) for c in mf_grid]
    bias = BiasModel().fit(fit_part).predict(users, items)
    halves = np.random.default_rng(split_seed).random(len(target)) < 0.5

    def score(columns: list[np.ndarray]) -> tuple[float, float, np.ndarray]:
        """In-sample and cross-fitted RMSE of the least-squares blend of ``columns``."""
        members = np.column_stack(columns)
        crossed = np.empty(len(target))
        for part in (halves, ~halves):
            w = _least_squares_weights(members[~part], target[~part])
            crossed[part] = w[0] + members[part] @ w[1:]
        weights = _least_squares_weights(members, target)
        return (_clipped_rmse(weights[0] + members @ weights[1:], target),
                _clipped_rmse(crossed, target), weights)

    rows, candidates = [], []
    for n_configs, n_seeds in itertools.product(range(1, len(top) + 1), range(1, max_seeds + 1)):
        ensemble = np.mean([p for per_config in autorec_preds[:n_configs]
                            for p in per_config[:n_seeds]], axis=0)
        for mf_index, use_bias in itertools.product([None, *range(len(mf_grid))], (False, True)):
            columns = [ensemble, *([mfs[mf_index]] if mf_index is not None else []),
                       *([bias] if use_bias else [])]
            in_sample, crossed, w = score(columns)
            # Spread the fitted weights back onto (intercept, autorec, mf, bias).
            full = (float(w[0]), float(w[1]), float(w[2]) if mf_index is not None else 0.0,
                    float(w[-1]) if use_bias else 0.0)
            rows.append({"candidate": f"I-AutoRec top{n_configs} x{n_seeds} seeds"
                         + (f" + MF[{mf_index}]" if mf_index is not None else "")
                         + (" + bias" if use_bias else ""),
                         "n_configs": n_configs, "n_seeds": n_seeds, "mf": mf_index,
                         "bias": use_bias, "valid_rmse": in_sample, "cv_valid_rmse": crossed,
                         "weights": tuple(round(x, 4) for x in full)})
            candidates.append(BlendConfig(
                autorecs=tuple(top[:n_configs]), n_seeds=n_seeds,
                mf=mf_grid[mf_index] if mf_index is not None else MFConfig(), weights=full,
                valid_frac=valid_frac, split_seed=split_seed))
    table = pd.DataFrame(rows)
    best = candidates[int(table["cv_valid_rmse"].idxmin())]
    table = table.sort_values("cv_valid_rmse", kind="stable").reset_index(drop=True)
    grid_rows = ar_table.assign(candidate="autorec grid")[
        ["candidate", *grid, "best_epoch", "valid_rmse", "seconds"]]
    return pd.concat([table, grid_rows], ignore_index=True), best


# The blend tune_blend() chose with its defaults on a 10% validation split (seed 0) of
# ML-100K u1.base (search 139 s on one busy core; weights rounded to 4 decimals):
# cross-fitted validation RMSE 0.8895 (in-sample 0.8892), against 0.8977 for the single
# I-AutoRec above on the same ratings, 0.8954 for the top-3 I-AutoRec average without MF,
# and 0.8907 for one I-AutoRec + MF. A second seed per config did not help (0.8895).
# On u1.test (never used to choose): RMSE 0.8955, MAE 0.7019; the single I-AutoRec 0.9051.
BEST_CONFIG = BlendConfig(
    autorecs=(AutoRecConfig(hidden=500, reg=200.0, n_epochs=80),
              AutoRecConfig(hidden=300, reg=100.0, n_epochs=42),
              AutoRecConfig(hidden=500, reg=100.0, n_epochs=41)),
    n_seeds=1,
    mf=MFConfig(n_factors=200, n_epochs=100, reg=0.1),
    weights=(-0.2589, 0.6806, 0.4006, 0.0),
)


def best_autoencoder(device: torch.device | str = "cpu") -> AutoRecBlend:
    """The package's most accurate autoencoder model, unfitted: ``AutoRecBlend(BEST_CONFIG)``.

    Three I-AutoRecs (the top three configs of :data:`TUNING_GRID`, each early-stopped)
    averaged, blended with a regularised biased MF, every choice made by :func:`tune_blend`
    on a validation split of ML-100K ``u1.base``; see :data:`BEST_CONFIG` for the numbers.
    Fitting on ``u1.base`` takes about 40 s on one CPU core.
    """
    return AutoRecBlend(BEST_CONFIG, device)


def _clipped_rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """RMSE of ``pred`` clipped to the rating scale (both ``[n]``)."""
    return float(np.sqrt(np.mean((np.clip(pred, RATING_MIN, RATING_MAX) - target) ** 2)))
