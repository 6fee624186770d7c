"""torch.optim's update rules on one flat float32 parameter array, as numba kernels.

The sparse CPU trainer (:mod:`recsae._fast.sparse`) keeps every parameter in one array. A
``torch.optim`` step over it still pays torch's dispatch and Python per tensor (plus
zeroing the gradients); one loop over the array costs a fraction of that
(``docs/benchmarks.md`` measures it). The rules are torch's (defaults included: Adam's betas (0.9, 0.999) and
eps 1e-8, RMSprop's alpha 0.99 and eps 1e-8, SGD without dampening or Nesterov), in
float32 with each operation rounded; they agree with ``torch.optim`` to float rounding,
which ``tests/test_flat_optim.py`` checks step by step. No ``fastmath``: the same numbers
on every CPU.
"""

from __future__ import annotations

import math

import numpy as np

from recsae._fast.kernels import jit_kernel

RMSPROP_ALPHA = 0.99  # torch.optim.RMSprop's defaults, which the article keeps
RMSPROP_EPS = 1e-8

ADAM_BETAS = (0.9, 0.999)  # torch's defaults
ADAM_EPS = 1e-8


class FlatOptimizer:
    """One of ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"sgd"`` over a flat array of
    ``size`` parameters; its state (moments, momentum buffer) lives here.

    Args:
        weight_decay: the L2 penalty added to the gradient (``adamw``: decoupled, the
            weights shrink by ``lr * weight_decay`` each step), as in torch.
        momentum: for ``sgd`` and ``rmsprop``.
    """

    def __init__(self, name: str, size: int, weight_decay: float = 0.0,
                 momentum: float = 0.0) -> None:
        if name not in ("adam", "adamw", "rmsprop", "sgd"):
            raise ValueError(f"no flat optimizer {name!r}; use adam, adamw, rmsprop or sgd.")
        self.name, self.weight_decay, self.momentum = name, float(weight_decay), float(momentum)
        self.steps = 0
        self.first = np.zeros(size, dtype=np.float32)   # Adam: exp_avg; SGD, RMSprop: momentum
        self.second = np.zeros(size, dtype=np.float32)  # Adam: exp_avg_sq; RMSprop: square_avg

    def step(self, param: np.ndarray, grad: np.ndarray, lr: float) -> None:
        """One update of ``param`` in place from ``grad`` (both float32 ``[size]``)."""
        self.steps += 1
        f32, wd = np.float32, self.weight_decay
        if self.name in ("adam", "adamw"):
            beta1, beta2 = ADAM_BETAS
            step_size = lr / (1.0 - beta1 ** self.steps)
            bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** self.steps)
            decoupled = self.name == "adamw"
            _adam(param, grad, self.first, self.second, f32(1.0 - beta1), f32(beta2),
                  f32(1.0 - beta2), f32(-step_size), f32(bias_correction2_sqrt), f32(ADAM_EPS),
                  f32(0.0 if decoupled else wd), f32(1.0 - lr * wd if decoupled else 1.0))
        elif self.name == "rmsprop":
            _rmsprop(param, grad, self.second, self.first, f32(RMSPROP_ALPHA),
                     f32(1.0 - RMSPROP_ALPHA), f32(RMSPROP_EPS), f32(-lr), f32(wd),
                     f32(self.momentum))
        else:
            _sgd(param, grad, self.first, f32(-lr), f32(wd), f32(self.momentum))


@jit_kernel
def _adam(param, grad, exp_avg, exp_avg_sq, one_minus_beta1, beta2, one_minus_beta2,
          neg_step_size, bias_correction2_sqrt, eps, wd, shrink):  # pragma: no cover
    """torch's Adam (``wd`` coupled) and AdamW (``shrink = 1 - lr * wd``), one element at
    a time: ``param -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``."""
    for i in range(param.size):
        p = param[i] * shrink
        g = grad[i] + wd * p
        m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])  # lerp(m, g, 1 - beta1)
        v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g
        exp_avg[i], exp_avg_sq[i] = m, v
        param[i] = p + neg_step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))


@jit_kernel
def _rmsprop(param, grad, square_avg, momentum_buffer, alpha, one_minus_alpha, eps,
             neg_lr, wd, momentum):  # pragma: no cover - compiled
    """torch's RMSprop (not centered): ``param -= lr * g / (sqrt(square_avg) + eps)``, or
    through a momentum buffer of that ratio."""
    for i in range(param.size):
        p = param[i]
        g = grad[i] + wd * p
        s = square_avg[i] * alpha + one_minus_alpha * g * g
        square_avg[i] = s
        ratio = g / (np.sqrt(s) + eps)
        if momentum > 0:
            ratio = momentum_buffer[i] * momentum + ratio
            momentum_buffer[i] = ratio
        param[i] = p + neg_lr * ratio


@jit_kernel
def _sgd(param, grad, momentum_buffer, neg_lr, wd, momentum):  # pragma: no cover
    """torch's SGD: ``param -= lr * g``, ``g`` through a momentum buffer when ``momentum``
    > 0 (torch starts the buffer at the first gradient: the same as from 0, exactly)."""
    for i in range(param.size):
        p = param[i]
        g = grad[i] + wd * p
        if momentum > 0:
            g = momentum_buffer[i] * momentum + g
            momentum_buffer[i] = g
        param[i] = p + neg_lr * g
