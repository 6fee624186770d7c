"""The article's training loop, written plainly in PyTorch, and its fast twin.

:func:`article_loop` is the loop the article describes, in a few readable lines of
autograd and ``torch.optim``, each quirk kept and marked where it happens.
:func:`train_as_published` computes exactly the same thing (bit for bit: the test suite
compares the weights with ``torch.equal``) several times faster, by dispatching to
:mod:`recsae._fast.as_published`; the notebooks and experiments call it.

The article's own code no longer runs on current PyTorch (it wraps tensors in
``Variable`` and reads the loss as ``loss.data[0]``); this is a re-statement of what it
does, not a copy.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from recsae.model import StackedAutoencoder
from recsae.runtime import as_float_tensor

# The article's optimizer: RMSprop(lr=0.01, weight_decay=0.5) for 200 epochs, torch's
# defaults for the rest (alpha=0.99, eps=1e-8, no momentum, not centered).
ARTICLE_LR = 0.01
ARTICLE_WEIGHT_DECAY = 0.5
ARTICLE_EPOCHS = 200


def check_matrix(train: Any, n_rating_columns: Any, what: str = "train") -> None:
    """Refuse, before any computation, what no trainer can use as a user matrix.

    A user matrix is a 2-D NumPy array (or torch tensor, or SciPy CSR matrix/array)
    ``[n_users, n_columns]`` of finite numbers, at least one row and one column, its first
    ``n_rating_columns`` columns the ratings (0 = unrated), e.g.
    ``recsae.user_matrix.build_user_matrices(...).train``. A CSR is checked through its
    stored entries only (nothing dense is made).

    Raises:
        TypeError: a pandas frame (a ratings frame is not a matrix), a sparse matrix not
            in CSR format, or non-numbers.
        ValueError: not 2-D, empty, NaN or infinite entries, or ``n_rating_columns`` not
            an integer in ``1..n_columns``.
    """
    if isinstance(train, (pd.DataFrame, pd.Series)):
        raise TypeError(
            f"{what} must be a user matrix, a NumPy array [n_users, n_columns] (e.g. the "
            "`.train` of recsae.user_matrix.build_user_matrices(...)), not a pandas "
            f"{type(train).__name__}: a ratings frame is not a matrix.")
    if sp.issparse(train):
        if train.format != "csr":
            raise TypeError(f"{what} must be a dense array or a SciPy CSR matrix, not a sparse "
                            f"{train.format.upper()} matrix: convert it with .tocsr().")
        values: Any = train.data  # the stored entries; NaN/inf can only be there
        kind = values.dtype.kind
    elif isinstance(train, torch.Tensor):
        values = train.detach()
        kind = "f" if values.is_floating_point() else "c" if values.is_complex() else "i"
    else:
        try:
            values = np.asarray(train)
        except (TypeError, ValueError) as exc:  # ragged nested lists
            raise TypeError(f"{what} must be a 2-D numeric array [n_users, n_columns]; "
                            f"{type(train).__name__} cannot be one: {exc}") from exc
        kind = values.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{what} must hold numbers; got a {type(train).__name__} of "
                        f"{values.dtype} (a sparse matrix? pass it as CSR, .tocsr()).")
    shape = tuple(train.shape) if sp.issparse(train) else tuple(values.shape)
    if len(shape) != 2:
        raise ValueError(f"{what} must be 2-D [n_users, n_columns], not of shape {shape} "
                         "(one user's row? pass row[None, :]).")
    if 0 in shape:
        raise ValueError(f"{what} is empty (shape {shape}): a user matrix needs at least one "
                         "user row and one column.")
    try:
        n = operator.index(n_rating_columns)
    except TypeError:
        n = None
    if n is None or isinstance(n_rating_columns, bool) or not 1 <= n <= shape[1]:
        raise ValueError(f"n_rating_columns must be an integer between 1 and {what}'s "
                         f"{shape[1]} columns (the rating columns come first; e.g. the "
                         f"ColumnIndex's n_items), not {n_rating_columns!r}.")
    if kind == "f":
        if isinstance(values, torch.Tensor):
            flags = ~torch.isfinite(values)
            if values.dtype == torch.float64:  # beyond float32's range becomes inf
                flags |= values.abs() > torch.finfo(torch.float32).max
            bad = flags.cpu().numpy()
        else:
            bad = ~np.isfinite(values)
            if values.dtype.itemsize > 4:  # float64 beyond float32's range becomes inf
                bad |= np.abs(values) > np.finfo(np.float32).max
        if bad.any() and sp.issparse(train):
            first = int(np.argmax(bad))
            row = int(np.searchsorted(train.indptr, first, side="right")) - 1
            col = int(train.indices[first])
        elif bad.any():
            row, col = (int(i[0]) for i in np.nonzero(bad))
        if bad.any():
            raise ValueError(f"{what} has {int(bad.sum())} NaN or infinite entries (first at "
                             f"row {row}, column {col}); a user matrix holds 0 for 'unrated' "
                             "and finite numbers elsewhere: fill or drop them first.")


def article_loop(model: StackedAutoencoder, train: np.ndarray, n_rating_columns: int,
                 epochs: int = ARTICLE_EPOCHS, lr: float = ARTICLE_LR,
                 weight_decay: float = ARTICLE_WEIGHT_DECAY) -> list[float]:
    """Train ``model`` in place with the article's loop; return its printed loss per epoch.

    One optimizer step per user, users in row order, no minibatches, no shuffling. The
    two bugs are marked ``BUG`` where they happen, the output masking where it happens.

    Args:
        model: a sigmoid :class:`StackedAutoencoder` on the CPU.
        train: the user matrix ``[n_users, n_columns]``; each row is input and target.
        n_rating_columns: how many columns are ratings (they come first).

    Returns:
        The number the article prints after each epoch (see ``mean_corrector`` below).
    """
    rows = torch.as_tensor(np.asarray(train, dtype=np.float32))
    criterion = nn.MSELoss()  # a mean over *all* rating columns, rated or not
    optimizer = torch.optim.RMSprop(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = n_rating_columns
    history = []
    for _ in range(epochs):
        printed_sum, n_users = 0.0, 0
        for user in range(rows.shape[0]):
            inputs = rows[user].unsqueeze(0)  # [1, n_columns]
            target = inputs.clone()
            if torch.sum(target > 0) == 0:
                continue  # a user with no entry at all gets no step
            # BUG 1 (missing): no optimizer.zero_grad() here. Every .grad keeps the running
            # sum of all per-user gradients since the first step, and each RMSprop step
            # follows that sum. The fix is one line: optimizer.zero_grad().
            output = model(inputs)
            output_ratings = output[:, :n]  # a view: the next line reaches it
            # Masking the output to the rated entries: where the target is 0 (unrated
            # movies, but also every 0 side-feature column) the output is set to 0, so
            # those entries add 0 to the loss. The MSE still divides by all n columns.
            output[target == 0] = 0
            loss = criterion(output_ratings, target[:, :n])
            loss.backward()
            optimizer.step()
            # BUG 2: the printed number rescales the loss by mean_corrector = n / (entries > 0
            # in the *whole* row, side-feature columns included), to undo the division by
            # n above. With side features the denominator grows with the number of
            # non-zero feature columns, so the same predictions print a smaller number.
            mean_corrector = n / float(torch.sum(target > 0) + 1e-10)
            printed_sum += float(np.sqrt(loss.item() * mean_corrector))
            n_users += 1
        history.append(printed_sum / n_users)
    return history


def train_as_published(model: StackedAutoencoder, train: np.ndarray | torch.Tensor,
                       n_rating_columns: int, epochs: int = ARTICLE_EPOCHS,
                       lr: float = ARTICLE_LR, weight_decay: float = ARTICLE_WEIGHT_DECAY,
                       progress: bool = False, threads: int | None = 1) -> pd.DataFrame:
    """:func:`article_loop`, computed fast; trains ``model`` in place.

    The article's loop, step by step (each quirk is reproduced on purpose):

    1. One optimizer step per user, users in id order (matrix row order), ``epochs``
       passes, no shuffling, no minibatches; users whose whole row has no entry > 0 are
       skipped.
    2. ``target = input``; the output is zeroed wherever the target row is 0 (all columns),
       then the loss is ``MSELoss`` between the output's and the target's *rating* columns:
       a mean over all ``n_rating_columns``, rated or not.
    3. ``loss.backward()`` but never ``optimizer.zero_grad()``: every parameter's ``.grad``
       is the *sum of all per-user gradients since the first step*, and each RMSprop step
       uses that running sum.
    4. ``RMSprop(lr=0.01, weight_decay=0.5)``: torch adds ``0.5 * param`` to a *copy* of
       ``.grad``, so the accumulated sum itself stays a pure sum of loss gradients.
    5. The printed number per epoch is the mean over trained users of
       ``sqrt(loss * n_rating_columns / (entries > 0 in the whole row + 1e-10))``.

    The weights equal :func:`article_loop`'s bit for bit on the same machine (the step is
    written by hand on flat buffers, torch doing the products, sigmoids and square roots,
    numba kernels the rest with torch's rounding); ``docs/benchmarks.md`` has the speed-up.

    Args:
        model: a :class:`StackedAutoencoder` with sigmoid activations and no dropout, on
            the CPU; its parameters are overwritten with the trained values.
        train: training matrix ``[n_users, n_columns]`` (its rows are inputs and targets).
        n_rating_columns: the article's ``nb_movies``.
        epochs, lr, weight_decay: the article's 200, 0.01, 0.5 by default.
        progress: show a tqdm bar over epochs (also off when ``$TQDM_DISABLE`` is set).
        threads: torch intra-op threads during the loop, restored afterwards (None: leave
            as is). One is fastest: each operation is too small to share. The weights do
            not depend on it.

    Returns:
        History ``[epochs, 4]``: ``epoch``, ``article_train_metric`` (the article's printed
        loss), ``n_users`` (users stepped on), ``seconds`` (cumulative).

    Raises:
        TypeError, ValueError: before ``model`` is touched, for what is not a user matrix
            (:func:`check_matrix`) or a model the loop cannot reproduce.
    """
    check_matrix(train, n_rating_columns, "train")
    if model.activation_name != "sigmoid" or model.dropout_p != 0.0:
        raise ValueError("the as-published trainer reproduces the article's sigmoid net "
                         "without dropout only.")
    x_all = as_float_tensor(train)
    if x_all.shape[1] != model.n_inputs:
        raise ValueError(f"train has {x_all.shape[1]} columns, the model {model.n_inputs}.")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("the as-published trainer runs on the CPU (one user per step).")
    from recsae._fast import as_published  # the speed engine; imports numba

    return as_published.train(model, x_all, n_rating_columns, epochs, lr, weight_decay,
                              progress, threads)
