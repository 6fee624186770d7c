"""I-AutoRec: an item-based autoencoder for rating prediction (Sedhain et al., WWW 2015).

Each item is the vector of its ratings by all training users (``[n_users]``, 0 where
unobserved). A one-hidden-layer autoencoder ``h(r) = V sigmoid(W r + b) + c`` is trained to
reconstruct the *observed* entries only, with L2 weight decay on ``W`` and ``V``::

    min  sum_i || (r_i - h(r_i)) * observed_i ||^2  +  (reg / 2) * (||W||^2 + ||V||^2)

and the prediction for ``(u, i)`` is ``h(r_i)[u]``, item ``i``'s reconstruction at user
``u``. An item unseen in training gets the global mean; a user unseen in training (no input
column) gets the item's mean training rating.

Hyper-parameters are chosen on a seeded validation split carved from the *training* frame
(:func:`tune_autorec`), never on a test file; the number of epochs is chosen there too
(early stopping on validation RMSE) and then reused to refit on the whole training frame.

Big data (ML-10M and up): the dense ``[n_items, n_users]`` input (38 GB at ML-25M) is never
built when :class:`IAutoRec` runs sparse (``sparse=True``, or automatically above
:data:`DENSE_LIMIT` entries): the items are rows of a CSR matrix, read a chunk of items at a
time; the encoder is a sparse product, the decoder is evaluated only at the observed
entries, and one optimizer step sums the gradients of its chunks (the same full-batch or
minibatch step as the dense path, to float rounding; input dropout draws differ).

The package's most accurate model blends I-AutoRec with a biased MF (:mod:`recsae.blend`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import sparse as sp
from torch import nn

from recsae.constants import RATING_MAX, RATING_MIN, clip_ratings
from recsae.loss import masked_sse
from recsae.protocol import item_matrix_fallbacks, item_matrix_predict
from recsae.splits import validation_split


@dataclass
class AutoRecConfig:
    """Hyper-parameters of :class:`IAutoRec` (one place, filled by a notebook's parameters).

    The defaults are the configuration :func:`tune_autorec` chose with :data:`TUNING_GRID`
    over :data:`TUNING_BASE` on a 10% validation split of ML-100K ``u1.base`` (seed 0):
    validation RMSE 0.8938 at epoch 80 (next: hidden 300 / reg 100, 0.8945).
    """

    hidden: int = 500          # hidden units, as in the paper
    reg: float = 200.0         # lambda: L2 weight on W and V, on the *summed* squared error
    optimizer: str = "rprop"   # "rprop" (full batch, as in the paper) or "adam"
    lr: float = 0.01           # Rprop's initial step; Adam's step size
    n_epochs: int = 80         # passes over the items (= optimiser steps when full batch)
    batch_size: int | None = None  # items per step; None = full batch (all items)
    dropout: float = 0.0       # input dropout (denoising); 0 = the plain I-AutoRec
    seed: int = 0


# The search that chose the defaults above (see tune_autorec); rerun it to check them.
TUNING_BASE = AutoRecConfig(optimizer="rprop", lr=0.01, n_epochs=120)
TUNING_GRID: dict[str, list[object]] = {"hidden": [300, 500], "reg": [100.0, 200.0, 300.0]}


class AutoRecNet(nn.Module):
    """``n_in -> hidden (sigmoid) -> n_in (identity)``; ``n_in`` = number of users."""

    def __init__(self, n_in: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.Linear(n_in, hidden)
        self.decoder = nn.Linear(hidden, n_in)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, n_in] -> [batch, hidden]``."""
        return torch.sigmoid(self.encoder(self.dropout(x)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[batch, hidden] -> [batch, n_in]`` ratings (unbounded)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, n_in] -> [batch, n_in]`` reconstruction."""
        return self.decode(self.encode(x))

    def weight_norm2(self) -> torch.Tensor:
        """``||W||^2 + ||V||^2`` (biases are not decayed, as in the paper)."""
        return self.encoder.weight.pow(2).sum() + self.decoder.weight.pow(2).sum()


def _item_user_matrix(ratings: pd.DataFrame, users: pd.Index, items: pd.Index) -> torch.Tensor:
    """Dense ``[n_items, n_users]`` float32 ratings, 0 where unobserved (unknown ids dropped)."""
    rows = items.get_indexer(ratings["item_id"].to_numpy())
    cols = users.get_indexer(ratings["user_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    matrix = torch.zeros(len(items), len(users))
    matrix[rows[keep], cols[keep]] = torch.as_tensor(
        ratings["rating"].to_numpy(dtype=np.float32)[keep])
    return matrix


DENSE_LIMIT = 200_000_000  # items x users above which fit runs sparse by default (800 MB)
CHUNK_NNZ = 50_000  # observed ratings per gradient chunk of the sparse path


def _item_user_csr(ratings: pd.DataFrame, users: pd.Index, items: pd.Index) -> sp.csr_matrix:
    """:func:`_item_user_matrix` as a CSR ``[n_items, n_users]`` float32 (unknown ids dropped)."""
    rows = items.get_indexer(ratings["item_id"].to_numpy())
    cols = users.get_indexer(ratings["user_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix((ratings["rating"].to_numpy(dtype=np.float32)[keep],
                            (rows[keep], cols[keep])), shape=(len(items), len(users)))
    matrix.sort_indices()
    return matrix


def _sparse_rows(x: sp.csr_matrix, rows: np.ndarray, device: torch.device,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``x`` as a torch sparse COO ``[len(rows), n_users]`` and their entries
    ``(row in the chunk, user column, rating)``."""
    block = x[rows].tocoo()
    r = torch.as_tensor(block.row, dtype=torch.int64, device=device)
    c = torch.as_tensor(block.col, dtype=torch.int64, device=device)
    v = torch.as_tensor(block.data, dtype=torch.float32, device=device)
    coo = torch.sparse_coo_tensor(torch.stack([r, c]), v, (len(rows), x.shape[1]),
                                  check_invariants=False, is_coalesced=True)
    return coo, r, c, v


def _encode_sparse(net: AutoRecNet, coo: torch.Tensor) -> torch.Tensor:
    """``net.encode`` of sparse rows: ``sigmoid(x W^T + b)``, the dropout on the stored values."""
    if net.training and net.dropout.p > 0:
        values = net.dropout(coo.coalesce().values())
        coo = torch.sparse_coo_tensor(coo.coalesce().indices(), values, coo.shape,
                                      check_invariants=False, is_coalesced=True)
    return torch.sigmoid(torch.sparse.mm(coo, net.encoder.weight.t()) + net.encoder.bias)


def _decode_at(net: AutoRecNet, hidden: torch.Tensor, r: torch.Tensor, c: torch.Tensor
               ) -> torch.Tensor:
    """``net.decode(hidden)[r, c]`` without the ``[batch, n_users]`` output."""
    return (hidden[r] * net.decoder.weight[c]).sum(dim=1) + net.decoder.bias[c]


class IAutoRec:
    """Item-based AutoRec with ``fit(train, valid=None)`` and ``predict(user_ids, item_ids)``.

    The device is passed in (default CPU) and used only here; the model never picks one.
    ``sparse``: True reads item rows from a CSR matrix (see the module docstring), False
    builds the dense ``[n_items, n_users]`` input; None: sparse above :data:`DENSE_LIMIT`.
    """

    sparse: bool | None = None  # a class default: an unset flag leaves vars() (cache keys) as before

    def __init__(self, config: AutoRecConfig | None = None, device: torch.device | str = "cpu",
                 sparse: bool | None = None):
        self.config = config or AutoRecConfig()
        self.device = torch.device(device)
        if sparse is not None:
            self.sparse = sparse

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> IAutoRec:
        """Train on ``train``; if ``valid`` is given, track its RMSE every epoch.

        Sets ``history_``: DataFrame ``epoch, loss, train_rmse[, valid_rmse]`` (train RMSE is
        measured during the epoch's steps, with dropout if any; valid RMSE in eval mode).
        """
        # nn.Linear's init and dropout draw from torch's global generators: seed them inside
        # fork_rng so the caller's random state is left as it was.
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.config.seed)
            return self._fit(train, valid)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> IAutoRec:
        """:meth:`fit`'s body, run with the global generators seeded."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        self.users_, self.items_, self.mean_, self.item_mean_ = item_matrix_fallbacks(train)

        dev = self.device
        use_sparse = self.sparse if self.sparse is not None else (
            len(self.items_) * len(self.users_) > DENSE_LIMIT)
        if use_sparse:
            return self._fit_sparse(train, valid, gen)
        x = _item_user_matrix(train, self.users_, self.items_).to(dev)  # [n_items, n_users]
        observed = x > 0
        n_obs = float(observed.sum())
        net = AutoRecNet(len(self.users_), cfg.hidden, cfg.dropout).to(dev)
        optimizer = _optimizer(net, cfg)
        if valid is not None:
            v_target = _item_user_matrix(valid, self.users_, self.items_).to(dev)
            v_mask = v_target > 0

        n_items = len(self.items_)
        batch = n_items if cfg.batch_size is None else cfg.batch_size
        rows = []
        for epoch in range(1, cfg.n_epochs + 1):
            net.train()
            order = torch.randperm(n_items, generator=gen).to(dev)
            sse_sum = loss_sum = 0.0
            for start in range(0, n_items, batch):
                idx = order[start:start + batch]
                sse, _ = masked_sse(net(x[idx]), x[idx], observed[idx])
                # The weight penalty is spread over batches in proportion to their size,
                # so one epoch applies it once, whatever the batch size; dividing by n_obs
                # only rescales the objective (keeps Adam's epsilon in a sensible range).
                loss = (sse + 0.5 * cfg.reg * net.weight_norm2() * len(idx) / n_items) / n_obs
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                sse_sum += sse.item()
                loss_sum += loss.item()
            row = {"epoch": epoch, "loss": loss_sum, "train_rmse": np.sqrt(sse_sum / n_obs)}
            if valid is not None:
                net.eval()
                with torch.no_grad():
                    v_sse, v_n = masked_sse(net(x).clamp(RATING_MIN, RATING_MAX), v_target,
                                            v_mask)
                row["valid_rmse"] = float(torch.sqrt(v_sse / v_n))
            rows.append(row)
        self.history_ = pd.DataFrame(rows)
        net.eval()
        with torch.no_grad():
            # Predictions only ever need this one forward pass, so store it: [n_items, n_users].
            self.reconstruction_ = net(x).cpu().numpy().astype(np.float64)
        self.net_ = net
        return self

    def _fit_sparse(self, train: pd.DataFrame, valid: pd.DataFrame | None,
                    gen: torch.Generator) -> IAutoRec:
        """:meth:`_fit` on a CSR ``[n_items, n_users]``: chunks of items, gradients summed."""
        cfg, dev = self.config, self.device
        x = _item_user_csr(train, self.users_, self.items_)
        n_obs, n_items = float(x.nnz), x.shape[0]
        net = AutoRecNet(len(self.users_), cfg.hidden, cfg.dropout).to(dev)
        optimizer = _optimizer(net, cfg)
        chunk = max(1, int(CHUNK_NNZ * n_items / max(1, x.nnz)))
        batch = n_items if cfg.batch_size is None else cfg.batch_size
        rows = []
        for epoch in range(1, cfg.n_epochs + 1):
            net.train()
            order = torch.randperm(n_items, generator=gen).numpy()
            sse_sum = loss_sum = 0.0
            for start in range(0, n_items, batch):
                idx = order[start:start + batch]
                optimizer.zero_grad()
                penalty = 0.5 * cfg.reg * net.weight_norm2() * len(idx) / n_items / n_obs
                penalty.backward()
                loss_sum += penalty.item()
                for sub in range(0, len(idx), chunk):
                    coo, r, c, v = _sparse_rows(x, idx[sub:sub + chunk], dev)
                    sse = ((_decode_at(net, _encode_sparse(net, coo), r, c) - v) ** 2).sum()
                    (sse / n_obs).backward()
                    sse_sum += sse.item()
                    loss_sum += sse.item() / n_obs
                optimizer.step()
            row = {"epoch": epoch, "loss": loss_sum, "train_rmse": np.sqrt(sse_sum / n_obs)}
            self.net_, self._x = net, x
            if valid is not None:  # as the dense path: the pairs of known users and items
                v_items = self.items_.get_indexer(valid["item_id"].to_numpy())
                v_users = self.users_.get_indexer(valid["user_id"].to_numpy())
                known = (v_items >= 0) & (v_users >= 0)
                pred = self._known_pairs(v_items[known], v_users[known])
                row["valid_rmse"] = clipped_rmse(
                    pred, valid["rating"].to_numpy(dtype=np.float64)[known])
            rows.append(row)
        self.history_ = pd.DataFrame(rows)
        net.eval()
        with torch.no_grad():  # each item's code, [n_items, hidden]: predictions need only it
            self.hidden_ = torch.cat([_encode_sparse(net, _sparse_rows(x, np.arange(
                s, min(s + chunk, n_items)), dev)[0]) for s in range(0, n_items, chunk)])
        del self._x
        self.reconstruction_ = None
        return self

    def _known_pairs(self, items: np.ndarray, users: np.ndarray) -> np.ndarray:
        """Predictions at item/user positions (-1 = unknown: item mean, or global mean)."""
        pred = np.full(len(users), self.mean_)
        known_item = items >= 0
        pred[known_item] = self.item_mean_[items[known_item]]
        both = np.flatnonzero(known_item & (users >= 0))
        net = self.net_
        was_training = net.training
        net.eval()
        with torch.no_grad():
            for start in range(0, both.size, CHUNK_NNZ):
                at = both[start:start + CHUNK_NNZ]
                i = torch.as_tensor(items[at], device=self.device)
                u = torch.as_tensor(users[at], device=self.device)
                if getattr(self, "hidden_", None) is not None:
                    h = self.hidden_[i]
                else:  # during fit: encode the items of this chunk
                    ids, local = np.unique(items[at], return_inverse=True)
                    h = _encode_sparse(net, _sparse_rows(self._x, ids, self.device)[0])[local]
                out = (h * net.decoder.weight[u]).sum(dim=1) + net.decoder.bias[u]
                pred[at] = out.cpu().numpy().astype(np.float64)
        net.train(was_training)
        return pred

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predicted ratings (unclipped; see the module docstring for unknown ids)."""
        if self.reconstruction_ is None:  # the sparse path
            return self._known_pairs(self.items_.get_indexer(np.asarray(item_ids)),
                                     self.users_.get_indexer(np.asarray(user_ids)))
        return item_matrix_predict(self.reconstruction_, self.users_, self.items_, self.mean_,
                                   self.item_mean_, user_ids, item_ids)

    def predict_matrix(self) -> np.ndarray:
        """``[n_users, n_items]`` predictions for the training users and items
        (``users_`` and ``items_`` give the ids), ready for :mod:`recsae.ranking`."""
        if self.reconstruction_ is None:  # the sparse path: dense on request only
            with torch.no_grad():
                out = self.hidden_ @ self.net_.decoder.weight.t() + self.net_.decoder.bias
            return out.cpu().numpy().astype(np.float64).T.copy()
        return self.reconstruction_.T.copy()


def _optimizer(net: nn.Module, cfg: AutoRecConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=cfg.lr)
    if cfg.optimizer == "rprop":
        return torch.optim.Rprop(net.parameters(), lr=cfg.lr)
    raise ValueError(f"optimizer must be 'adam' or 'rprop', not {cfg.optimizer!r}.")


def as_configs(grid: Iterable[AutoRecConfig] | Mapping[str, Sequence[object]],
                base: AutoRecConfig) -> list[AutoRecConfig]:
    """A list of configs, or the Cartesian product of a ``{field: values}`` grid over ``base``."""
    if isinstance(grid, Mapping):
        keys = list(grid)
        return [replace(base, **dict(zip(keys, values, strict=True)))
                for values in itertools.product(*(grid[k] for k in keys))]
    return list(grid)


def tune_autorec(train: pd.DataFrame,
                 grid: Iterable[AutoRecConfig] | Mapping[str, Sequence[object]],
                 base: AutoRecConfig | None = None, valid_frac: float = 0.1, split_seed: int = 0,
                 device: torch.device | str = "cpu") -> tuple[pd.DataFrame, AutoRecConfig]:
    """Grid search on a seeded validation split carved from ``train`` (never the test file).

    Args:
        train: the training ratings (e.g. ``u1.base``); ``valid_frac`` of them are held out
            with :func:`recsae.baselines.split_ratings` (seed ``split_seed``).
        grid: configs to try, or ``{field: [values]}`` expanded over ``base``.
        base: the config the grid varies (default :class:`AutoRecConfig()`).

    Returns:
        ``(table, best)``: one row per config with its position in the grid (``config``),
        its fields, ``best_epoch``,
        ``valid_rmse`` (at ``best_epoch``), ``final_valid_rmse`` and ``seconds``, sorted by
        ``valid_rmse``; ``best`` is the winning config with ``n_epochs`` set to its
        ``best_epoch`` (early stopping), ready to refit on the whole of ``train``.
    """
    fit_part, valid_part = validation_split(train, valid_frac, split_seed)
    rows, configs = [], as_configs(grid, base or AutoRecConfig())
    if not configs:
        raise ValueError("The grid is empty.")
    for number, cfg in enumerate(configs):
        start = time.perf_counter()
        history = IAutoRec(cfg, device).fit(fit_part, valid_part).history_
        best = history.loc[history["valid_rmse"].idxmin()]
        rows.append({"config": number, **asdict(cfg), "best_epoch": int(best["epoch"]),
                     "valid_rmse": float(best["valid_rmse"]),
                     "final_valid_rmse": float(history["valid_rmse"].iloc[-1]),
                     "seconds": time.perf_counter() - start})
    table = pd.DataFrame(rows).sort_values("valid_rmse", kind="stable").reset_index(drop=True)
    winner = configs[int(table.loc[0, "config"])]
    return table, replace(winner, n_epochs=int(table.loc[0, "best_epoch"]))


def clipped_rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """RMSE of ``pred`` clipped to the rating scale (both ``[n]``)."""
    return float(np.sqrt(np.mean((clip_ratings(pred) - target) ** 2)))
