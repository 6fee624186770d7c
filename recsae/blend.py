"""A seed ensemble of I-AutoRec blended with biased MF: the package's most accurate model.

:class:`AutoRecBlend` averages one or more I-AutoRecs (:mod:`recsae.autorec`) and blends
them linearly with a biased MF and the bias model (:mod:`recsae.baselines`):

.. math::

    \\hat r_{ui} = w_0 + w_A \\, \bar A_{ui} + w_{MF} \\, \\mathrm{MF}_{ui} + w_B \\, B_{ui},

with the weights fitted by least squares on a validation split of the training frame
(:func:`tune_blend`), never on a test file. :func:`autorec_mf_blend` is the blend
:data:`BEST_CONFIG` that search chose on ML-100K ``u1.base``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from recsae.autorec import (
    TUNING_BASE,
    TUNING_GRID,
    AutoRecConfig,
    IAutoRec,
    as_configs,
    clipped_rmse,
    tune_autorec,
)
from recsae.baselines import BiasedMF, BiasModel, MFConfig
from recsae.protocol import RatingModel
from recsae.splits import validation_split

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
            fit_part, valid = validation_split(train, cfg.valid_frac, cfg.split_seed)
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


# The search tune_blend runs by default (minutes on one core). The I-AutoRec grid
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
    configs = as_configs(grid, base)
    top = [replace(configs[int(row["config"])], n_epochs=int(row["best_epoch"]))
           for _, row in ar_table.head(max_configs).iterrows()]
    fit_part, valid = validation_split(train, valid_frac, split_seed)
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
        return (clipped_rmse(weights[0] + members @ weights[1:], target),
                clipped_rmse(crossed, target), weights)

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
# ML-100K u1.base (weights rounded to 4 decimals):
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


def autorec_mf_blend(device: torch.device | str = "cpu") -> AutoRecBlend:
    """The package's most accurate model, unfitted: ``AutoRecBlend(BEST_CONFIG)``, three
    I-AutoRecs blended with a biased MF (an autoencoder ensemble plus a factor model, not
    an autoencoder alone).

    Three I-AutoRecs (the top three configs of :data:`TUNING_GRID`, each early-stopped)
    averaged, blended with a regularised biased MF, every choice made by :func:`tune_blend`
    on a validation split of ML-100K ``u1.base``; see :data:`BEST_CONFIG` for the numbers.
    """
    return AutoRecBlend(BEST_CONFIG, device)
