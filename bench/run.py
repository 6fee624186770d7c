"""Speed and memory benchmarks of the pipeline -> ``docs/benchmarks.md`` and ``.json``.

    python bench/run.py                  # full measurement (a few minutes) -> docs/
    python bench/run.py --quick          # a few seconds, for CI -> build/bench-quick/
    python bench/run.py --notebooks      # also execute every notebook (minutes)
    python bench/run.py --device cuda    # the corrected trainer on a GPU (never required)
    python bench/run.py --gpu-only --output DIR   # on a GPU machine: only the fit stage
                                         # -> DIR/benchmarks-gpu.json; copied into docs/, the
                                         # next full run folds it into its report (a copy of
                                         # the tree without git: set RECSAE_BENCH_COMMIT)

Benchmarks, not tests: nothing here asserts a wall time. What *is* asserted are the
equalities that make a speed-up meaningful (the vectorised matrices equal both loop
references; the fast as-published trainer's weights equal the plain autograd loop's).

Each stage runs in a fresh Python process (``--stage NAME``), so its peak resident memory
(``VmHWM``) is its own. Every time is compared with a reference run *in the same process*,
interleaved where possible: the machine may be shared, so ratios are steadier than seconds.
Each number is reported as the median of its runs with the min-max spread.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsae.cpu_env import pin_cpu_env  # torch-free: imported before any torch import

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
TESTS_DIR = ROOT / "tests"
STAGES = ("pipeline", "matrices", "fit", "as_published")
N_RATING_COLUMNS = 1682  # ML-100K movies: the rating columns of the u1 matrices


def _use_offline_mirror() -> None:
    """Point the data layer at the verified local copies when nothing else is configured
    (as tests/conftest.py does for the tests)."""
    if os.environ.get("RECSAE_DATA_MIRROR"):
        return
    for candidate in (Path("/work/shared/data"), ROOT.parent / "shared" / "data"):
        if candidate.is_dir():
            os.environ["RECSAE_DATA_MIRROR"] = candidate.as_uri()
            return


# --------------------------------------------------------------------------- measuring


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not on Windows; Linux and macOS have one or the other

    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes vs KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def spread(values: list[float]) -> dict[str, Any]:
    """Median, min, max and count of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def python_profile(fn: Callable[[], Any], top: int = 2) -> str:
    """The ``top`` functions by own time in one call of ``fn``, as a short text."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    parts = []
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = name if filename == "~" else f"{Path(filename).name}:{line} {name}"
        parts.append(f"{where} ({calls} calls, {100 * own / total:.0f}% of {total:.2f} s)")
    return "; ".join(parts)


def torch_profile(fn: Callable[[], Any], top: int = 3, cuda: bool = False) -> str:
    """The ``top`` torch operators by self CPU time in one call of ``fn``; with ``cuda``,
    also the GPU's busy time against the wall time (how much the GPU waits)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        fn()
    wall_us = (time.perf_counter() - start) * 1e6
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    text = "; ".join(f"{e.key} ({e.count} calls, {100 * e.self_cpu_time_total / total:.0f}%)"
                     for e in events[:top])
    if cuda:
        gpu_us = sum(getattr(e, "self_device_time_total", 0.0) for e in events)
        launches = sum(e.count for e in events if e.key.startswith("cudaLaunchKernel"))
        text += (f"; GPU busy {gpu_us / 1e3:.0f} ms of {wall_us / 1e3:.0f} ms wall, "
                 f"{launches} kernel launches")
    return text


# --------------------------------------------------------------------------- stages


def _load_inputs() -> dict[str, Any]:
    """u1.base, u1.test and the article's ML-1M side tables, through recsae.data."""
    from recsae import data, features

    train, test = data.load_split(1)
    return {"train": train, "test": test, "tables": features.load_feature_tables("as_published"),
            "movies_1m": data.load_movies("ml-1m"), "users_1m": data.load_users("ml-1m")}


def stage_pipeline(quick: bool, device: str) -> dict[str, Any]:
    """The data pipeline alone: load the files, build the article's matrices (peak RSS)."""
    import numpy as np

    from recsae import features

    rss_imported = peak_rss_mb()
    load_s, inputs = timed(_load_inputs)
    build_s, mats = timed(lambda: features.build_from_tables(inputs["train"], inputs["test"],
                                                             inputs["tables"]))
    return {"load_seconds": load_s, "build_seconds": build_s,
            "shape": list(mats.train.shape), "nbytes_mb": 2 * mats.train.nbytes / 2**20,
            "rss_after_imports_mb": rss_imported, "checksum": float(np.sum(mats.train))}


def stage_matrices(quick: bool, device: str) -> dict[str, Any]:
    """Vectorised builder vs the dict-loop and the article-style references (u1 both files)."""
    import numpy as np
    from article_reference import build_matrix_loop
    from references import article_style_rows

    from recsae import features

    inputs = _load_inputs()
    train, test, tables = inputs["train"], inputs["test"], inputs["tables"]

    def vectorised() -> features.UserMatrices:
        return features.build_from_tables(train, test, tables)

    vectorised()  # warm-up (first calls import and allocate)
    vec_times = [timed(vectorised)[0] for _ in range(3 if quick else 9)]
    mats = vectorised()
    n_users, n_movies = mats.train.shape[0], mats.columns.n_items
    genre_names = list(mats.columns.genre_names)

    def dict_loop() -> list[np.ndarray]:
        return [build_matrix_loop(frame, inputs["movies_1m"], inputs["users_1m"], genre_names,
                                  n_users, n_movies) for frame in (train, test)]

    loop_times, loop_mats = [], None
    for _ in range(1 if quick else 3):
        seconds, loop_mats = timed(dict_loop)
        loop_times.append(seconds)
    dict_equal = all(np.array_equal(ref.astype(np.float32), ours)
                     for ref, ours in zip(loop_mats, (mats.train, mats.test), strict=True))

    # The article-style reference: every user in the full run, every 50th in quick mode.
    users = list(range(1, n_users + 1, 50 if quick else 1))
    lookup_s = per_user_s = 0.0
    lookup_rows = 0
    article_equal = True
    for frame, ours in ((train, mats.train), (test, mats.test)):
        result = article_style_rows(frame, inputs["movies_1m"], inputs["users_1m"], genre_names,
                                    n_movies, users)
        article_equal &= bool(np.array_equal(result.rows.astype(np.float32),
                                             ours[np.array(users) - 1]))
        lookup_s += result.lookup_seconds
        per_user_s += result.per_user_seconds
        lookup_rows += result.lookup_rows
    total_rows = len(train) + len(test)
    # Linear in rating rows (step 7) and in users (step 8): exact when all users are built.
    article_s = lookup_s * total_rows / lookup_rows + per_user_s * n_users / len(users)
    if not (dict_equal and article_equal):
        raise AssertionError(f"matrices differ: dict loop equal={dict_equal}, "
                             f"article-style equal={article_equal}")
    vec_median = statistics.median(vec_times)
    return {
        "vectorised_seconds": spread(vec_times),
        "dict_loop_seconds": spread(loop_times),
        "article_style_seconds": article_s,
        "article_style_users_built": len(users),
        "article_style_extrapolated": len(users) < n_users,
        "article_style_lookup_share": lookup_s * total_rows / lookup_rows / article_s,
        "ratio_vs_dict_loop": statistics.median(loop_times) / vec_median,
        "ratio_vs_article_style": article_s / vec_median,
        "equal_to_dict_loop": dict_equal,
        "equal_to_article_style": article_equal,
        "profile_vectorised": python_profile(vectorised),
        "profile_dict_loop": python_profile(lambda: build_matrix_loop(
            train, inputs["movies_1m"], inputs["users_1m"], genre_names, n_users, n_movies)),
    }


def _training_matrix() -> Any:
    """The article's u1 training matrix, ratings + genres + attributes, ``[943, 1704]``."""
    from recsae import features

    inputs = _load_inputs()
    return features.build_from_tables(inputs["train"], inputs["test"], inputs["tables"]).train


def stage_fit(quick: bool, device: str) -> dict[str, Any]:
    """The corrected trainer (`fit`), 3-layer net, all epochs (no early stop): the sparse
    CPU path at 1 and 2 threads, the dense path (its reference) at 1 thread, and CUDA."""
    import torch

    from recsae.models import StackedAutoencoder
    from recsae.training import TrainConfig, fit

    train = _training_matrix()
    epochs = 3 if quick else 200
    config = TrainConfig(hidden=(20, 10, 20), epochs=epochs, patience=None)
    n_params = StackedAutoencoder(train.shape[1], config.hidden).n_parameters()
    n_fit_rows = train.shape[0]  # every user trains (on its ratings minus validation)
    # Dense: forward 2, backward 4 FLOP per weight and row; the per-epoch validation pass
    # adds 2. The sparse path does a small fraction of this (see the report).
    train_gflop = 6 * n_params * n_fit_rows * epochs / 1e9
    val_gflop = 2 * n_params * train.shape[0] * epochs / 1e9
    runs: dict[str, Any] = {}
    # (name, device, threads, sparse): the dense CPU run is the reference of the speed-up.
    variants = [("cpu_1t", "cpu", 1, True), ("cpu_2t", "cpu", 2, True),
                ("cpu_1t_dense", "cpu", 1, False)]
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        variants.append(("cuda", "cuda", None, False))
    warm = TrainConfig(**{**config.to_dict(), "epochs": 1})
    for _, dev, threads, sparse in variants:
        fit(train, N_RATING_COLUMNS, warm, device=dev, threads=threads, sparse=sparse)  # warm-up
    times: dict[str, list[float]] = {key: [] for key, *_ in variants}
    histories: dict[str, Any] = {}
    # Interleaved rounds: every variant sees the same machine load.
    for _ in range(1 if quick else 3):
        for key, dev, threads, sparse in variants:
            if times[key] and sum(times[key]) > 60:  # a busy 2-core machine: enough
                continue
            seconds, result = timed(lambda d=dev, t=threads, s=sparse: fit(
                train, N_RATING_COLUMNS, config, device=d, threads=t, sparse=s))
            times[key].append(seconds)
            histories[key] = result.history
    for key, dev, threads, sparse in variants:
        runs[key] = {"seconds": spread(times[key]), "epochs_run": len(histories[key]),
                     "device": dev, "threads": threads, "sparse": sparse,
                     "best_val_rmse": float(histories[key]["val_rmse"].min())}
    ratio = runs["cpu_1t_dense"]["seconds"]["median"] / runs["cpu_1t"]["seconds"]["median"]
    rss_training = peak_rss_mb()  # before the profilers, which hold their own buffers
    short = TrainConfig(**{**config.to_dict(), "epochs": 3})
    # 20 epochs: long enough for the per-step costs to outweigh the one-off set-up.
    steady = TrainConfig(**{**config.to_dict(), "epochs": 3 if quick else 20})
    profile = python_profile(lambda: fit(train, N_RATING_COLUMNS, steady, device="cpu",
                                         threads=1), top=4)
    breakdown = sparse_epoch_breakdown(train, config, 3 if quick else 30)
    profile_dense = torch_profile(lambda: fit(train, N_RATING_COLUMNS, short, device="cpu",
                                              threads=1, sparse=False))
    profile_cuda = (torch_profile(lambda: fit(train, N_RATING_COLUMNS, short, device="cuda"),
                                  cuda=True) if "cuda" in runs else None)
    return {"peak_rss_training_mb": rss_training, "epochs": epochs, "n_parameters": n_params,
            "matrix_shape": list(train.shape), "n_nonzero": int((train != 0).sum()),
            "train_gflop": train_gflop, "validation_gflop": val_gflop, "runs": runs,
            "sparse_vs_dense_1t": ratio,
            "config": config.to_dict(), "profile_1t": profile, "profile_dense_1t": profile_dense,
            "sparse_breakdown": breakdown, "numba_sparse": numba_compile_seconds(sparse=True),
            "profile_cuda": profile_cuda,
            "cuda_available": torch.cuda.is_available(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def sparse_epoch_breakdown(train: Any, config: Any, epochs: int) -> dict[str, Any]:
    """Where a sparse `fit` epoch goes (1 thread): the gradient kernel and the optimizer
    kernel per step, the validation pass per epoch, each timed alone (medians over
    ``epochs`` epochs), and the whole epoch; the rest of the epoch is Python."""
    import numpy as np
    import torch

    from recsae import training
    from recsae.models import StackedAutoencoder
    from recsae.runtime import torch_threads

    fit_input, val_target = training.split_validation(train, N_RATING_COLUMNS,
                                                      config.val_fraction, config.seed)
    rows, cols = (a.astype(np.int64) for a in np.nonzero(val_target))
    torch.manual_seed(config.seed)
    model = StackedAutoencoder(train.shape[1], config.hidden, config.activation)
    trainer = training._SparseTrainer(model, fit_input, N_RATING_COLUMNS, (rows, cols), config)
    generator = torch.Generator().manual_seed(config.seed)
    parts: dict[str, list[float]] = {"gradients_us": [], "optimizer_us": [],
                                     "validation_ms": [], "epoch_ms": []}
    nnz, scored = [], []
    with torch_threads(1):
        for _ in range(epochs + 1):  # the first one warms up
            order = torch.randperm(train.shape[0], generator=generator).numpy()
            grad_s = opt_s = 0.0
            start = time.perf_counter()
            for at in range(0, order.size, config.batch_size):
                batch = order[at:at + config.batch_size]
                t = time.perf_counter()
                trainer.net.minibatch_gradients(trainer.data, batch)
                grad_s += time.perf_counter() - t
                t = time.perf_counter()
                trainer.optimizer.step(trainer.net.theta, trainer.net.grad, config.lr)
                opt_s += time.perf_counter() - t
                nnz.append(int((trainer.data.indptr[batch + 1] - trainer.data.indptr[batch]).sum()))
                scored.append(trainer.data.n_scored(batch))
            t = time.perf_counter()
            trainer.outputs()
            parts["validation_ms"].append((time.perf_counter() - t) * 1e3)
            parts["epoch_ms"].append((time.perf_counter() - start) * 1e3)
            n_steps = -(-order.size // config.batch_size)
            parts["gradients_us"].append(grad_s / n_steps * 1e6)
            parts["optimizer_us"].append(opt_s / n_steps * 1e6)
    result: dict[str, Any] = {key: statistics.median(values[1:]) for key, values in parts.items()}
    result.update(steps_per_epoch=n_steps, epochs=epochs, nnz_per_step=statistics.median(nnz),
                  scored_per_step=statistics.median(scored), validation_ratings=int(rows.size))
    return result


def numba_compile_seconds(sparse: bool = False) -> dict[str, float]:
    """Seconds for ``import recsae.kernels`` (imports numba) and compiling the as-published
    kernels (``kernels.compile_all()``), or with ``sparse`` the corrected trainer's
    (:mod:`recsae.sparse`, :mod:`recsae.flat_optim`: a one-epoch `fit` of a tiny matrix),
    in fresh interpreters sharing an empty numba cache: compiled the first time, loaded
    from the on-disk cache the second (what every later run of the trainer pays)."""
    work = ("from recsae import kernels; kernels.compile_all()" if not sparse else
            "from recsae import flat_optim, sparse; from recsae.training import TrainConfig, "
            "fit; fit(np.full((6, 6), 3, dtype=np.float32), 4, TrainConfig(hidden=(3,), "
            "epochs=1, batch_size=4, val_fraction=0.3))")
    code = ("import json, time, numpy as np; from recsae import runtime; "
            "runtime.seed_everything(0); "  # torch's one-off imports, outside the timing
            "t = time.perf_counter(); import numba; i = time.perf_counter() - t; "
            f"t = time.perf_counter(); {work}; "
            "print(json.dumps([i, time.perf_counter() - t]))")
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for key in ("first", "cached"):
            out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                                 env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True,
                                 text=True).stdout
            result["import_s"], result[f"{key}_compile_s"] = json.loads(out.splitlines()[-1])
    return result


def stage_as_published(quick: bool, device: str) -> dict[str, Any]:
    """The fast as-published trainer vs the plain per-user autograd loop, one thread each."""
    import numpy as np
    import torch
    from training_reference import train_as_published_reference

    from recsae import training
    from recsae.models import StackedAutoencoder
    from recsae.runtime import torch_threads

    train = _training_matrix()
    torch.manual_seed(0)
    start_model = StackedAutoencoder(train.shape[1], (20, 10, 20))
    n_steps = int((train > 0).any(axis=1).sum())  # users with an entry > 0 get a step

    def fast(epochs: int) -> tuple[StackedAutoencoder, list[float]]:
        model = copy.deepcopy(start_model)
        history = training.train_as_published(model, train, N_RATING_COLUMNS, epochs=epochs,
                                              threads=1)
        return model, history["article_train_metric"].tolist()

    def reference(epochs: int) -> tuple[StackedAutoencoder, list[float]]:
        model = copy.deepcopy(start_model)
        with torch_threads(1):
            metric = train_as_published_reference(model, train, N_RATING_COLUMNS, epochs=epochs)
        return model, metric

    def compare(epochs: int) -> dict[str, Any]:
        (ours, our_metric), (ref, ref_metric) = fast(epochs), reference(epochs)
        pairs = list(zip(ours.parameters(), ref.parameters(), strict=True))
        return {"epochs": epochs,
                "bitwise_equal": all(torch.equal(p, q) for p, q in pairs),
                "max_abs_weight_diff": max(float((p - q).abs().max().detach()) for p, q in pairs),
                "metric_fast": our_metric[-1], "metric_reference": ref_metric[-1],
                "metric_max_rel_diff": float(np.max(np.abs(np.subtract(our_metric, ref_metric))
                                                    / np.abs(ref_metric)))}

    equality = [compare(1 if quick else 2)]
    if not quick:
        equality.append(compare(10))
    if not all(e["bitwise_equal"] or e["max_abs_weight_diff"] < 1e-6 for e in equality):
        raise AssertionError(f"the fast trainer diverged from the reference: {equality}")

    # Per-step time: one epoch each, interleaved so both see the same machine load.
    fast_us, ref_us = [], []
    for _ in range(1 if quick else 5):
        ref_us.append(timed(lambda: reference(1))[0] / n_steps * 1e6)
        fast_us.append(timed(lambda: fast(1))[0] / n_steps * 1e6)
    ratio = statistics.median(ref_us) / statistics.median(fast_us)

    # Where a fast step goes: the dense RMSprop update of every weight (two numba kernels
    # around torch.sqrt), torch.sqrt alone, and the torch matrix products + sigmoids.
    net = training._FlatSigmoidMLP(copy.deepcopy(start_model), N_RATING_COLUMNS,
                                   training.ARTICLE_LR, training.ARTICLE_WEIGHT_DECAY)
    users = training._as_published_users(torch.from_numpy(np.ascontiguousarray(
        train, dtype=np.float32)), N_RATING_COLUMNS)

    def products() -> None:  # the torch calls of one step, as train_epoch makes them
        h = users.rows[0]
        for bias, weight_t, act in zip(net.bias_rows[:-1], net.weights_t[:-1], net.acts[:-1],
                                       strict=True):
            h = torch.addmm(bias, h, weight_t, out=act).sigmoid_()
        torch.addmm(net.bias_rows[-1], h, net.weights_t[-1], out=net.acts[-1])
        for i in range(len(net.weights) - 1, 0, -1):
            torch.mm(net.dacts[i], net.weights[i], out=net.dacts[i - 1])

    rounds = 200 if quick else 2000
    with torch_threads(1), torch.no_grad():
        # One epoch first: realistic magnitudes (MKL's sqrt is slower on tiny values), and
        # every kernel compiled or loaded before the clock starts.
        net.train_epoch(users, np.zeros(users.n_diffs, dtype=np.float32))
        net.rmsprop_update()
        update_us = timed(lambda: [net.rmsprop_update() for _ in range(rounds)])[0] / rounds * 1e6
        sqrt_us = timed(lambda: [torch.sqrt(net.square_avg, out=net.denom)
                                 for _ in range(rounds)])[0] / rounds * 1e6
        products_us = timed(lambda: [products() for _ in range(rounds)])[0] / rounds * 1e6
    full_epochs = 3 if quick else training.ARTICLE_EPOCHS
    full_s = timed(lambda: fast(full_epochs))[0]
    return {
        "n_steps_per_epoch": n_steps, "n_parameters": start_model.n_parameters(),
        "matrix_shape": list(train.shape), "threads": 1,
        "equality": equality,
        "fast_us_per_step": spread(fast_us), "reference_us_per_step": spread(ref_us),
        "ratio": ratio,
        "rmsprop_update_us": update_us, "torch_sqrt_us": sqrt_us,
        "torch_products_us": products_us, "numba": numba_compile_seconds(),
        "full_run_epochs": full_epochs, "full_run_seconds": full_s,
        "reference_full_run_seconds_extrapolated":
            statistics.median(ref_us) * n_steps * full_epochs / 1e6,
        "profile_reference": python_profile(lambda: reference(1), top=3),
    }


STAGE_FUNCTIONS: dict[str, Callable[[bool, str], dict[str, Any]]] = {
    "pipeline": stage_pipeline, "matrices": stage_matrices, "fit": stage_fit,
    "as_published": stage_as_published,
}


def run_stage_here(name: str, quick: bool, device: str) -> dict[str, Any]:
    """Run one stage in this process; adds its wall time and peak RSS."""
    sys.path[:0] = [str(BENCH_DIR), str(TESTS_DIR)]  # the references live there
    _use_offline_mirror()
    os.environ.setdefault("TQDM_DISABLE", "1")
    seconds, result = timed(lambda: STAGE_FUNCTIONS[name](quick, device))
    result["stage_seconds"] = seconds
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def run_stage_in_child(name: str, quick: bool, device: str) -> dict[str, Any]:
    """Run one stage in a fresh interpreter so that its peak memory is its own."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--stage", name,
                   "--stage-output", str(out), "--device", device]
        if quick:
            command.append("--quick")
        print(f"[bench] {name} ...", flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        result = json.loads(out.read_text())
        print(f"[bench] {name} done in {time.perf_counter() - start:.1f} s", flush=True)
        return result


# --------------------------------------------------------------------------- context


def machine_info() -> dict[str, Any]:
    """CPU, cores, load, library versions and the torch thread settings."""
    import numpy as np
    import pandas as pd
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=False).stdout.strip()
        # Measured code that differs from the commit (recsae/ or bench/ edited, not committed).
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "recsae", "bench"],
                                    cwd=ROOT, text=True, capture_output=True,
                                    check=False).stdout.strip())
    except OSError:
        commit, dirty = "", False
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(), "torch": torch.__version__,
        "numpy": np.__version__, "pandas": pd.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        # A copy of the tree elsewhere (a lent GPU machine) is told its commit by the caller.
        "commit": os.environ.get("RECSAE_BENCH_COMMIT") or commit,
        "uncommitted_changes": dirty and not os.environ.get("RECSAE_BENCH_COMMIT"),
    }


def notebook_timings(run_them: bool) -> dict[str, Any]:
    """The notebook suite's wall time: executed now with ``--notebooks``, else read from
    ``build/timings.json`` (written by ``make run``) when present."""
    if run_them:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "recsae.runner", "run", "--output-dir", tmp],
                           check=True, cwd=ROOT)
            total = time.perf_counter() - start
            per = json.loads((Path(tmp) / "timings.json").read_text())
        return {"source": "executed by bench/run.py --notebooks", "total_seconds": total,
                "per_notebook_seconds": per}
    path = ROOT / "build" / "timings.json"
    if not path.is_file():
        return {"source": "not measured (run `make run` or pass --notebooks)"}
    per = json.loads(path.read_text())
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"source": f"build/timings.json (from `make run` or `make notebooks`, {modified})",
            "total_seconds": sum(per.values()), "per_notebook_seconds": per}


# --------------------------------------------------------------------------- report


def _fmt(s: dict[str, Any], scale: float = 1.0, digits: int = 3) -> str:
    """``median (min-max, n)`` of a spread, times ``scale``."""
    return (f"{s['median'] * scale:.{digits}g} ({s['min'] * scale:.{digits}g}"
            f"–{s['max'] * scale:.{digits}g}, n={s['n']})")


def sparse_breakdown_lines(fitr: dict[str, Any]) -> list[str]:
    """The sparse epoch's breakdown and its numba compile times, as report lines."""
    b, nb = fitr["sparse_breakdown"], fitr["numba_sparse"]
    steps = b["steps_per_epoch"]
    parts_ms = steps * (b["gradients_us"] + b["optimizer_us"]) / 1e3 + b["validation_ms"]
    return [
        f"- Where a sparse epoch goes (1 thread, medians of {b['epochs']} epochs, each part timed "
        f"alone): {b['epoch_ms']:.1f} ms = {steps} steps × ({b['gradients_us']:.0f} µs in the "
        f"gradient kernel + {b['optimizer_us']:.0f} µs in the optimizer kernel) + "
        f"{b['validation_ms']:.2f} ms for the validation pass + "
        f"{max(b['epoch_ms'] - parts_ms, 0.0):.2f} ms of Python around them. A step's "
        f"gradient kernel reads ~{b['nnz_per_step']:,.0f} non-zero inputs and "
        f"~{b['scored_per_step']:,.0f} scored ratings: the first layer's rows gathered per "
        "input and the output layer's per rating, each a 20-wide product from the cache, plus "
        f"{fitr['config']['batch_size'] * sum(fitr['config']['hidden']):,} sigmoids; the "
        f"optimizer (Adam) reads four arrays of {fitr['n_parameters']:,} floats and writes "
        "three; "
        f"validation runs all {fitr['matrix_shape'][0]} users "
        f"forward to their {b['validation_ratings']:,} held-out ratings.",
        f"- cProfile of 20 sparse epochs (own time): {fitr['profile_1t']}. The one-off set-up "
        "(`split_validation`, one `nonzero` per user) shows because 20 epochs are short.",
        f"- numba: compiling the sparse trainer's kernels (gradients, validation, Adam) takes "
        f"{nb['first_compile_s']:.1f} s the first time, loading them from its on-disk cache "
        f"{nb['cached_compile_s']:.2f} s afterwards; another optimizer compiles its own "
        "kernel on first use.",
    ]


def fit_table(runs: dict[str, Any]) -> list[str]:
    """The `fit` runs as a Markdown table, each against the dense 1-thread run."""
    dense_s = runs["cpu_1t_dense"]["seconds"]["median"]
    lines = ["| run | path | seconds | epochs | dense 1 thread / this | best val RMSE |",
             "|---|---|---|---|---|---|"]
    for key, run in runs.items():
        lines.append(f"| {key} | {'sparse' if run['sparse'] else 'dense'} | {_fmt(run['seconds'])} "
                     f"| {run['epochs_run']} | {dense_s / run['seconds']['median']:.1f}× | "
                     f"{run['best_val_rmse']:.4f} |")
    return lines


def markdown(report: dict[str, Any]) -> str:
    """The human-readable report."""
    m, st = report["machine"], report["stages"]
    mat, fitr, ap, pipe = st["matrices"], st["fit"], st["as_published"], st["pipeline"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python bench/run.py{' --quick' if report['quick'] else ''}` on "
        f"{m['date']} (commit `{m['commit'] or '?'}`"
        f"{' with uncommitted changes to recsae/ or bench/' if m.get('uncommitted_changes') else ''}"
        f"). **{report['mode']} mode.** Times are "
        "medians with the (min–max, number of runs) spread; every ratio is against a reference "
        "run in the same process. The machine may be shared, so absolute seconds are noisy; the "
        "ratios are the steadier numbers. Nothing here is asserted by the test suite except "
        "the equalities.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"torch CPU capability {m['torch_cpu_capability']}; GPU: {m['cuda'] or 'none'}",
        f"- load average at start: {', '.join(f'{x:.2f}' for x in m['load_average_start'] or [])}"
        f"; at end: {', '.join(f'{x:.2f}' for x in report['load_average_end'] or [])}",
        f"- Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}, pandas {m['pandas']}; "
        f"torch default threads {m['torch_default_threads']}",
        "",
        "## Matrix building (article steps 2–9), u1.base + u1.test, as published",
        "",
        "| implementation | seconds | vectorised is faster by |",
        "|---|---|---|",
        f"| vectorised `build_from_tables` | {_fmt(mat['vectorised_seconds'])} | — |",
        f"| dict-loop reference (`tests/article_reference.py`) | {_fmt(mat['dict_loop_seconds'])} "
        f"| {mat['ratio_vs_dict_loop']:.0f}× |",
        f"| article-style reference (`bench/references.py`) | {mat['article_style_seconds']:.1f}"
        + (f" (extrapolated from {mat['article_style_users_built']} users)"
           if mat["article_style_extrapolated"] else " (1 run)") +
        f" | {mat['ratio_vs_article_style']:.0f}× |",
        "",
        f"Equal matrices: dict loop {mat['equal_to_dict_loop']}, article-style "
        f"{mat['equal_to_article_style']} (asserted). Targets: ≥ 100× and < 0.5 s: **"
        + ("met" if mat["ratio_vs_article_style"] >= 100
           and mat["vectorised_seconds"]["median"] < 0.5 else "not met") + "**.",
        "",
        f"- What dominates the vectorised build: {mat['profile_vectorised']}.",
        f"- The article-style reference: {100 * mat['article_style_lookup_share']:.0f}% is step 7, "
        "one boolean mask over the 3,883-row movie table per rating row (100,000 of them); the "
        "rest is step 8's per-user masks over the whole ratings frame.",
        f"- The dict-loop reference: {mat['profile_dict_loop']}.",
        "",
        f"## Training, 3-layer net (20, 10, 20), matrix {fitr['matrix_shape']}, "
        f"{fitr['epochs']} epochs",
        "",
        "### Corrected trainer (`fit`, Adam, batch 64, val_fraction 0.1, patience=None)",
        "",
        f"{fitr['n_parameters']:,} weights. The dense step does {fitr['train_gflop']:.1f} GFLOP "
        f"of training (6 per weight per row) + {fitr['validation_gflop']:.1f} GFLOP of "
        "validation passes; the sparse CPU step (`recsae.sparse`, the default on the CPU) "
        f"touches only the {fitr['n_nonzero']:,} non-zero inputs "
        f"({fitr['n_nonzero'] / (fitr['matrix_shape'][0] * fitr['matrix_shape'][1]):.1%} of the "
        "matrix) and the scored outputs, on one flat parameter array: one numba call computes a "
        "minibatch's loss and gradients (the backward pass written out, no autograd), another "
        "applies the optimizer (`recsae.flat_optim`, torch's update rules).",
        "",
        *fit_table(fitr["runs"]),
    ]
    best_cpu = min(r["seconds"]["median"] for r in fitr["runs"].values() if r["device"] == "cpu")
    lines += [
        "",
        f"Target: < 3 s on CPU: **{'met' if best_cpu < 3 else 'not met'}** on this machine "
        f"(best CPU run {best_cpu:.2f} s). The two paths compute the same loss and gradients "
        "up to float rounding (`tests/test_sparse.py`); their best validation RMSEs differ in "
        "the last digits for that reason.",
        *sparse_breakdown_lines(fitr),
        f"- What dominates the dense path (torch profiler): {fitr['profile_dense_1t']}; the "
        "64-row matrix products are mostly zeros and too small to reach BLAS speed.",
    ]
    lines.append("- The sparse path's kernels run on one thread whatever torch's thread count "
                 "(`cpu_1t` and `cpu_2t` differ by noise only): a minibatch is too small to "
                 "split, and the second core is free for another process (the test suite runs "
                 "two).")
    lines += [
        "",
        "### As-published dynamics (one user per step, gradients never zeroed), 1 thread",
        "",
        "| implementation | µs per step | epoch of "
        f"{ap['n_steps_per_epoch']} steps (s) | {ap['full_run_epochs']} epochs (s) |",
        "|---|---|---|---|",
        f"| plain autograd + `torch.optim.RMSprop` (`tests/training_reference.py`) | "
        f"{_fmt(ap['reference_us_per_step'])} | "
        f"{ap['reference_us_per_step']['median'] * ap['n_steps_per_epoch'] / 1e6:.2f} | "
        f"{ap['reference_full_run_seconds_extrapolated']:.1f} (extrapolated) |",
        f"| `train_as_published` | {_fmt(ap['fast_us_per_step'])} | "
        f"{ap['fast_us_per_step']['median'] * ap['n_steps_per_epoch'] / 1e6:.2f} | "
        f"{ap['full_run_seconds']:.1f} (1 run) |",
        "",
        f"**{ap['ratio']:.1f}× faster** than the plain loop (target ≥ 5×: "
        f"**{'met' if ap['ratio'] >= 5 else 'not met'}**), interleaved runs of one epoch each.",
        "",
        "Equality with the plain loop from the same initial weights:",
        "",
        "| epochs | weights bitwise equal | max abs weight diff | article metric (fast) | "
        "article metric (reference) | max rel diff of the metric |",
        "|---|---|---|---|---|---|",
    ]
    for e in ap["equality"]:
        lines.append(f"| {e['epochs']} | {e['bitwise_equal']} | {e['max_abs_weight_diff']:.3g} | "
                     f"{e['metric_fast']:.6f} | {e['metric_reference']:.6f} | "
                     f"{e['metric_max_rel_diff']:.2g} |")
    lines += [
        "",
        f"- What dominates a fast step: RMSprop's dense update of all {ap['n_parameters']:,} "
        f"weights takes {ap['rmsprop_update_us']:.0f} µs of the "
        f"{ap['fast_us_per_step']['median']:.0f} µs, {ap['torch_sqrt_us']:.0f} µs of it "
        "`torch.sqrt` (MKL's, which must be kept: NumPy's correctly rounded square root "
        "differs in the last bit and RMSprop amplifies that to 1e-2 within two epochs), the "
        "rest two numba kernels with torch's roundings; the 4 `addmm`, 3 `sigmoid_` and 3 "
        f"`mm` that must stay torch's for the same rounding take {ap['torch_products_us']:.0f} "
        "µs; the rest is the small numba kernels (the output gradient, the rank-1 updates of "
        "the gradient sum) and the Python loop.",
        f"- numba: compiling the as-published kernels takes {ap['numba']['first_compile_s']:.1f} s the "
        f"first time, loading them from its on-disk cache {ap['numba']['cached_compile_s']:.2f} "
        f"s afterwards (plus {ap['numba']['import_s']:.2f} s to import numba).",
        f"- What dominates the plain loop: {ap['profile_reference']}.",
        "",
        "## Peak resident memory (each stage in a fresh process)",
        "",
        "| stage | peak RSS (MiB) | wall (s) |",
        "|---|---|---|",
        f"| imports only (pandas, numpy, `recsae.features`; no torch) | "
        f"{pipe['rss_after_imports_mb']:.0f} | — |",
        f"| data pipeline: load u1 + ML-1M tables, build train/test {pipe['shape']} "
        f"({pipe['nbytes_mb']:.1f} MiB) | {pipe['peak_rss_mb']:.0f} | "
        f"{pipe['load_seconds'] + pipe['build_seconds']:.2f} |",
        f"| `fit` stage (torch, pipeline, all `fit` runs; before profiling) | "
        f"{fitr['peak_rss_training_mb']:.0f} | "
        f"{fitr['stage_seconds']:.1f} |",
        f"| as-published stage (pipeline + both trainers) | {ap['peak_rss_mb']:.0f} | "
        f"{ap['stage_seconds']:.1f} |",
        f"| matrix stage (pipeline + both loop references) | {mat['peak_rss_mb']:.0f} | "
        f"{mat['stage_seconds']:.1f} |",
        "",
        "## Notebook suite",
        "",
    ]
    nb = report["notebooks"]
    if "total_seconds" in nb:
        lines.append(f"Total {nb['total_seconds']:.1f} s ({nb['source']}): "
                     + ", ".join(f"{k} {v:.1f} s" for k, v in nb["per_notebook_seconds"].items())
                     + ".")
    else:
        lines.append(nb["source"] + ".")
    lines += [
        "",
        "## GPU",
        "",
    ]
    lines += gpu_markdown(fitr, report.get("gpu"), m["commit"])
    return "\n".join(lines)


def _package_changed_since(old: str, new: str) -> bool:
    """Whether ``recsae/`` differs between two commits (True when git cannot tell)."""
    if not old or not new or old == new:
        return not old or not new
    result = subprocess.run(["git", "diff", "--quiet", old, new, "--", "recsae"], cwd=ROOT,
                            capture_output=True, check=False)
    return result.returncode != 0


def gpu_markdown(fitr: dict[str, Any], gpu: dict[str, Any] | None,
                 commit: str = "") -> list[str]:
    """The GPU section: a ``cuda`` run of this invocation, else ``benchmarks-gpu.json``
    (``--gpu-only`` on a machine with a GPU, folded in here), else how to get one."""
    if "cuda" in fitr["runs"]:
        return ["`fit` on CUDA is in the table above (`cuda` row).", ""]
    if not gpu:
        return ["No GPU was available to this run; `python bench/run.py --device cuda` adds a "
                "`cuda` row to the `fit` table. Nothing in the project requires one (the "
                "as-published trainer is CPU-only by design: one user per step).", ""]
    m, runs = gpu["machine"], gpu["fit"]["runs"]
    lines = [f"Measured by `python bench/run.py --gpu-only` on another machine ({m['date']}, "
             f"commit `{m['commit'] or '?'}`): {m['cuda']}, CPU {m['cpu']} "
             f"({m['usable_cores']} usable cores), torch {m['torch']}, Python {m['python']}. "
             "Ratios against that machine's own CPU runs of the same invocation."
             + (f" That run measured commit `{m['commit']}`; `recsae/` has changed since, so "
                "its rows may not describe this report's code."
                if _package_changed_since(m["commit"], commit) else ""),
             "",
             *fit_table(runs)]
    cuda_s, cpu_s = runs["cuda"]["seconds"]["median"], runs["cpu_1t"]["seconds"]["median"]
    if cuda_s > cpu_s:
        verdict = (f"- CUDA (the dense step) takes {cuda_s / cpu_s:.1f}× the sparse CPU step's time "
                   "on the same machine: a minibatch is a few dozen tiny kernels (at most 64 × "
                   "1,704), so kernel launches and Python, not arithmetic, set the pace and the "
                   "GPU mostly waits. For this net a GPU does not pay; nothing requires one.")
    else:
        verdict = (f"- CUDA (the dense step) is {cpu_s / cuda_s:.1f}× faster than the sparse CPU "
                   "step on the same machine; nothing requires a GPU.")
    lines += ["", verdict]
    if gpu["fit"].get("profile_cuda"):
        lines.append(f"- What dominates on CUDA (3 epochs, torch profiler): "
                     f"{gpu['fit']['profile_cuda']}.")
    lines.append("")
    return lines


def _load_gpu_report(output: Path) -> dict[str, Any] | None:
    """``benchmarks-gpu.json`` beside the report, if a ``--gpu-only`` run left one there."""
    path = output / "benchmarks-gpu.json"
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: fewer runs, subsets, a few epochs (CI)")
    parser.add_argument("--output", type=Path, default=None,
                        help="folder for benchmarks.md/.json (default: docs/, or "
                             "build/bench-quick/ with --quick)")
    parser.add_argument("--notebooks", action="store_true",
                        help="also execute the notebook suite and time it (minutes)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="extra device for the corrected trainer (auto: CUDA if present)")
    parser.add_argument("--gpu-only", action="store_true",
                        help="only the fit stage with CUDA -> <output>/benchmarks-gpu.json, which "
                             "a later full run in docs/ folds into its report")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--stage-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.stage:  # child process: one stage, result as JSON
        result = run_stage_here(args.stage, args.quick, args.device)
        args.stage_output.write_text(json.dumps(result))
        return 0

    pin_cpu_env()  # the same CPU code paths as the tests and the committed notebooks
    _use_offline_mirror()
    output = args.output or (ROOT / "build" / "bench-quick" if args.quick else ROOT / "docs")
    machine = machine_info()
    if args.gpu_only:
        import torch

        if not torch.cuda.is_available():
            parser.error("--gpu-only needs a CUDA device, and torch sees none here.")
        gpu = {"machine": machine, "fit": run_stage_in_child("fit", args.quick, "cuda")}
        output.mkdir(parents=True, exist_ok=True)
        (output / "benchmarks-gpu.json").write_text(json.dumps(gpu, indent=2) + "\n")
        print(f"[bench] wrote {output / 'benchmarks-gpu.json'}")
        return 0
    stages = {name: run_stage_in_child(name, args.quick, args.device) for name in STAGES}
    report = {
        "mode": "quick" if args.quick else "full", "quick": args.quick, "machine": machine,
        "stages": stages, "notebooks": notebook_timings(args.notebooks),
        "gpu": _load_gpu_report(output),
        "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    report["checks"] = {
        "matrices_equal_dict_loop": stages["matrices"]["equal_to_dict_loop"],
        "matrices_equal_article_style": stages["matrices"]["equal_to_article_style"],
        "as_published_equal_reference": all(e["bitwise_equal"] or e["max_abs_weight_diff"] < 1e-6
                                             for e in stages["as_published"]["equality"]),
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "benchmarks.md").write_text(markdown(report))
    print(f"[bench] wrote {output / 'benchmarks.md'} and {output / 'benchmarks.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
