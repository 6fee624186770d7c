"""Per-fold tuning: every choice for fold ``k`` made on a validation split of ``u{k}.base``.

``python -m recsae.search`` runs, for each fold ``k`` (ML-100K ``u1``..``u5``):

1. **Search** (:func:`search_fold`), reading ``u{k}.base`` and nothing else: a seeded 10%
   validation split of it (:func:`recsae.splits.validation_split`); every member model is
   trained on the other 90% and predicts the validation ratings:

   * the I-AutoRec grid (:func:`recsae.autorec.tune_autorec`: each config's epoch chosen
     by early stopping), the best ``top_autorecs`` configs refitted at their epoch;
   * each biased MF of ``mf_grid`` and the bias model;
   * the Bayesian FMs of ``bfm`` (fixed recipes: :class:`recsae.bayes_fm.BayesianFM`).

   Every candidate blend (the average of the top 1..n I-AutoRecs, one MF or none, the
   bias model or not, any subset of the Bayesian FMs) gets least-squares weights on the
   validation predictions and is ranked by its 2-fold *cross-fitted* validation RMSE
   (weights fitted on one half, scored on the other). Each reported model
   (:data:`FAMILIES`) takes the best candidate it allows; its weights are then refitted on
   the whole validation set.
2. **Evaluation** (:func:`evaluate_fold`): every chosen member is refitted on all of
   ``u{k}.base`` and the chosen weights are applied to its ``u{k}.test`` predictions. Test
   ratings are read here only, after every choice is fixed.

Outputs in ``build/search/`` (:func:`write_outputs`); ``--write-module`` also writes
``recsae/tuned.json``, the committed copy the notebooks read (:mod:`recsae.tuned`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recsae.autorec import TUNING_BASE, AutoRecConfig, IAutoRec, as_configs, tune_autorec
from recsae.baselines import BiasedMF, BiasModel, MFConfig
from recsae.bayes_fm import BayesianFM
from recsae.blend import BlendConfig
from recsae.constants import clip_ratings
from recsae.crossval import cross_validate
from recsae.data import PathLike, load_movies, load_ratings, load_users
from recsae.datasets import get_spec
from recsae.splits import load_dataset_split, validation_split

OUTPUT_DIR = Path("build") / "search"
# The reported models: name -> which members its candidates may use ("raw": the member's
# own prediction, no weights).
FAMILIES: dict[str, dict[str, object]] = {
    "I-AutoRec": {"raw": "autorec0"},
    "Bayesian FM": {"raw": "bfm"},
    "Bayesian FM + side features": {"raw": "bfm_side"},
    "I-AutoRec ensemble + MF": {"bfm": False},
    "blend: Bayesian FM + I-AutoRec + MF": {"bfm": True},
}
BEST_FAMILY = "blend: Bayesian FM + I-AutoRec + MF"


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
    bfm_iter: int = 128
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
                        mf_grid=(MFConfig(n_factors=5, n_epochs=3),), bfm_iter=8)


def load_base(fold: int | str, dataset: str = "ml-100k", data_dir: PathLike = None) -> pd.DataFrame:
    """The training part of a fold (``u{fold}.base``), and nothing of its test part."""
    spec = get_spec(dataset)
    if spec.split != "shipped":
        raise ValueError(f"the search needs a dataset with shipped folds, not {dataset!r}.")
    return load_ratings(spec.fold_files(fold)[0], dataset, data_dir)


def _member(spec: Mapping[str, object], side: tuple[pd.DataFrame, pd.DataFrame] | None):
    """An unfitted rating model from a member spec (``kind`` + its config fields)."""
    kind = spec["kind"]
    fields = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "autorec":
        return IAutoRec(AutoRecConfig(**fields))
    if kind == "mf":
        return BiasedMF(MFConfig(**fields))
    if kind == "bias":
        return BiasModel()
    if kind == "bfm":
        users, movies = side if side is not None else (None, None)
        return BayesianFM(**fields, users=users, movies=movies)
    raise ValueError(f"unknown member kind {kind!r}.")


def _fit_predict(spec, side, train: pd.DataFrame, pairs: pd.DataFrame) -> tuple[np.ndarray, float]:
    start = time.perf_counter()  # wall seconds of the fit
    model = _member(spec, side).fit(train)
    seconds = time.perf_counter() - start
    return model.predict(pairs["user_id"].to_numpy(), pairs["item_id"].to_numpy()), seconds


def _lstsq(columns: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = np.column_stack([np.ones(len(target)), columns])
    return np.linalg.lstsq(design, target, rcond=None)[0]


def _rmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((clip_ratings(pred) - target) ** 2)))


def _candidates(autorecs: int, mfs: Sequence[str], bfms: Sequence[str]):
    """Every candidate: (n I-AutoRecs averaged, MF or None, bias?, tuple of BFMs)."""
    subsets = [c for r in range(len(bfms) + 1) for c in itertools.combinations(bfms, r)]
    for n, mf, bias, bfm in itertools.product(range(autorecs + 1), [None, *mfs], (False, True),
                                              subsets):
        if n or mf or bias or bfm:
            yield n, mf, bias, bfm


def search_fold(fold: int | str, grid: SearchGrid | None = None, dataset: str = "ml-100k",
                data_dir: PathLike = None) -> dict:
    """Every choice of fold ``fold``, on a validation split of its training part only.

    Returns:
        ``{"fold", "members": {name: spec}, "member_valid_rmse": {name: rmse},
        "candidates": [rows], "chosen": {family: {"weights": {"intercept" | member: w},
        "valid_rmse", "cv_valid_rmse"}}, "autorec_grid": [rows]}``.
    """
    grid = grid or SearchGrid()
    torch.manual_seed(grid.seed)
    base = load_base(fold, dataset, data_dir)
    side = (load_users(dataset, data_dir), load_movies(dataset, data_dir)) if grid.bfm else None
    fit_part, valid = validation_split(base, grid.valid_frac, grid.split_seed)
    target = valid["rating"].to_numpy(np.float64)
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
        members[name] = {"kind": "bfm", **kw, "rank": grid.bfm_rank, "n_iter": grid.bfm_iter,
                         "seed": grid.seed}
    preds = {name: _fit_predict(spec, side, fit_part, valid)[0] for name, spec in members.items()}
    halves = np.random.default_rng(grid.split_seed).random(len(target)) < 0.5

    rows = []
    n_autorecs = sum(name.startswith("autorec") for name in members)
    mfs = [name for name in members if name.startswith("mf")]
    for n, mf, bias, bfm in _candidates(n_autorecs, mfs, list(grid.bfm)):
        names = [*([f"autorec_top{n}"] if n else []), *([mf] if mf else []),
                 *(["bias"] if bias else []), *bfm]
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
                     "uses_bfm": bool(bfm), "valid_rmse": _rmse(w[0] + columns @ w[1:], target),
                     "cv_valid_rmse": _rmse(crossed, target), "weights": weights})
    chosen = {}
    for family, rule in FAMILIES.items():
        if "raw" in rule:
            if rule["raw"] in members:
                chosen[family] = {"weights": {"intercept": 0.0, rule["raw"]: 1.0},
                                  "valid_rmse": _rmse(preds[rule["raw"]], target)}
            continue
        allowed = [r for r in rows if r["n_autorecs"] > 0 and r["uses_bfm"] == rule["bfm"]]
        if allowed:
            best = min(allowed, key=lambda r: r["cv_valid_rmse"])
            chosen[family] = {k: best[k] for k in ("candidate", "weights", "valid_rmse",
                                                   "cv_valid_rmse")}
    return {"fold": str(fold), "members": members, "candidates": rows, "chosen": chosen,
            "member_valid_rmse": {name: _rmse(p, target) for name, p in preds.items()},
            "autorec_grid": ar_table.assign(fold=str(fold)).to_dict("records")}


def evaluate_fold(fold: int | str, search: Mapping, dataset: str = "ml-100k",
                  data_dir: PathLike = None) -> list[dict]:
    """Refit the chosen members on all of ``u{fold}.base``; score each family on ``u{fold}.test``.

    Returns one row per family: ``fold, model, rmse, mae, seconds`` (the wall time of
    fitting its members on one core, summed).
    """
    base, test = load_dataset_split(dataset, fold, data_dir=data_dir)
    side = (load_users(dataset, data_dir), load_movies(dataset, data_dir))
    needed = {m for c in search["chosen"].values() for m in c["weights"] if m != "intercept"}
    fitted = {name: _fit_predict(search["members"][name], side, base, test) for name in
              search["members"] if name in needed}
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


def _run_fold(fold, grid, dataset, data_dir, evaluate, output_dir) -> tuple[dict, list[dict]]:
    torch.set_num_threads(1)
    search = search_fold(fold, grid, dataset, data_dir)
    rows = evaluate_fold(fold, search, dataset, data_dir) if evaluate else []
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
        jobs: int = 1, output_dir: Path = OUTPUT_DIR) -> tuple[list[dict], list[dict]]:
    """Search (and evaluate) every fold, ``jobs`` at a time; write ``output_dir``."""
    grid, output_dir = grid or SearchGrid(), Path(output_dir)
    args = [(fold, grid, dataset, data_dir, evaluate, output_dir) for fold in folds]
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
    chosen = {s["fold"]: {k: s[k] for k in ("members", "chosen", "member_valid_rmse")}
              for s in searches}
    (output_dir / "chosen.json").write_text(json.dumps(chosen, indent=1))
    if test_rows:
        pd.DataFrame(test_rows).to_csv(output_dir / "test.csv", index=False)
        (output_dir / "results.md").write_text(summary_table(test_rows).round(4).to_markdown())


def write_module(searches: Sequence[Mapping], test_rows: Sequence[Mapping], command: str,
                 path: Path | None = None) -> None:
    """Write ``recsae/tuned.json`` (read by :mod:`recsae.tuned`), the committed copy of the
    choices and test scores. Data, not code: the notebooks' results cache stays valid."""
    chosen = {s["fold"]: {k: s[k] for k in ("members", "chosen", "member_valid_rmse")} for s in searches}
    rows = [{k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items()}
            for r in test_rows]
    text = json.dumps({"command": command, "chosen": chosen, "test_results": rows}, indent=1)
    (path or Path(__file__).with_name("tuned.json")).write_text(text + "\n")


def blend_config(choice: Mapping, members: Mapping[str, Mapping]) -> BlendConfig:
    """The :class:`recsae.blend.BlendConfig` of a chosen I-AutoRec + MF (+ bias) blend.

    ``choice["weights"]`` gives each of the n averaged I-AutoRecs ``w_A / n``; a Bayesian FM
    member is refused (an :class:`~recsae.blend.AutoRecBlend` has none).
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
                             output_dir=args.output_dir)
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
