"""The stacked autoencoder of the article, over one user's row of the user matrix.

A row is ``[n_columns]``: the user's ratings of every movie (0 = not rated), then optional
genre-count and attribute columns (see :mod:`recsae.features`). The network maps the row to
itself through a list of hidden sizes, an activation between layers and a *linear* output
layer, as in the article.

Depths (the article's word "layers" is used loosely; we keep its three names):

* ``3``: hidden ``(20, 10, 20)``, the article's main net (4 ``nn.Linear`` layers).
* ``5``: hidden ``(300, 100, 50, 20, 10, 20, 50, 100, 300)``, the article's "5-layer" net;
  "5" counts the encoder widths (10 ``nn.Linear`` layers).
* ``7``: the article mentions a 7-layer net without giving its sizes. We follow the
  5-layer naming (7 encoder widths, mirrored) and keep its first width (300) and
  bottleneck (10), adding two intermediate widths: ``(300, 200, 100, 50, 30, 20, 10)`` and
  back. Keeping the 300-wide outer layers keeps its cost close to the 5-layer net's,
  which dominates the run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
}

_ENCODERS: dict[int, tuple[int, ...]] = {
    3: (20, 10),
    5: (300, 100, 50, 20, 10),
    7: (300, 200, 100, 50, 30, 20, 10),
}


def article_hidden_sizes(depth: int) -> tuple[int, ...]:
    """Hidden sizes of the article's ``depth``-layer net (3, 5, or our 7), input excluded.

    >>> article_hidden_sizes(3)
    (20, 10, 20)
    """
    if depth not in _ENCODERS:
        raise ValueError(f"depth must be one of {sorted(_ENCODERS)}, not {depth!r}.")
    encoder = _ENCODERS[depth]
    return encoder + encoder[-2::-1]


class StackedAutoencoder(nn.Module):
    """``n_inputs -> hidden[0] -> ... -> hidden[-1] -> n_inputs`` with linear output.

    Args:
        n_inputs: columns of a user row (``n_columns``).
        hidden: hidden layer sizes, e.g. ``(20, 10, 20)``; the encoder ends at the first
            smallest size (the bottleneck), the decoder is the rest.
        activation: name in :data:`ACTIVATIONS`, applied after every hidden layer
            (the article: ``"sigmoid"``).
        dropout: dropout probability after every hidden activation (0: none, as published).

    The model never picks a device: move it with ``.to(device)`` where the data lives.
    """

    def __init__(self, n_inputs: int, hidden: Sequence[int] = (20, 10, 20),
                 activation: str = "sigmoid", dropout: float = 0.0) -> None:
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if n_inputs < 1 or not hidden or min(hidden) < 1:
            raise ValueError(f"need n_inputs >= 1 and positive hidden sizes, got "
                             f"{n_inputs} and {hidden}.")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {dropout}.")
        self.n_inputs = int(n_inputs)
        self.hidden = hidden
        self.activation_name = activation
        self.dropout_p = float(dropout)
        sizes = (self.n_inputs, *hidden, self.n_inputs)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:],
                                                                     strict=True))
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # Layers [0, n_encoder) end at the bottleneck; the rest decode.
        self.n_encoder = hidden.index(min(hidden)) + 1

    def _hidden_layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.layers[i](x)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """User rows ``[batch, n_inputs]`` -> codes ``[batch, min(hidden)]``."""
        for i in range(self.n_encoder):
            x = self._hidden_layer(i, x)
        return x

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """Codes ``[batch, min(hidden)]`` -> reconstructed rows ``[batch, n_inputs]``."""
        last = len(self.layers) - 1
        for i in range(self.n_encoder, last):
            code = self._hidden_layer(i, code)
        return self.layers[last](code)  # linear output: ratings are not squashed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows ``[batch, n_inputs]`` -> reconstructions ``[batch, n_inputs]``."""
        return self.decode(self.encode(x))

    def config(self) -> dict[str, object]:
        """The constructor arguments as plain values (for checkpoints)."""
        return {"n_inputs": self.n_inputs, "hidden": list(self.hidden),
                "activation": self.activation_name, "dropout": self.dropout_p}

    @classmethod
    def from_config(cls, config: dict[str, object]) -> StackedAutoencoder:
        """Rebuild an (untrained) model from :meth:`config`'s output."""
        return cls(n_inputs=int(config["n_inputs"]), hidden=tuple(config["hidden"]),
                   activation=str(config["activation"]), dropout=float(config["dropout"]))

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
