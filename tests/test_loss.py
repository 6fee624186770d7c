"""The masked loss (recsae.loss): entries outside the mask never count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsae.loss import masked_sse


def test_masked_sse_counts_observed_entries_only():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[2.0, 0.0], [1.0, 4.0]])
    mask = torch.tensor([[True, False], [True, True]])
    sse, n = masked_sse(pred, target, mask)
    assert sse.item() == pytest.approx(1.0 + 4.0 + 0.0)
    assert n.item() == 3



def test_masked_sse_by_hand():
    pred = torch.tensor([[1.0, 2.0], [3.0, 7.0]])
    target = torch.tensor([[2.0, 0.0], [5.0, 4.0]])
    mask = torch.tensor([[True, False], [True, False]])
    sse, count = masked_sse(pred, target, mask)
    assert sse.item() == pytest.approx(1.0 + 4.0) and count.item() == 2


def test_masked_sse_ignores_whatever_unobserved_entries_hold():
    """Random values (inf and NaN excepted) in unobserved entries change neither the sum
    nor the count, for bool and 0/1 float masks alike."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        pred = torch.from_numpy(rng.normal(3, 2, (5, 7)).astype(np.float32))
        target = torch.from_numpy(rng.integers(1, 6, (5, 7)).astype(np.float32))
        mask = torch.from_numpy(rng.random((5, 7)) < 0.4)
        noisy = torch.where(mask, pred, torch.from_numpy(rng.normal(0, 1e6, (5, 7)).astype(np.float32)))
        for m in (mask, mask.float()):
            sse, n = masked_sse(noisy, target, m)
            expected = float(((pred - target)[mask] ** 2).sum())
            assert sse.item() == pytest.approx(expected, rel=1e-6)
            assert n.item() == int(mask.sum())
