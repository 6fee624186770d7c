"""Per-fold tuning: every choice for fold ``k`` made on a validation split of ``u{k}.base``.

``python -m recsae.search`` runs, for each fold ``k`` (ML-100K ``u1``..``u5``):

1. **Search** (:func:`search_fold`), reading ``u{k}.base`` and nothing else: a seeded 10%
   validation split of it (:func:`recsae.splits.validation_split`); every member model is
   trained on the other 90% and predicts the validation ratings:

   * the I-AutoRec grid (:func:`recsae.autorec.tune_autorec`: each config's epoch chosen
     by early stopping), the best ``top_autorecs`` configs refitted at their epoch;
   * each biased MF of ``mf_grid`` and the bias model;
   * the Bayesian FMs of ``bfm`` (fixed recipes: :class:`recsae.bayes_fm.BayesianFM`), each
     with and without the rating's day (``bfm_day``; a ``_day`` suffix): the variant with
     the lower validation RMSE represents its recipe;
   * the kernelised autoencoder (:class:`recsae.glocal_k.GlocalK`, ``glocal_k``), its
     pre-training and fine-tuning epochs early-stopped on the validation split.

   Every candidate blend (the average of the top 0..n I-AutoRecs, the kernelised
   autoencoder or not, one MF or none, the bias model or not, any subset of the chosen
   Bayesian FMs) gets least-squares weights on the validation predictions and is ranked by
   its 2-fold *cross-fitted* validation RMSE (weights fitted on one half, scored on the
   other). Each reported model (:data:`FAMILIES`) takes the best candidate it allows; its
   weights are then refitted on the whole validation set.
2. **Evaluation** (:func:`evaluate_fold`): every chosen member is refitted on all of
   ``u{k}.base`` (the kernelised autoencoder, with ``glocal_k_refit=False``, on the same
   90% it was selected on) and the chosen weights are applied to its ``u{k}.test``
   predictions. Test ratings are read here only, after every choice is fixed.

Member predictions are cached in ``build/search/cache/`` (:class:`recsae.search_members.MemberCache`,
keyed by fold, data and member spec): a rerun recomputes only what changed.

Outputs in ``build/search/`` (:func:`write_outputs`); ``--write-module`` also writes
``recsae/tuned.json``, the committed copy the notebooks read (:mod:`recsae.tuned`).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recsae.autorec import TUNING_BASE, AutoRecConfig, as_configs, tune_autorec
from recsae.baselines import MFConfig
from recsae.constants import clip_ratings
from recsae.data import PathLike, load_movies, load_ratings, load_users
from recsae.datasets import get_spec
from recsae.glocal_k import GlocalKConfig
from recsae.search_members import (
    MemberCache,
    bayes_fm_factories,
    blend_config,
    cross_validate_bayes_fms,
    fit_predict,
    select_glocal_k,
    training_part,
)
from recsae.splits import load_dataset_split, validation_split

__all__ = ["FAMILIES", "SearchGrid", "bayes_fm_factories", "blend_config",
           "cross_validate_bayes_fms", "evaluate_fold", "run", "search_fold"]

OUTPUT_DIR = Path("build") / "search"
# The reported models: name -> what its candidates must (True) or must not (False) contain
# ("raw": one member's own prediction, no weights; a Bayesian FM recipe's validation-chosen
# variant). "autoencoder": an I-AutoRec or the kernelised autoencoder.
FAMILIES: dict[str, dict[str, object]] = {
    "I-AutoRec": {"raw": "autorec0"},
    "Kernelised autoencoder (GLocal-K style)": {"raw": "glocal_k"},
    "I-AutoRec + kernelised AE": {"autorec": True, "glocal_k": True, "mf": False, "bias": False,
                                  "bfm": False},
    "Bayesian FM": {"raw": "bfm"},
    "Bayesian FM + side features": {"raw": "bfm_side"},
    "I-AutoRec ensemble + MF": {"autorec": True, "glocal_k": False, "bfm": False},
    "blend: Bayesian FM + autoencoders + MF": {"autoencoder": True, "bfm": True},
}
# What each fold's record keeps of its search (chosen.json, recsae/tuned.json).
RECORD_KEYS = ("members", "variants", "chosen", "member_valid_rmse", "member_seconds")
BEST_FAMILY = "blend: Bayesian FM + autoencoders + MF"
AE_FAMILY = "I-AutoRec + kernelised AE"  # the autoencoder-family blend


@dataclass(frozen=True)
class SearchGrid:
    """The search space of one fold (every field a choice made on validation data)."""

    autorec_grid: Mapping[str, Sequence[object]] = field(
        default_factory=lambda: {"hidden": [500], "reg": [200.0]})
    autorec_base: AutoRecConfig = field(default_factory=lambda: replace(TUNING_BASE, n_epochs=100))
    top_autorecs: int = 1
    mf_grid: tuple[MFConfig, ...] = (MFConfig(n_factors=200, n_epochs=100, reg=0.1),)
    # name -> BayesianFM keywords (a fixed recipe each; rank 10, n_iter Gibbs sweeps).
    bfm: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: {
        "bfm": {"features": "svdpp_flipped", "output": "regression"},
        "bfm_side": {"features": "svdpp_flipped+side", "output": "ordered_probit"}})
    bfm_rank: int = 10
    bfm_iter: int = 512
    bfm_day: tuple[bool, ...] = (False, True)  # day feature options, chosen on validation
    # The kernelised autoencoder (None: not searched); its epochs are caps. Refit=False:
    # the test uses the model selected on the 90% fit part (no second training).
    glocal_k: GlocalKConfig | None = field(default_factory=GlocalKConfig)
    glocal_k_refit: bool = False
    valid_frac: float = 0.1
    split_seed: int = 0
    seed: int = 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["autorec_grid"] = {k: list(v) for k, v in self.autorec_grid.items()}
        out["bfm"] = {k: dict(v) for k, v in self.bfm.items()}
        return out


# A grid small enough for a smoke run (seconds per fold): `--quick`.
QUICK_GRID = SearchGrid(autorec_grid={"hidden": [20], "reg": [100.0]},
                        autorec_base=replace(TUNING_BASE, n_epochs=10), top_autorecs=1,
                        mf_grid=(MFConfig(n_factors=5, n_epochs=3),), bfm_iter=8,
                        glocal_k=GlocalKConfig(hidden=16, kernel_dim=2, iters_per_epoch=5,
                                               pre_epochs=3, fine_epochs=1))


def load_base(fold: int | str, dataset: str = "ml-100k", data_dir: PathLike = None) -> pd.DataFrame:
    """The training part of a fold (``u{fold}.base``), and nothing of its test part."""
    spec = get_spec(dataset)
    if spec.split != "shipped":
        raise ValueError(f"the search needs a dataset with shipped folds, not {dataset!r}.")
    return load_ratings(spec.fold_files(fold)[0], dataset, data_dir)


def _lstsq(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(target)), columns])
    return np.linalg.lstsq(design, target, rcond=None)[0]


def _rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((clip_ratings(pred) - target) ** 2)))


def _candidates(autorecs: int, mfs: Sequence[str], bfms: Sequence[str], glocal: bool):
    """Every candidate: (n I-AutoRecs averaged, kernelised AE?, MF or None, bias?, BFMs)."""
    subsets = [c for r in range(len(bfms) + 1) for c in itertools.combinations(bfms, r)]
    for n, gk, mf, bias, bfm in itertools.product(range(autorecs + 1), (False, True)[:1 + glocal],
                                                  [None, *mfs], (False, True), subsets):
        if n or gk or mf or bias or bfm:
            yield n, gk, mf, bias, bfm


def search_fold(fold: int | str, grid: SearchGrid | None = None, dataset: str = "ml-100k",
                data_dir: PathLike = None, cache_dir: Path | str | None = None) -> dict:
    """Every choice of fold ``fold``, on a validation split of its training part only.

    ``cache_dir``: where member predictions are cached (None: nowhere).

    Returns:
        ``{"fold", "members": {name: spec}, "member_valid_rmse": {name: rmse},
        "member_seconds": {name: CPU s}, "variants": {recipe: member}, "candidates": [rows],
        "chosen": {family: {"weights": {"intercept" | member: w}, "valid_rmse",
        "cv_valid_rmse"}}, "autorec_grid": [rows], "valid_frac", "split_seed"}``.
    """
    grid = grid or SearchGrid()
    torch.manual_seed(grid.seed)
    base = load_base(fold, dataset, data_dir)
    side = (load_users(dataset, data_dir), load_movies(dataset, data_dir)) if grid.bfm else None
    fit_part, valid = validation_split(base, grid.valid_frac, grid.split_seed)
    target = valid["rating"].to_numpy(np.float64)
    cache = MemberCache(cache_dir)
    key = {"dataset": dataset, "fold": str(fold), "valid_frac": grid.valid_frac,
           "split_seed": grid.split_seed, "train": "fit", "pairs": "valid"}
    autorec_base = replace(grid.autorec_base, seed=grid.seed)
    ar_table, _ = tune_autorec(base, grid.autorec_grid, autorec_base, grid.valid_frac, grid.split_seed)
    configs = as_configs(grid.autorec_grid, autorec_base)
    members: dict[str, dict] = {}
    for n, row in enumerate(ar_table.head(grid.top_autorecs).itertuples()):
        cfg = replace(configs[int(row.config)], n_epochs=int(row.best_epoch))
        members[f"autorec{n}"] = {"kind": "autorec", **asdict(cfg)}
    for j, mf in enumerate(grid.mf_grid):
        members[f"mf{j}"] = {"kind": "mf", **asdict(replace(mf, seed=grid.seed))}
    members["bias"] = {"kind": "bias"}
    for name, kw in grid.bfm.items():
        for day in grid.bfm_day:
            members[name + "_day" * day] = {"kind": "bfm", **kw, "use_day": day,
                                            "rank": grid.bfm_rank, "n_iter": grid.bfm_iter,
                                            "seed": grid.seed}
    fitted = {name: fit_predict(spec, side, fit_part, valid, cache, key)
              for name, spec in members.items()}
    if grid.glocal_k is not None:
        spec, pred, seconds = select_glocal_k(base, replace(grid.glocal_k, seed=grid.seed),
                                              grid.glocal_k_refit, grid.valid_frac,
                                              grid.split_seed, cache, key)
        members["glocal_k"], fitted["glocal_k"] = spec, (pred, seconds)
    preds = {name: pred for name, (pred, _) in fitted.items()}
    valid_rmse = {name: _rmse(p, target) for name, p in preds.items()}
    # Each Bayesian FM recipe is represented by its variant (day or not) best on validation.
    variants = {name: min((m for m in members if m.removesuffix("_day") == name),
                          key=valid_rmse.__getitem__) for name in grid.bfm}
    halves = np.random.default_rng(grid.split_seed).random(len(target)) < 0.5

    rows = []
    n_autorecs = sum(name.startswith("autorec") for name in members)
    mfs = [name for name in members if name.startswith("mf")]
    for n, gk, mf, bias, bfm in _candidates(n_autorecs, mfs, list(variants.values()),
                                            "glocal_k" in members):
        names = [*([f"autorec_top{n}"] if n else []), *(["glocal_k"] if gk else []),
                 *([mf] if mf else []), *(["bias"] if bias else []), *bfm]
        columns = np.column_stack([np.mean([preds[f"autorec{k}"] for k in range(n)], axis=0)
                                   if c.startswith("autorec_top") else preds[c] for c in names])
        crossed = np.empty(len(target))
        for part in (halves, ~halves):
            w = _lstsq(columns[~part], target[~part])
            crossed[part] = w[0] + columns[part] @ w[1:]
        w = _lstsq(columns, target)
        weights = {"intercept": float(w[0])}
        for c, wc in zip(names, w[1:], strict=True):
            for m in ([f"autorec{k}" for k in range(n)] if c.startswith("autorec_top") else [c]):
                weights[m] = float(wc) / (n if c.startswith("autorec_top") else 1)
        rows.append({"fold": str(fold), "candidate": " + ".join(names), "n_autorecs": n,
                     "autorec": n > 0, "glocal_k": gk, "mf": mf is not None, "bias": bias,
                     "bfm": bool(bfm), "autoencoder": bool(n or gk),
                     "valid_rmse": _rmse(w[0] + columns @ w[1:], target),
                     "cv_valid_rmse": _rmse(crossed, target), "weights": weights})
    chosen = {}
    for family, rule in FAMILIES.items():
        if "raw" in rule:
            member = variants.get(rule["raw"], rule["raw"])
            if member in members:
                chosen[family] = {"weights": {"intercept": 0.0, member: 1.0},
                                  "valid_rmse": valid_rmse[member]}
            continue
        allowed = [r for r in rows if all(r[k] == v for k, v in rule.items())]
        if allowed:
            best = min(allowed, key=lambda r: r["cv_valid_rmse"])
            chosen[family] = {k: best[k] for k in ("candidate", "weights", "valid_rmse",
                                                   "cv_valid_rmse")}
    return {"fold": str(fold), "members": members, "candidates": rows, "chosen": chosen,
            "member_valid_rmse": valid_rmse, "variants": variants,
            "member_seconds": {name: seconds for name, (_, seconds) in fitted.items()},
            "autorec_grid": ar_table.assign(fold=str(fold)).to_dict("records"),
            "valid_frac": grid.valid_frac, "split_seed": grid.split_seed}


def evaluate_fold(fold: int | str, search: Mapping, dataset: str = "ml-100k",
                  data_dir: PathLike = None, cache_dir: Path | str | None = None) -> list[dict]:
    """Refit the chosen members on ``u{fold}.base`` (see :func:`training_part`); score each
    family on ``u{fold}.test``.

    Returns one row per family: ``fold, model, rmse, mae, seconds`` (the CPU seconds of
    fitting its members on one core, summed).
    """
    base, test = load_dataset_split(dataset, fold, data_dir=data_dir)
    side = (load_users(dataset, data_dir), load_movies(dataset, data_dir))
    frac, seed = search.get("valid_frac", 0.1), search.get("split_seed", 0)
    needed = {m for c in search["chosen"].values() for m in c["weights"] if m != "intercept"}
    cache = MemberCache(cache_dir)
    fitted = {}
    for name in (m for m in search["members"] if m in needed):
        spec = search["members"][name]
        train = training_part(spec, base, frac, seed)
        key = {"dataset": dataset, "fold": str(fold), "valid_frac": frac, "split_seed": seed,
               "train": "base" if train is base else "fit", "pairs": "test"}
        fitted[name] = fit_predict(spec, side, train, test, cache, key)
    target = test["rating"].to_numpy(np.float64)
    rows = []
    for family, choice in search["chosen"].items():
        weights = choice["weights"]
        pred = weights["intercept"] + sum(w * fitted[m][0] for m, w in weights.items()
                                          if m != "intercept")
        err = clip_ratings(pred) - target
        rows.append({"fold": str(fold), "model": family, "rmse": float(np.sqrt(np.mean(err**2))),
                     "mae": float(np.mean(np.abs(err))),
                     "seconds": sum(fitted[m][1] for m in weights if m != "intercept")})
    return rows


def _run_fold(fold, grid, dataset, data_dir, evaluate, output_dir, cache_dir
              ) -> tuple[dict, list[dict]]:
    torch.set_num_threads(1)
    search = search_fold(fold, grid, dataset, data_dir, cache_dir)
    rows = evaluate_fold(fold, search, dataset, data_dir, cache_dir) if evaluate else []
    output_dir.mkdir(parents=True, exist_ok=True)  # each fold's record as soon as it is done
    (output_dir / f"fold{fold}.json").write_text(json.dumps({"search": search, "test": rows},
                                                            default=str))
    return search, rows


def summary_table(test_rows: Sequence[Mapping]) -> pd.DataFrame:
    """Per model: u1 RMSE, the mean and sample std over the folds, mean seconds per fold."""
    table = pd.DataFrame(test_rows)
    grouped = table.groupby("model", sort=False)
    out = pd.DataFrame({"n_folds": grouped.size(), "rmse_mean": grouped["rmse"].mean(),
                        "rmse_std": grouped["rmse"].std(ddof=1),
                        "mae_mean": grouped["mae"].mean(),
                        "seconds_mean": grouped["seconds"].mean()})
    u1 = table[table["fold"] == "1"].set_index("model")["rmse"]
    return out.join(u1.rename("rmse_u1")).sort_values("rmse_mean")


def run(folds: Sequence[int | str] = (1, 2, 3, 4, 5), grid: SearchGrid | None = None,
        dataset: str = "ml-100k", data_dir: PathLike = None, evaluate: bool = True,
        jobs: int = 1, output_dir: Path = OUTPUT_DIR, cache: bool = True
        ) -> tuple[list[dict], list[dict]]:
    """Search (and evaluate) every fold, ``jobs`` at a time; write ``output_dir`` (member
    predictions cached in its ``cache/`` unless ``cache=False``)."""
    grid, output_dir = grid or SearchGrid(), Path(output_dir)
    cache_dir = output_dir / "cache" if cache else None
    args = [(fold, grid, dataset, data_dir, evaluate, output_dir, cache_dir) for fold in folds]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_run_fold, *zip(*args, strict=True)))
    else:
        results = [_run_fold(*a) for a in args]
    searches = [s for s, _ in results]
    test_rows = [row for _, rows in results for row in rows]
    write_outputs(searches, test_rows, grid, output_dir)
    return searches, test_rows


def write_outputs(searches: Sequence[Mapping], test_rows: Sequence[Mapping], grid: SearchGrid,
                  output_dir: Path) -> None:
    """``grid.json``, ``validation.csv``, ``autorec_grid.csv``, ``chosen.json`` and, with
    test rows, ``test.csv`` and ``results.md`` in ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "grid.json").write_text(json.dumps(grid.to_dict(), indent=1, default=str))
    pd.DataFrame([r for s in searches for r in s["candidates"]]).to_csv(
        output_dir / "validation.csv", index=False)
    pd.DataFrame([r for s in searches for r in s["autorec_grid"]]).to_csv(
        output_dir / "autorec_grid.csv", index=False)
    chosen = {s["fold"]: {k: s[k] for k in RECORD_KEYS if k in s} for s in searches}
    (output_dir / "chosen.json").write_text(json.dumps(chosen, indent=1))
    if test_rows:
        pd.DataFrame(test_rows).to_csv(output_dir / "test.csv", index=False)
        (output_dir / "results.md").write_text(summary_table(test_rows).round(4).to_markdown())


def write_module(searches: Sequence[Mapping], test_rows: Sequence[Mapping], command: str,
                 path: Path | None = None) -> None:
    """Write ``recsae/tuned.json`` (read by :mod:`recsae.tuned`), the committed copy of the
    choices and test scores. Data, not code: the notebooks' results cache stays valid."""
    chosen = {s["fold"]: {k: s[k] for k in RECORD_KEYS if k in s} for s in searches}
    rows = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
            for r in test_rows]
    text = json.dumps({"command": command, "chosen": chosen, "test_results": rows}, indent=1)
    (path or Path(__file__).with_name("tuned.json")).write_text(text + "\n")


def collect(output_dir: Path = OUTPUT_DIR) -> tuple[list[dict], list[dict]]:
    """The searches and test rows of the ``fold*.json`` records in ``output_dir``."""
    records = [json.loads(p.read_text()) for p in sorted(Path(output_dir).glob("fold*.json"))]
    if not records:
        raise FileNotFoundError(f"no fold*.json in {output_dir}: run the search first.")
    return [r["search"] for r in records], [row for r in records for row in r["test"]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsae.search", description=__doc__.split("\n")[0])
    parser.add_argument("--folds", nargs="+", default=["1", "2", "3", "4", "5"])
    parser.add_argument("--quick", action="store_true", help="a tiny grid (a smoke run)")
    parser.add_argument("--no-evaluate", action="store_true", help="search only (no test file)")
    parser.add_argument("--jobs", type=int, default=1, help="folds run in parallel (one core each)")
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--write-module", action="store_true",
                        help="also write recsae/tuned.json (the committed copy)")
    parser.add_argument("--module-path", type=Path, default=None,
                        help="write the module there instead (implies --write-module)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the member cache (OUTPUT_DIR/cache)")
    parser.add_argument("--collect", action="store_true",
                        help="compute nothing: gather the output dir's fold*.json records")
    args = parser.parse_args(argv)
    grid = QUICK_GRID if args.quick else SearchGrid()
    if args.collect:
        searches, rows = collect(args.output_dir)
        folds = [s["fold"] for s in searches]
        write_outputs(searches, rows, grid, args.output_dir)
    else:
        searches, rows = run(args.folds, grid, data_dir=args.data_dir,
                             evaluate=not args.no_evaluate, jobs=args.jobs,
                             output_dir=args.output_dir, cache=not args.no_cache)
        folds = list(args.folds)
    if rows:
        print(summary_table(rows).round(4).to_string())
    if args.write_module or args.module_path:
        command = ("python -m recsae.search --write-module" if folds == list("12345")
                   else "python -m recsae.search --folds " + " ".join(folds))
        write_module(searches, rows, command + (" --quick" if args.quick else ""), args.module_path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
