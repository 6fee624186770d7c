"""The flat optimizers follow torch.optim's update rules step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsae._fast.flat_optim import FlatOptimizer
from recsae.training import TrainConfig, learning_rate

TORCH_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                    "rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD}


@pytest.mark.parametrize(("name", "weight_decay", "momentum"), [
    ("adam", 0.0, 0.0), ("adam", 0.1, 0.0), ("adamw", 0.3, 0.0),
    ("rmsprop", 0.0, 0.0), ("rmsprop", 0.5, 0.9), ("sgd", 0.0, 0.0), ("sgd", 0.1, 0.9),
])
def test_steps_follow_torch_optim(name, weight_decay, momentum):
    rng = np.random.default_rng(0)
    start = rng.normal(size=500).astype(np.float32)
    # Ordinary gradients, gradients near eps's scale, and exact zeros (where eps and the
    # bias corrections decide the step).
    scales = np.array([1.0, 1e-9, 1.0, 1e-7, 0.0, 1.0], dtype=np.float32)[:, None]
    grads = (rng.normal(size=(6, 500)) * scales).astype(np.float32)
    grads[:, :50] = 0.0
    lrs = [0.01, 0.01, 0.005, 0.02, 0.01, 0.001]  # a schedule changes lr between steps
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    kwargs = {"lr": lrs[0], "weight_decay": weight_decay}
    if name in ("rmsprop", "sgd"):
        kwargs["momentum"] = momentum
    # The dense path's own choice (fused where torch has one), see training.build_optimizer.
    kwargs["foreach" if name == "rmsprop" else "fused"] = True
    reference = TORCH_OPTIMIZERS[name]([param], **kwargs)
    flat, theta = FlatOptimizer(name, 500, weight_decay, momentum), start.copy()
    for grad, lr in zip(grads, lrs, strict=True):
        reference.param_groups[0]["lr"] = lr
        param.grad = torch.from_numpy(grad.copy())
        reference.step()
        flat.step(theta, grad.copy(), lr)
        torch.testing.assert_close(torch.from_numpy(theta), param.detach(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(theta, start, atol=1e-4)  # the steps moved the weights


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="adam, adamw, rmsprop or sgd"):
        FlatOptimizer("adagrad", 3)


def test_cosine_learning_rate_follows_torch_scheduler():
    config = TrainConfig(lr=0.02, epochs=7, schedule="cosine")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    for epoch in range(1, config.epochs + 1):
        assert learning_rate(config, epoch) == pytest.approx(optimizer.param_groups[0]["lr"],
                                                             rel=1e-12, abs=1e-15)
        optimizer.step()
        scheduler.step()
    assert learning_rate(TrainConfig(lr=0.02, schedule="constant"), 5) == 0.02
