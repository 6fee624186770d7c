"""The scale benchmark: the whole pipeline on synthetic data of MovieLens shapes, one core.

    python bench/run.py --scale                      # every shape -> docs/benchmarks-scale.json,
                                                     # docs/scale-epoch-time.png, benchmarks.md
    python bench/scale.py --shape ml-1m --factor 0.1 --epochs 2 --output x.json   # one child

Each shape runs in a fresh interpreter (a child process, one thread), so its peak resident
memory (the child's ``ru_maxrss`` from ``os.wait4``) is its own. The stages of one shape:

1. **load**: :func:`recsae.synthetic.generate` (seeded ratings, movies, users), or with
   ``--files`` write them in the real format and parse them back with :mod:`recsae.data`;
2. **split**: the datasets' protocol, a seeded random 90/10 split
   (:func:`recsae.splits.random_split`);
3. **build**: the CSR user matrices (:func:`recsae.user_matrix.build_sparse_from_tables`,
   ratings + genre shares);
4. **fit**: :func:`recsae.training.fit` on the CSR, lazy sparse Adam, 20 epochs;
5. **predict**: every test rating (:func:`recsae.inference.predict_pairs`) and the honest
   metrics on those pairs (:func:`recsae.metrics.pair_metrics`);
6. **top-10**: every user's top 10, seen items excluded (:func:`recsae.inference.top_k`),
   and the ranking metrics against the test ratings >= 4 (sparse masks).

``--extras`` (ML-10M shape) instead runs I-AutoRec on sparse item batches for a few epochs
and a 5-fold cross-validation of the bias model, each in its own child. Nothing here
asserts a time; the smoke test (``tests/test_scale_smoke.py``) asserts a memory bound.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

SHAPES = ("ml-1m", "ml-10m", "ml-20m", "ml-25m")
HIDDEN = (20, 10, 20)  # the article's network
# Big data, big minibatches: at the article's 64 users a step, ML-25M's epoch is 2,540 lazy
# Adam steps that each touch thousands of movie rows (measured: ~20 s an epoch, most of it
# the optimizer); at 1,024 it is 159 steps, and the column-grouped kernel reads each touched
# row once a step. Adam's learning rate is raised with the batch (val RMSE per epoch is
# recorded, so the learning can be checked).
BATCH = 1024
LR = 1e-2


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _stage(record: dict[str, Any], name: str, fn):
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    # CPU seconds too: on a shared machine the wall time counts other people's work.
    record[name] = {"seconds": time.perf_counter() - start,
                    "cpu_seconds": time.process_time() - cpu, "peak_rss_mb": _rss_mb()}
    print(f"[scale] {name}: {record[name]['seconds']:.1f} s, peak {record[name]['peak_rss_mb']:.0f} MB",
          flush=True)
    return result


def feature_tables(made):
    """The ``corrected`` recipe's tables from synthetic movies: genre shares, no attributes."""
    import numpy as np
    import pandas as pd

    from recsae.features import FeatureTables, genre_table_from_strings

    return FeatureTables("corrected", genre_table_from_strings(made.movies),
                         pd.DataFrame({"user_id": np.arange(1, made.shape.n_users + 1)}),
                         movie_ids=made.movies["item_id"].to_numpy())


def run_pipeline(shape_name: str, factor: float, epochs: int, files: bool, seed: int = 0
                 ) -> dict[str, Any]:
    """The six stages of one shape, in this process; per-stage seconds and peak RSS."""
    import tempfile

    import numpy as np
    from scipy import sparse

    from recsae import data, synthetic
    from recsae.constants import clip_ratings
    from recsae.datasets import get_spec
    from recsae.inference import predict_pairs, top_k
    from recsae.metrics import pair_metrics
    from recsae.ranking import ranking_metrics
    from recsae.splits import random_split
    from recsae.training import TrainConfig, fit
    from recsae.user_matrix import build_sparse_from_tables

    shape = synthetic.get_shape(shape_name)
    shape = shape.scaled(factor) if factor != 1 else shape
    out: dict[str, Any] = {"shape": shape.__dict__, "factor": factor, "epochs": epochs,
                           "hidden": list(HIDDEN), "batch_size": BATCH, "lr": LR,
                           "rss_after_imports_mb": _rss_mb(), "stages": {}}
    stages = out["stages"]

    def load():
        made = synthetic.generate(shape, seed)
        if not files:
            return made
        with tempfile.TemporaryDirectory() as tmp:
            synthetic.write_dataset(made, tmp)
            movies, users = made.movies, made.users
            del made  # the generated ratings: parsed back from the files instead
            ratings = data.load_ratings(dataset=shape.dataset, data_dir=tmp)
        return synthetic.SyntheticData(shape, ratings, movies, users)

    made = _stage(stages, "load", load)
    tables, ratings = feature_tables(made), made.ratings
    del made
    train, test = _stage(stages, "split", partial(random_split, ratings, 0.1, seed))
    del ratings
    mats = _stage(stages, "build", partial(build_sparse_from_tables, train, test, tables,
                                           "ratings+genres",
                                           scale=get_spec(shape.dataset).rating_scale))
    del train, test
    n_items = mats.columns.n_items
    config = TrainConfig(hidden=HIDDEN, epochs=epochs, batch_size=BATCH, lr=LR,
                         optimizer="sparse_adam",
                         val_fraction=0.1, patience=None, seed=seed)
    result = _stage(stages, "fit", lambda: fit(mats.train, n_items, config))
    seconds = result.history["seconds"].to_numpy()
    out["epoch_seconds"] = np.diff(seconds, prepend=0.0).tolist()
    out["val_rmse"] = result.history["val_rmse"].tolist()
    test_block = sparse.csr_matrix(mats.test[:, :n_items]).tocoo()

    def predict():
        pred = predict_pairs(result.model, mats.train, test_block.row, test_block.col)
        return pair_metrics(clip_ratings(pred.astype(np.float64)), test_block.data, test_block.row)

    out["rating_metrics"] = _stage(stages, "predict", predict)

    def rank():
        top = top_k(result.model, mats.train, n_items, 10, exclude=mats.train)
        relevant = sparse.csr_matrix(mats.test[:, :n_items] >= 4.0)
        return ranking_metrics(top, relevant)

    out["ranking_metrics"] = _stage(stages, "top10", rank)
    out["n_train"] = int(mats.train[:, :n_items].nnz)
    out["n_test"] = int(test_block.nnz)
    out["peak_rss_mb"] = _rss_mb()
    return out


def run_extras(shape_name: str, factor: float, which: str, seed: int = 0) -> dict[str, Any]:
    """I-AutoRec (a few epochs on sparse item batches) or a 5-fold bias-model CV."""

    from recsae import synthetic
    from recsae.autorec import AutoRecConfig, IAutoRec
    from recsae.baselines import BiasModel
    from recsae.crossval import evaluate_split
    from recsae.protocol import evaluate_rating_model
    from recsae.splits import random_split

    shape = synthetic.get_shape(shape_name)
    shape = shape.scaled(factor) if factor != 1 else shape
    out: dict[str, Any] = {"shape": shape.__dict__, "which": which, "stages": {}}
    made = _stage(out["stages"], "load", lambda: synthetic.generate(shape, seed))
    ratings = made.ratings
    if which == "autorec":
        train, test = random_split(ratings, 0.1, seed)
        del ratings, made
        config = AutoRecConfig(optimizer="adam", lr=1e-3, n_epochs=2, batch_size=256, hidden=100)
        model = _stage(out["stages"], "fit", lambda: IAutoRec(config, sparse=True).fit(train))
        out["rmse"] = _stage(out["stages"], "predict",
                             lambda: evaluate_rating_model(model, test))
        out["n_epochs"] = config.n_epochs
        out["epoch_seconds"] = [out["stages"]["fit"]["seconds"] / config.n_epochs]
        out["train_rmse"] = model.history_["train_rmse"].tolist()
    else:
        folds = []
        for fold in range(1, 6):
            def one(fold=fold):
                train, test = random_split(ratings, 0.2, seed, fold)
                return evaluate_split(BiasModel(dataset=shape.dataset).fit(train), train, test)
            folds.append(_stage(out["stages"], f"fold{fold}", one))
        out["folds"] = folds
    out["peak_rss_mb"] = _rss_mb()
    return out


def run_child(args: list[str]) -> dict[str, Any]:
    """Run ``bench/scale.py ARGS`` in a fresh interpreter; its JSON, plus its peak RSS
    (``ru_maxrss`` of the child, from ``os.wait4``) and wall time."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.json"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "NUMBA_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args,
                                  "--output", str(path)], env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            return {"args": args, "failed": f"exit code {child.returncode}",
                    "child_peak_rss_mb": usage.ru_maxrss / 1024}
        result = json.loads(path.read_text())
    result["child_peak_rss_mb"] = usage.ru_maxrss / 1024
    result["wall_seconds"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=SHAPES, required=True)
    parser.add_argument("--factor", type=float, default=1.0, help="scale the shape (tests)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--files", action="store_true",
                        help="write the real files and parse them back (load = parse)")
    parser.add_argument("--extras", choices=["autorec", "crossval"], default=None)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.extras:
        result = run_extras(args.shape, args.factor, args.extras)
    else:
        result = run_pipeline(args.shape, args.factor, args.epochs, args.files)
    args.output.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
