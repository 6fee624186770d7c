"""The article's loop: the plain PyTorch version (recsae.article.article_loop) and its fast
twin (train_as_published), equal bit for bit, and the numba kernels that make it fast."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

# The helpers and fixtures of the trainer tests: one torch thread, u1 as matrices, a
# synthetic rank-2 matrix.
from test_training import _one_thread, synthetic_ratings, u1  # noqa: F401

from recsae._fast import kernels
from recsae._fast.as_published import _FlatSigmoidMLP
from recsae.article import article_loop, train_as_published
from recsae.model import StackedAutoencoder


def _autograd_article_gradient(model: StackedAutoencoder, row: torch.Tensor,
                               n: int) -> list[torch.Tensor]:
    """The article's per-user loss gradient at ``model``'s current weights."""
    model.zero_grad()
    x = row.unsqueeze(0)
    out = model(x)
    out_ratings = out[:, :n]
    out[x == 0] = 0
    torch.nn.functional.mse_loss(out_ratings, x[:, :n]).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_reference_loop_accumulates_gradients():
    """After two users, .grad is the sum of both per-user gradients (never zeroed)."""
    train = torch.from_numpy(synthetic_ratings(n_users=2))
    torch.manual_seed(0)
    start = StackedAutoencoder(30, (6, 3, 6))
    model = copy.deepcopy(start)
    article_loop(model, train.numpy(), 30, epochs=1)  # two steps

    g1 = _autograd_article_gradient(copy.deepcopy(start), train[0], 30)
    after_one = copy.deepcopy(start)
    article_loop(after_one, train[:1].numpy(), 30, epochs=1)
    g2 = _autograd_article_gradient(after_one, train[1], 30)
    for p, a, b in zip(model.parameters(), g1, g2, strict=True):
        torch.testing.assert_close(p.grad, a + b)


def test_fast_trainer_steps_with_the_accumulated_gradient():
    """Two users, one epoch: the weights equal RMSprop fed g1, then g1 + g2."""
    train = torch.from_numpy(synthetic_ratings(n_users=2))
    torch.manual_seed(0)
    model = StackedAutoencoder(30, (6, 3, 6))
    manual = copy.deepcopy(model)
    fast = copy.deepcopy(model)
    train_as_published(fast, train.numpy(), 30, epochs=1)

    optimizer = torch.optim.RMSprop(manual.parameters(), lr=0.01, weight_decay=0.5)
    g1 = _autograd_article_gradient(manual, train[0], 30)
    for p, g in zip(manual.parameters(), g1, strict=True):
        p.grad = g.clone()
    optimizer.step()
    g2 = _autograd_article_gradient(manual, train[1], 30)
    for p, a, b in zip(manual.parameters(), g1, g2, strict=True):
        p.grad = a + b
    optimizer.step()
    for p, q in zip(fast.parameters(), manual.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)

    # Zeroing the gradient (what a correct loop does) would give other weights.
    zeroed = copy.deepcopy(model)
    optimizer = torch.optim.RMSprop(zeroed.parameters(), lr=0.01, weight_decay=0.5)
    for row in train:
        grads = _autograd_article_gradient(zeroed, row, 30)
        for p, g in zip(zeroed.parameters(), grads, strict=True):
            p.grad = g
        optimizer.step()
    assert not torch.allclose(zeroed.layers[0].weight, fast.layers[0].weight, atol=1e-4)


def test_fast_trainer_equals_reference_on_synthetic_data_with_features():
    train = synthetic_ratings(n_users=25)
    extra = np.random.default_rng(1).integers(0, 4, size=(25, 5)).astype(np.float32)
    train = np.concatenate([train, extra], axis=1)  # genre-count-like columns
    train[3] = 0.0  # a user with an empty row is skipped by both
    torch.manual_seed(0)
    model = StackedAutoencoder(35, (10, 5, 10))
    reference = copy.deepcopy(model)
    history = train_as_published(model, train, 30, epochs=3)
    expected = article_loop(reference, train, 30, epochs=3)
    np.testing.assert_allclose(history["article_train_metric"], expected, rtol=1e-6)
    assert (history["n_users"] == 24).all()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_fast_trainer_equals_reference_on_ml100k(u1):
    """Two epochs on u1.base (1,886 steps): same weights as the plain autograd loop."""
    train = u1[0]
    torch.manual_seed(0)
    model = StackedAutoencoder(1682, (20, 10, 20))
    reference = copy.deepcopy(model)
    history = train_as_published(model, train, 1682, epochs=2)
    expected = article_loop(reference, train, 1682, epochs=2)
    np.testing.assert_allclose(history["article_train_metric"], expected, rtol=1e-6)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        # Bitwise equal on one machine; any real divergence would show at ~1e-2, since
        # RMSprop's sign-like steps amplify rounding differences.
        assert torch.equal(p, q)


@pytest.mark.parametrize(("lr", "weight_decay"), [(0.01, 0.5), (0.02, 0.3), (0.01, 0.0)])
def test_fast_trainer_is_bitwise_equal_to_reference(lr, weight_decay):
    """Same machine, same initial weights: the very same bits, also for a weight decay
    whose product is inexact (0.3: torch fuses it into an fma) and for none."""
    train = synthetic_ratings(n_users=30, n_items=40)
    train = np.concatenate([train, np.eye(30, 6, dtype=np.float32) * 2], axis=1)
    torch.manual_seed(1)
    model = StackedAutoencoder(46, (12, 5, 3, 5, 12))
    reference = copy.deepcopy(model)
    history = train_as_published(model, train, 40, epochs=4, lr=lr, weight_decay=weight_decay)
    expected = article_loop(reference, train, 40, epochs=4, lr=lr,
                                            weight_decay=weight_decay)
    np.testing.assert_allclose(history["article_train_metric"], expected, rtol=1e-6)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)


def _random_like(rng: np.random.Generator, shape: tuple[int, ...], low: float,
                 high: float) -> torch.Tensor:
    """Random signs, magnitudes log-uniform in [10**low, 10**high], some exact zeros."""
    x = rng.choice([-1.0, 1.0], shape) * 10.0 ** rng.uniform(low, high, shape)
    x[rng.random(shape) < 0.01] = 0.0
    return torch.from_numpy(x.astype(np.float32))


@pytest.mark.parametrize("weight_decay", [0.5, 0.3, 0.0])
def test_rmsprop_kernels_round_like_torch_optim(weight_decay):
    """The numba RMSprop update equals torch.optim.RMSprop bit for bit on ~600k random
    gradients (its fused multiply-adds, division and float32 constants included)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = StackedAutoencoder(2000, (50,))
    net = _FlatSigmoidMLP(model, 2000, lr=0.01, weight_decay=weight_decay)
    params = list(model.parameters())
    optimizer = torch.optim.RMSprop(params, lr=0.01, weight_decay=weight_decay)
    views, grad_views = net.views(net.flat), net.views(net.grad)
    for _ in range(3):
        for p, g in zip(params, grad_views, strict=True):
            p.grad = _random_like(rng, tuple(p.shape), -7, 0)
            g.copy_(p.grad)
        optimizer.step()
        net.rmsprop_update()
    for p, v in zip(params, views, strict=True):
        assert torch.equal(p.detach(), v)


def test_sigmoid_backward_kernel_rounds_like_torch():
    """kernels.hidden_layer's d loss / d pre-activation is aten.sigmoid_backward's, bit
    for bit, and its bias gradient is added to the running sum."""
    rng = np.random.default_rng(1)
    n = 300_000  # hidden units of layer 1, fed by a single unit (activation 1)
    dh = _random_like(rng, (n,), -9, 1).numpy()
    y = torch.sigmoid(_random_like(rng, (n,), -3, 1.3)).numpy()
    layout = np.zeros((2, 6), dtype=np.int64)
    layout[0] = [0, 0, 1, 1, 0, 16]  # layer 0: activation at work[0]
    layout[1] = [0, n, n, 1, 32, 32 + n]  # layer 1: W [n, 1] at 0, bias after it
    work = np.zeros(32 + 2 * n, dtype=np.float32)
    work[0], work[32:32 + n], work[32 + n:] = 1.0, y, dh
    state = np.zeros((4, 2 * n), dtype=np.float32)
    kernels.hidden_layer(state, work, layout, 1)
    expected = torch.ops.aten.sigmoid_backward(torch.from_numpy(dh), torch.from_numpy(y))
    np.testing.assert_array_equal(work[32 + n:], expected.numpy())
    np.testing.assert_array_equal(state[kernels.GRAD, n:], expected.numpy())  # bias: 0 + dz
    np.testing.assert_array_equal(state[kernels.GRAD, :n], expected.numpy())  # W: dz * 1


def test_as_published_rejects_what_it_cannot_reproduce():
    train = synthetic_ratings()
    with pytest.raises(ValueError, match="sigmoid"):
        train_as_published(StackedAutoencoder(30, (4,), activation="relu"), train, 30)
    with pytest.raises(ValueError, match="columns"):
        train_as_published(StackedAutoencoder(31, (4,)), train, 30)
    with pytest.raises(ValueError, match="nothing to train"):
        train_as_published(StackedAutoencoder(30, (4,)), np.zeros((3, 30)), 30)


def test_article_train_metric_by_hand_for_one_step():
    """One user, one epoch: the printed number is sqrt(MSE * n / positives)."""
    row = np.zeros((1, 4), dtype=np.float32)
    row[0, :2] = [4.0, 2.0]
    row[0, 3] = 1.0  # a positive feature column counts in the denominator
    torch.manual_seed(0)
    model = StackedAutoencoder(4, (2,))
    before = copy.deepcopy(model)
    history = train_as_published(model, row, 3, epochs=1)
    out = before(torch.from_numpy(row)).detach().numpy()[0]
    mse = ((out[0] - 4.0) ** 2 + (out[1] - 2.0) ** 2) / 3
    assert history["article_train_metric"].iloc[0] == pytest.approx(math.sqrt(mse * 3 / 3))


# ------------------------------------------------------------------ runtime helpers


