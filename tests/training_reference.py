"""REFERENCE ONLY: the article's training loop written plainly (autograd + torch.optim).

Not part of the package. It exists so that tests (and ``bench/``) can check that
:func:`recsae.training.train_as_published` gives the same weights and numbers as the
straightforward per-user loop, and measure how much faster it is.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recsae.models import StackedAutoencoder


def train_as_published_reference(model: StackedAutoencoder, train: np.ndarray,
                                 n_rating_columns: int, epochs: int = 200, lr: float = 0.01,
                                 weight_decay: float = 0.5) -> list[float]:
    """The article's loop over users in id order, ``zero_grad`` never called.

    Args:
        model: trained in place.
        train: ``[n_users, n_columns]``.

    Returns:
        The article's printed training loss, one value per epoch.
    """
    training_set = torch.as_tensor(np.asarray(train, dtype=np.float32))
    criterion = nn.MSELoss()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = n_rating_columns
    history = []
    for _ in range(epochs):
        train_loss, s = 0.0, 0.0
        for id_user in range(training_set.shape[0]):
            inputs = training_set[id_user].unsqueeze(0)
            target = inputs.clone()
            target_ratings = target[:, :n]
            if torch.sum(target > 0) > 0:
                output = model(inputs)
                output_ratings = output[:, :n]  # a view: the masking below reaches it
                output[target == 0] = 0
                loss = criterion(output_ratings, target_ratings)
                mean_corrector = n / float(torch.sum(target > 0) + 1e-10)
                loss.backward()  # no optimizer.zero_grad(): gradients accumulate
                train_loss += float(np.sqrt(loss.item() * mean_corrector))
                s += 1.0
                optimizer.step()
        history.append(train_loss / s)
    return history
