"""The stacked autoencoder: sizes, shapes, and that it can learn."""

from __future__ import annotations

import pytest
import torch

from recsae.model import StackedAutoencoder, article_hidden_sizes
from recsae.runtime import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    # Small tensors: worker threads only add waiting, badly so on a busy 2-core machine.
    with torch_threads(1):
        yield


def test_article_hidden_sizes():
    assert article_hidden_sizes(3) == (20, 10, 20)
    assert article_hidden_sizes(5) == (300, 100, 50, 20, 10, 20, 50, 100, 300)
    seven = article_hidden_sizes(7)
    assert seven[:7] == (300, 200, 100, 50, 30, 20, 10) and seven[7:] == seven[5::-1]
    with pytest.raises(ValueError, match="depth"):
        article_hidden_sizes(4)


def test_layers_shapes_and_parameter_count():
    model = StackedAutoencoder(30, (20, 10, 20))
    assert [tuple(layer.weight.shape) for layer in model.layers] == [
        (20, 30), (10, 20), (20, 10), (30, 20)]
    assert model.n_parameters() == 30 * 20 + 20 + 20 * 10 + 10 + 10 * 20 + 20 + 20 * 30 + 30
    x = torch.rand(4, 30)
    code = model.encode(x)
    assert code.shape == (4, 10)
    assert model.decode(code).shape == (4, 30)
    assert torch.equal(model(x), model.decode(code))


def test_forward_matches_the_article_formula():
    """sigmoid between layers, linear output (negative and > 1 values are reachable)."""
    torch.manual_seed(0)
    model = StackedAutoencoder(5, (3, 2, 3))
    x = torch.rand(2, 5)
    h = x
    for layer in model.layers[:-1]:
        h = torch.sigmoid(h @ layer.weight.T + layer.bias)
    expected = h @ model.layers[-1].weight.T + model.layers[-1].bias
    torch.testing.assert_close(model(x), expected)


def test_config_round_trip_and_validation():
    model = StackedAutoencoder(12, (6, 3, 6), activation="relu", dropout=0.2)
    clone = StackedAutoencoder.from_config(model.config())
    assert clone.config() == model.config()
    for bad in ({"hidden": ()}, {"activation": "swish"}, {"dropout": 1.0}):
        with pytest.raises(ValueError):
            StackedAutoencoder(12, **{"hidden": (4,), **bad})


def test_model_stays_on_cpu_until_moved():
    model = StackedAutoencoder(8, (4,))
    assert {p.device.type for p in model.parameters()} == {"cpu"}


def test_loss_falls_on_a_small_synthetic_problem():
    """Rank-2 'ratings' of 64 users x 24 items: reconstruction error must drop a lot."""
    g = torch.Generator().manual_seed(0)
    users, items = torch.rand(64, 2, generator=g), torch.rand(2, 24, generator=g)
    x = 1 + 4 * (users @ items) / 2
    torch.manual_seed(0)
    model = StackedAutoencoder(24, (8, 4, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.mean((model(x) - x) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
