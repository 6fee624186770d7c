"""recsae.distributed: the corrected trainer under DDP equals the single-process trainer.

One process under DDP is :func:`recsae.training.train_epoch` bit for bit; two processes on
the CPU (gloo, launched by torchrun) follow the single-process trajectory of the same global
batches to float rounding. SGD with momentum is the optimizer of the two-process check, since
Adam would hide a gradient that is off by a constant factor (e.g. a wrong normalisation).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from recsae import distributed, training
from recsae.model import StackedAutoencoder
from recsae.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
N_USERS, N_ITEMS, N_FEATURES = 129, 60, 2  # batch 32: the last global batch has one user
LAUNCHER_TIMEOUT_S = 300  # three torch imports on a busy two-core machine


@pytest.fixture
def single_process(monkeypatch: pytest.MonkeyPatch):
    """A process group of one (gloo), as ``python -m recsae.distributed`` forms it."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with distributed.process_group("cpu") as proc:
        yield proc
    assert not torch.distributed.is_initialized()


def _matrix() -> np.ndarray:
    return distributed.synthetic_matrix(N_USERS, N_ITEMS, N_FEATURES)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def test_rank_rows_split_each_global_batch_into_contiguous_slices():
    rows = torch.arange(10)
    parts = [distributed.rank_rows(rows, r, 3) for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    one = [distributed.rank_rows(rows[:1], r, 2) for r in range(2)]
    assert [p.tolist() for p in one] == [[0], []]  # fewer users than processes


def test_each_process_takes_the_gpu_of_its_local_rank(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.process_device(None) == torch.device("cuda", 3)
    assert distributed.process_device("cuda") == torch.device("cuda", 3)
    assert distributed.process_device("cuda:1") == torch.device("cuda", 1)
    assert distributed.process_device("cpu") == torch.device("cpu")


def test_one_process_epoch_is_the_plain_train_epoch_bit_for_bit(single_process):
    matrix = torch.from_numpy(_matrix())
    observed = training.observed_ratings_mask(matrix, N_ITEMS)
    config = training.TrainConfig(hidden=(8, 4, 8), batch_size=32, lr=1e-2)
    models = []
    for _ in range(2):
        seed_everything(5)
        models.append(StackedAutoencoder(matrix.shape[1], config.hidden))
    plain, ddp = models[0], torch.nn.parallel.DistributedDataParallel(models[1])
    plain_opt = training.build_optimizer(plain.parameters(), config)
    ddp_opt = training.build_optimizer(ddp.parameters(), config)
    generator = torch.Generator().manual_seed(7)
    for _ in range(3):
        order = torch.randperm(N_USERS, generator=generator)
        expected = training.train_epoch(plain, matrix, observed, plain_opt, order, 32)
        got = distributed.train_epoch(ddp, matrix, observed, ddp_opt, order, 32)
        assert got == expected
    for name, value in _weights(plain).items():
        assert torch.equal(_weights(models[1])[name], value), name


def test_one_process_fit_is_fit_sparse_false(single_process):
    matrix = _matrix()
    config = training.TrainConfig(hidden=(8, 4, 8), epochs=4, batch_size=32, patience=None,
                                  seed=2)
    got = distributed.fit_distributed(matrix, N_ITEMS, config, single_process.device)
    expected = training.fit(matrix, N_ITEMS, config, device="cpu", sparse=False)
    columns = ["epoch", "train_rmse", "val_rmse", "lr"]
    assert got.history[columns].equals(expected.history[columns])
    assert got.best_epoch == expected.best_epoch
    for name, value in _weights(expected.model).items():
        assert torch.equal(_weights(got.model)[name], value), name


def _torchrun(args: list[str], tmp_path: Path) -> str:
    """Run ``torchrun --standalone --nproc_per_node=2 -m recsae.distributed ARGS``; its stdout.

    ``--standalone`` rendezvouses on a free local port. The launcher gets its own session,
    so a hung run is ended with its workers, not left behind.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}}
    env.update(OMP_NUM_THREADS="1", TQDM_DISABLE="1", CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "recsae.distributed", *args]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=LAUNCHER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun did not finish in {LAUNCHER_TIMEOUT_S} s:\n{out}\n{err[-3000:]}")
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{out}\n{err[-3000:]}"
    return out


def test_two_processes_follow_the_one_process_trajectory(tmp_path):
    config = training.TrainConfig(hidden=(8, 4, 8), epochs=4, batch_size=32, optimizer="sgd",
                                  lr=0.05, momentum=0.9, weight_decay=1e-3, patience=None,
                                  seed=3)
    saved = tmp_path / "two.pt"
    out = _torchrun(["--synthetic", f"{N_USERS}x{N_ITEMS}+{N_FEATURES}", "--hidden", "8,4,8",
                     "--epochs", "4", "--batch-size", "32", "--optimizer", "sgd", "--lr", "0.05",
                     "--momentum", "0.9", "--weight-decay", "1e-3", "--seed", "3",
                     "--threads", "1", "--save", str(saved)], tmp_path)
    assert out.startswith("2 process(es), gloo on cpu")
    assert sum(line.startswith("epoch ") for line in out.splitlines()) == 4  # rank 0 only

    two = torch.load(saved, weights_only=True)
    one = training.fit(_matrix(), N_ITEMS, config, device="cpu", sparse=False)
    for column in ("train_rmse", "val_rmse"):
        np.testing.assert_allclose(two["history"][column], one.history[column], rtol=1e-5)
    assert two["history"]["train_rmse"][0] > two["history"]["train_rmse"][-1]  # it learned
    assert two["best_epoch"] == one.best_epoch
    for name, value in _weights(one.model).items():
        torch.testing.assert_close(two["state_dict"][name], value, rtol=1e-5, atol=1e-6)
