"""The per-fold search's members (:mod:`recsae.search`): how each is built, fitted and cached.

A member is a JSON-able spec, ``{"kind": ..., **its config fields}``:

* ``"autorec"``: :class:`recsae.autorec.IAutoRec` (an :class:`~recsae.autorec.AutoRecConfig`);
* ``"mf"``: :class:`recsae.baselines.BiasedMF`; ``"bias"``: :class:`recsae.baselines.BiasModel`;
* ``"bfm"``: :class:`recsae.bayes_fm.BayesianFM` (its keywords; with ``use_day`` the pairs'
  own timestamps are passed to ``predict``: the day a rating is asked for is known when it
  is asked for, as in Rendle et al. 2019's timeSVD++ features);
* ``"glocal_k"``: :class:`recsae.glocal_k.GlocalK` (a :class:`~recsae.glocal_k.GlocalKConfig`
  whose epoch counts were chosen on the validation split, :func:`select_glocal_k`) plus
  ``"refit"``: ``False`` trains it on the 90% fit part of the fold's training part only
  (the model the validation chose, bit for bit), ``True`` on all of it.

:class:`MemberCache` keeps each fitted member's predictions on disk, keyed by the fold,
the training set, the predicted set and the spec, so that a rerun of the search recomputes
only what changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from recsae.autorec import AutoRecConfig, IAutoRec
from recsae.baselines import BiasedMF, BiasModel, MFConfig
from recsae.bayes_fm import BayesianFM
from recsae.blend import BlendConfig
from recsae.crossval import cross_validate
from recsae.data import PathLike, load_movies, load_users
from recsae.glocal_k import GlocalK, GlocalKConfig, select_epochs
from recsae.splits import validation_split

__all__ = ["MemberCache", "bayes_fm_factories", "blend_config", "cross_validate_bayes_fms",
           "fit_predict", "member_model", "select_glocal_k", "training_part"]

Side = tuple[pd.DataFrame, pd.DataFrame] | None


def member_model(spec: Mapping[str, object], side: Side = None):
    """An unfitted rating model from a member spec (``kind`` + its config fields)."""
    kind = spec["kind"]
    fields = {k: v for k, v in spec.items() if k not in ("kind", "refit")}
    if kind == "autorec":
        return IAutoRec(AutoRecConfig(**fields))
    if kind == "mf":
        return BiasedMF(MFConfig(**fields))
    if kind == "bias":
        return BiasModel()
    if kind == "bfm":
        users, movies = side if side is not None else (None, None)
        return BayesianFM(**fields, users=users, movies=movies)
    if kind == "glocal_k":
        return GlocalK(GlocalKConfig(**fields))
    raise ValueError(f"unknown member kind {kind!r}.")


def training_part(spec: Mapping[str, object], base: pd.DataFrame, valid_frac: float,
                  split_seed: int) -> pd.DataFrame:
    """What a member is refitted on for the test: all of ``base``, or for a GLocal-K member
    with ``refit=False`` the fit part of the search's validation split of it."""
    if spec["kind"] == "glocal_k" and not spec.get("refit", True):
        return validation_split(base, valid_frac, split_seed)[0]
    return base


class MemberCache:
    """Predictions of fitted members, one ``.npz`` per (key, spec) under ``folder``.

    ``None`` as the folder caches nothing. The key names the data (dataset, fold, which
    part is trained on, which is predicted); the spec names the model. A cached entry holds
    the predictions, the fit's CPU seconds and any JSON extras (e.g. chosen epochs). The
    code is not part of the key: after changing a model's code, delete the folder (or run
    the search with ``--no-cache``).
    """

    def __init__(self, folder: Path | str | None):
        self.folder = None if folder is None else Path(folder)

    def _path(self, key: Mapping, spec: Mapping) -> Path:
        text = json.dumps({"key": key, "spec": spec}, sort_keys=True, default=str)
        return self.folder / (hashlib.sha256(text.encode()).hexdigest()[:20] + ".npz")

    def get(self, key: Mapping, spec: Mapping) -> tuple[np.ndarray, float, dict] | None:
        if self.folder is None or not (path := self._path(key, spec)).is_file():
            return None
        with np.load(path) as stored:
            return stored["pred"], float(stored["seconds"]), json.loads(str(stored["extra"]))

    def put(self, key: Mapping, spec: Mapping, pred: np.ndarray, seconds: float,
            extra: Mapping | None = None) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(key, spec)
        partial = path.with_suffix(".tmp.npz")
        np.savez(partial, pred=np.asarray(pred, dtype=np.float64), seconds=seconds,
                 extra=json.dumps(extra or {}))
        partial.replace(path)


def fit_predict(spec: Mapping, side: Side, train: pd.DataFrame, pairs: pd.DataFrame,
                cache: MemberCache | None = None, key: Mapping | None = None
                ) -> tuple[np.ndarray, float]:
    """``(predictions of pairs, CPU seconds of the fit)`` of ``spec`` fitted on ``train``
    (from ``cache`` under ``key`` when it holds them)."""
    cache = cache or MemberCache(None)
    if (hit := cache.get(key, spec)) is not None:
        return hit[0], hit[1]
    start = time.process_time()
    model = member_model(spec, side).fit(train)
    seconds = time.process_time() - start
    users, items = pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy()
    if spec["kind"] == "bfm" and spec.get("use_day"):
        pred = model.predict(users, items, timestamps=pairs["timestamp"].to_numpy())
    else:
        pred = model.predict(users, items)
    cache.put(key, spec, pred, seconds)
    return pred, seconds


def select_glocal_k(base: pd.DataFrame, config: GlocalKConfig, refit: bool, valid_frac: float,
                    split_seed: int, cache: MemberCache | None = None, key: Mapping | None = None
                    ) -> tuple[dict, np.ndarray, float]:
    """The GLocal-K member of a fold: ``(spec, validation predictions, CPU seconds)``.

    Its epoch counts are chosen on the validation split of ``base`` by
    :func:`recsae.glocal_k.select_epochs` (``config``'s epochs are the caps); the
    predictions are those of the selected model, trained on the fit part.
    """
    cache, caps = cache or MemberCache(None), {"kind": "glocal_k_caps", **asdict(config)}
    if (hit := cache.get(key, caps)) is None:
        chosen, model, valid = select_epochs(base, config, None, valid_frac, split_seed)
        pred = model.predict(valid["user_id"].to_numpy(), valid["item_id"].to_numpy())
        extra = {"pre_epochs": chosen.pre_epochs, "fine_epochs": chosen.fine_epochs}
        cache.put(key, caps, pred, model.seconds_, extra)
        hit = pred, model.seconds_, extra
    pred, seconds, extra = hit
    spec = {"kind": "glocal_k", **asdict(config), **extra, "refit": refit}
    return spec, pred, seconds


def blend_config(choice: Mapping, members: Mapping[str, Mapping]) -> BlendConfig:
    """The :class:`recsae.blend.BlendConfig` of a chosen I-AutoRec + MF (+ bias) blend.

    ``choice["weights"]`` gives each of the n averaged I-AutoRecs ``w_A / n``; any other
    member (a Bayesian FM, the kernelised autoencoder) is refused (an
    :class:`~recsae.blend.AutoRecBlend` has none).
    """
    weights = choice["weights"]
    autorecs = sorted(m for m in weights if m.startswith("autorec"))
    mfs = [m for m in weights if m.startswith("mf")]
    if set(weights) - {"intercept", "bias", *autorecs, *mfs}:
        raise ValueError(f"not an I-AutoRec + MF blend: {sorted(weights)}.")
    configs = tuple(AutoRecConfig(**{k: v for k, v in members[m].items() if k != "kind"})
                    for m in autorecs)
    mf = MFConfig(**{k: v for k, v in members[mfs[0]].items() if k != "kind"}) if mfs else MFConfig()
    return BlendConfig(autorecs=configs, n_seeds=1, mf=mf, weights=(
        weights["intercept"], sum(weights[m] for m in autorecs),
        weights[mfs[0]] if mfs else 0.0, weights.get("bias", 0.0)))


def bayes_fm_factories(n_iter: int = 512, seed: int = 0, dataset: str = "ml-100k",
                       data_dir: PathLike = None) -> dict[str, Callable[[], BayesianFM]]:
    """``{name: factory}`` of the two Bayesian FMs (fixed recipes, rank 10, ``n_iter`` sweeps):
    svdpp-flipped features, and (ML-100K only) with side features and an ordered probit."""
    factories = {"Bayesian FM": partial(BayesianFM, n_iter=n_iter, seed=seed)}
    if dataset == "ml-100k":
        factories["Bayesian FM + side features"] = partial(
            BayesianFM, n_iter=n_iter, seed=seed, features="svdpp_flipped+side",
            output="ordered_probit", users=load_users(dataset, data_dir),
            movies=load_movies(dataset, data_dir))
    return factories


def cross_validate_bayes_fms(n_iter: int, folds: Sequence[int | str], dataset: str = "ml-100k",
                             data_dir: PathLike = None, seed: int = 0,
                             memo: Callable | None = None, ranking: bool = True) -> pd.DataFrame:
    """:func:`recsae.crossval.cross_validate` of :func:`bayes_fm_factories` (a module-level
    function, so a notebook can run it in a second process). ``ranking=False``: RMSE and
    MAE only (scoring every user x movie pair costs the Bayesian FM more than its fit)."""
    factories = bayes_fm_factories(n_iter, seed, dataset, data_dir)
    return cross_validate(factories, folds=folds, data_dir=data_dir, dataset=dataset, seed=seed,
                          memo=memo, rating_only=() if ranking else list(factories))
