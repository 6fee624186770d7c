"""The measurement stages: each measures one thing and returns a JSON-able dict.

``run.py`` runs each stage in a fresh interpreter (``--stage NAME``), so that its peak
resident memory is its own, and adds the stage's wall time and peak RSS to its dict.
Every time is compared with a reference run *in the same process*, interleaved where
possible. Torch and the package are imported inside the stages, after ``run.py`` has
pinned the CPU environment; the loop references (``tests/article_reference.py``,
``bench/references.py``) are found on the ``sys.path`` that ``run.py`` sets.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

from measure import (
    N_RATING_COLUMNS,
    numba_compile_seconds,
    peak_rss_mb,
    python_profile,
    spread,
    timed,
    torch_profile,
)

STAGES = ("pipeline", "matrices", "fit", "as_published")


def _load_inputs() -> dict[str, Any]:
    """u1.base, u1.test and the article's ML-1M side tables, through recsae.data."""
    from recsae import data, features

    train, test = data.load_split(1)
    return {"train": train, "test": test, "tables": features.load_feature_tables("as_published"),
            "movies_1m": data.load_movies("ml-1m"), "users_1m": data.load_users("ml-1m")}


def stage_pipeline(quick: bool, device: str) -> dict[str, Any]:
    """The data pipeline alone: load the files, build the article's matrices (peak RSS)."""
    import numpy as np

    from recsae import user_matrix

    rss_imported = peak_rss_mb()
    load_s, inputs = timed(_load_inputs)
    build_s, mats = timed(lambda: user_matrix.build_from_tables(inputs["train"], inputs["test"],
                                                                inputs["tables"]))
    return {"load_seconds": load_s, "build_seconds": build_s,
            "shape": list(mats.train.shape), "nbytes_mb": 2 * mats.train.nbytes / 2**20,
            "rss_after_imports_mb": rss_imported, "checksum": float(np.sum(mats.train))}


def stage_matrices(quick: bool, device: str) -> dict[str, Any]:
    """Vectorised builder vs the dict-loop and the article-style references (u1 both files)."""
    import numpy as np
    from article_reference import build_matrix_loop
    from references import article_style_rows

    from recsae import user_matrix

    inputs = _load_inputs()
    train, test, tables = inputs["train"], inputs["test"], inputs["tables"]

    def vectorised() -> user_matrix.UserMatrices:
        return user_matrix.build_from_tables(train, test, tables)

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
    from recsae import user_matrix

    inputs = _load_inputs()
    return user_matrix.build_from_tables(inputs["train"], inputs["test"], inputs["tables"]).train


def stage_fit(quick: bool, device: str) -> dict[str, Any]:
    """The corrected trainer (`fit`), 3-layer net, all epochs (no early stop): the sparse
    CPU path at 1 and 2 threads, the dense path (its reference) at 1 thread, and CUDA."""
    import torch

    from recsae.model import StackedAutoencoder
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

    from recsae._fast.sparse_trainer import SparseTrainer
    from recsae.model import StackedAutoencoder
    from recsae.runtime import torch_threads
    from recsae.splits import holdout_per_user

    fit_input, val_target = holdout_per_user(train, N_RATING_COLUMNS, config.val_fraction,
                                             config.seed)
    rows, cols = (a.astype(np.int64) for a in np.nonzero(val_target))
    torch.manual_seed(config.seed)
    model = StackedAutoencoder(train.shape[1], config.hidden, config.activation)
    trainer = SparseTrainer(model, fit_input, N_RATING_COLUMNS, (rows, cols), config)
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


def stage_as_published(quick: bool, device: str) -> dict[str, Any]:
    """The fast as-published trainer vs the plain per-user autograd loop, one thread each."""
    import numpy as np
    import torch

    from recsae._fast.as_published import _as_published_users, _FlatSigmoidMLP
    from recsae.article import (
        ARTICLE_EPOCHS,
        ARTICLE_LR,
        ARTICLE_WEIGHT_DECAY,
        article_loop,
        train_as_published,
    )
    from recsae.model import StackedAutoencoder
    from recsae.runtime import torch_threads

    train = _training_matrix()
    torch.manual_seed(0)
    start_model = StackedAutoencoder(train.shape[1], (20, 10, 20))
    n_steps = int((train > 0).any(axis=1).sum())  # users with an entry > 0 get a step

    def fast(epochs: int) -> tuple[StackedAutoencoder, list[float]]:
        model = copy.deepcopy(start_model)
        history = train_as_published(model, train, N_RATING_COLUMNS, epochs=epochs, threads=1)
        return model, history["article_train_metric"].tolist()

    def reference(epochs: int) -> tuple[StackedAutoencoder, list[float]]:
        model = copy.deepcopy(start_model)
        with torch_threads(1):
            metric = article_loop(model, train, N_RATING_COLUMNS, epochs=epochs)
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
    net = _FlatSigmoidMLP(copy.deepcopy(start_model), N_RATING_COLUMNS, ARTICLE_LR,
                          ARTICLE_WEIGHT_DECAY)
    users = _as_published_users(torch.from_numpy(np.ascontiguousarray(
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
    full_epochs = 3 if quick else ARTICLE_EPOCHS
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
