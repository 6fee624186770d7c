r"""A kernelised item-based autoencoder in the spirit of GLocal-K (Han et al., CIKM 2021).

Each item is the vector of its training ratings by all users (0 where unobserved), as in
I-AutoRec (:mod:`recsae.autorec`), optionally followed by a block of item side features
(e.g. genre flags). Every weight matrix :math:`W \in \mathbb{R}^{n_{in} \times n_{out}}` is
gated elementwise by a *local kernel* of small learned vectors
:math:`u_i, v_j \in \mathbb{R}^{d}` (:func:`local_kernel`):

.. math::

    K_{ij} = \max\left(0,\; 1 - \lVert u_i - v_j \rVert^2\right), \qquad
    y = \sigma\big(x\,(W \odot K) + b\big),

so a weight is used only where its two units are close in the kernel space (``K = 0`` cuts
it). Two sigmoid hidden layers and an identity output layer are trained on

.. math::

    \tfrac12 \sum_{(u,i)\ \mathrm{observed}} (r_{ui} - \hat r_{ui})^2
    + \tfrac{\lambda_2}{2} \sum \lVert W \rVert^2 + \tfrac{\lambda_s}{2} \sum \lVert K \rVert^2,

by full-batch L-BFGS (``torch.optim.LBFGS``, restarted every "epoch" of a few iterations).

**Global-kernel fine-tuning.** The pre-trained net's per-item average output
:math:`\bar p \in \mathbb{R}^{n_{items}}` is mapped by a learned matrix
:math:`C \in \mathbb{R}^{n_{items} \times g^2}` to one :math:`g \times g` convolution kernel
:math:`G = \mathrm{reshape}(\bar p\, C)`; the rating matrix is convolved with it
(``ReLU(G * R)``, "same" padding) and fed to the same local-kernel net, and every weight is
trained again with the same loss.

Epoch counts are chosen on a validation split of the *training* frame
(:func:`select_epochs`), never on a test file: the published recipe picked its epoch by test
RMSE. An item unseen in training gets the global mean; a user unseen in training gets the
item's mean training rating.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from recsae.constants import RATING_MAX, RATING_MIN
from recsae.loss import masked_sse
from recsae.protocol import item_matrix_fallbacks, item_matrix_predict
from recsae.splits import validation_split


@dataclass
class GlocalKConfig:
    """Hyper-parameters of :class:`GlocalK`.

    The network and regulariser defaults are GLocal-K's published ML-100K scale. The epoch
    counts are caps: :func:`select_epochs` early-stops each stage on validation (on ML-100K
    u1 it chose 30 pre-training and 12 fine-tuning epochs; pre-training was still improving
    at its cap, fine-tuning had levelled off).
    """

    hidden: int = 500          # units per hidden layer
    n_layers: int = 2          # sigmoid hidden layers (then an identity output layer)
    kernel_dim: int = 5        # dimension of the kernel vectors u_i, v_j
    lambda_2: float = 20.0     # L2 on the weights W (on the summed squared error)
    lambda_s: float = 0.006    # L2 on the kernel values K (sparsity)
    gk_size: int = 3           # global convolution kernel is gk_size x gk_size
    dot_scale: float = 1.0     # scale of the global kernel
    iters_per_epoch: int = 5   # L-BFGS iterations per epoch (L-BFGS restarts every epoch)
    pre_epochs: int = 30       # local-kernel pre-training epochs
    fine_epochs: int = 15      # global-kernel fine-tuning epochs (0 = local kernel only)
    kernel: bool = True        # False: plain weights (an L-BFGS I-AutoRec when n_layers=1)
    side_scale: float = 1.0    # multiplies the item side-feature block
    seed: int = 0


def local_kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``[n_in, n_out]`` gate ``max(0, 1 - ||u_i - v_j||^2)`` of ``u [n_in, d]``, ``v [n_out, d]``."""
    dist2 = (u.unsqueeze(1) - v.unsqueeze(0)).pow(2).sum(-1)
    return torch.clamp(1.0 - dist2, min=0.0)


class KernelLayer(nn.Module):
    """``y = act(x (W * K) + b)`` with ``K = local_kernel(u, v)`` (or ``K = 1`` if no kernel)."""

    def __init__(self, n_in: int, n_out: int, kernel_dim: int, activation: bool, kernel: bool):
        super().__init__()
        bound = float(np.sqrt(6.0 / (n_in + n_out)))
        self.weight = nn.Parameter(torch.empty(n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.u = nn.Parameter(torch.randn(n_in, kernel_dim) * 1e-3) if kernel else None
        self.v = nn.Parameter(torch.randn(n_out, kernel_dim) * 1e-3) if kernel else None
        self.activation = activation

    def gate(self) -> torch.Tensor | None:
        """The ``[n_in, n_out]`` kernel ``K`` (None without a kernel)."""
        return None if self.u is None else local_kernel(self.u, self.v)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([batch, n_out] output, 0-d regulariser sum ||W||^2 and sum ||K||^2 pair)``."""
        gate = self.gate()
        weight = self.weight if gate is None else self.weight * gate
        y = x @ weight + self.bias
        k2 = torch.zeros(()) if gate is None else gate.pow(2).sum()
        return (torch.sigmoid(y) if self.activation else y), torch.stack(
            [self.weight.pow(2).sum(), k2])


class LocalKernelNet(nn.Module):
    """``n_in -> hidden (sigmoid) x n_layers -> n_out (identity)``, every layer kernelised."""

    def __init__(self, n_in: int, n_out: int, cfg: GlocalKConfig):
        super().__init__()
        sizes = [n_in] + [cfg.hidden] * cfg.n_layers + [n_out]
        self.layers = nn.ModuleList(
            KernelLayer(a, b, cfg.kernel_dim, activation=i < cfg.n_layers, kernel=cfg.kernel)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``([batch, n_out], [2] sums of ||W||^2 and ||K||^2 over layers)``."""
        reg = torch.zeros(2)
        for layer in self.layers:
            x, r = layer(x)
            reg = reg + r
        return x, reg


class GlobalKernel(nn.Module):
    """``ReLU(G * R)``: one ``g x g`` convolution whose kernel is ``(mean_users p) C``."""

    def __init__(self, n_items: int, gk_size: int, dot_scale: float, generator: torch.Generator):
        super().__init__()
        init = torch.randn(n_items, gk_size * gk_size, generator=generator).clamp(-2, 2) * 0.1
        self.conv_kernel = nn.Parameter(init)
        self.gk_size, self.dot_scale = gk_size, dot_scale

    def forward(self, ratings: torch.Tensor, pretrained_output: torch.Tensor) -> torch.Tensor:
        """``ratings [n_items, n_users]`` convolved with the kernel built from
        ``pretrained_output [n_items, n_users]``; same shape out."""
        avg = pretrained_output.mean(dim=1, keepdim=True).T          # [1, n_items]
        g = (avg @ self.conv_kernel * self.dot_scale).view(1, 1, self.gk_size, self.gk_size)
        out = F.conv2d(ratings[None, None], g, padding=self.gk_size // 2)
        return F.relu(out[0, 0])


class GlocalK:
    """Kernelised item autoencoder with ``fit(train, valid=None)`` and ``predict``.

    ``item_features`` (optional): a frame with ``item_id`` and numeric columns, appended
    (times ``side_scale``) to every item's input; an item missing from it gets zeros.
    With ``valid`` given, :meth:`fit` tracks the validation RMSE after every epoch, keeps
    the best state of each stage (early stopping) and records ``best_pre_epochs_`` and
    ``best_fine_epochs_`` (0 when fine-tuning never beat the pre-trained net).
    """

    def __init__(self, config: GlocalKConfig | None = None,
                 item_features: pd.DataFrame | None = None):
        self.config = config or GlocalKConfig()
        self.item_features = item_features

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame | None = None) -> GlocalK:
        """Train on ``train`` (see the class docstring for ``valid``); sets ``history_``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            return self._fit(train, valid)

    def _matrix(self, ratings: pd.DataFrame) -> torch.Tensor:
        rows = self.items_.get_indexer(ratings["item_id"].to_numpy())
        cols = self.users_.get_indexer(ratings["user_id"].to_numpy())
        keep = (rows >= 0) & (cols >= 0)
        m = torch.zeros(len(self.items_), len(self.users_))
        m[rows[keep], cols[keep]] = torch.as_tensor(
            ratings["rating"].to_numpy(dtype=np.float32)[keep])
        return m

    def _side(self) -> torch.Tensor:
        if self.item_features is None:
            return torch.zeros(len(self.items_), 0)
        table = self.item_features.set_index("item_id").reindex(self.items_, fill_value=0)
        values = table.to_numpy(dtype=np.float32) * self.config.side_scale
        return torch.as_tensor(values)

    def _fit(self, train: pd.DataFrame, valid: pd.DataFrame | None) -> GlocalK:
        cfg = self.config
        self.users_, self.items_, self.mean_, self.item_mean_ = item_matrix_fallbacks(train)
        x = self._matrix(train)
        mask = x > 0
        side = self._side()
        v_target = None if valid is None else self._matrix(valid)
        n_users = len(self.users_)
        self.net_ = LocalKernelNet(n_users + side.shape[1], n_users, cfg)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.global_ = GlobalKernel(len(self.items_), cfg.gk_size, cfg.dot_scale, gen)

        def pre_forward() -> tuple[torch.Tensor, torch.Tensor]:
            return self.net_(torch.cat([x, side], dim=1))

        def fine_forward() -> tuple[torch.Tensor, torch.Tensor]:
            pre, _ = pre_forward()
            return self.net_(torch.cat([self.global_(x, pre), side], dim=1))

        rows: list[dict[str, float]] = []
        self.best_pre_epochs_ = self._stage("pre", pre_forward, list(self.net_.parameters()),
                                            cfg.pre_epochs, x, mask, v_target, rows)
        forward = pre_forward
        if cfg.fine_epochs > 0:
            params = list(self.net_.parameters()) + list(self.global_.parameters())
            self.best_fine_epochs_ = self._stage("fine", fine_forward, params, cfg.fine_epochs,
                                                 x, mask, v_target, rows)
            if self.best_fine_epochs_ > 0:
                forward = fine_forward
        else:
            self.best_fine_epochs_ = 0
        self.history_ = pd.DataFrame(rows)
        with torch.no_grad():
            self.reconstruction_ = forward()[0].numpy().astype(np.float64)
        return self

    def _loss(self, pred: torch.Tensor, reg: torch.Tensor, x: torch.Tensor,
              mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sse, _ = masked_sse(pred, x, mask)
        cfg = self.config
        return 0.5 * (sse + cfg.lambda_2 * reg[0] + cfg.lambda_s * reg[1]), sse

    def _stage(self, name: str, forward, params: list[nn.Parameter], n_epochs: int,
               x: torch.Tensor, mask: torch.Tensor, v_target: torch.Tensor | None,
               rows: list[dict[str, float]]) -> int:
        """Run ``n_epochs`` of full-batch L-BFGS; with a validation target, restore the
        best state and return its epoch (0 = the state before the stage), else ``n_epochs``."""
        cfg = self.config
        n_obs = float(mask.sum())
        modules = (self.net_, self.global_)
        best_rmse, best_epoch = np.inf, 0
        best_state = [copy.deepcopy(m.state_dict()) for m in modules]
        if v_target is not None:
            best_rmse = self._valid_rmse(forward, v_target)
        for epoch in tqdm(range(1, n_epochs + 1), desc=name, leave=False):
            opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.iters_per_epoch,
                                    max_eval=4 * cfg.iters_per_epoch, history_size=10,
                                    line_search_fn="strong_wolfe")

            def closure(opt: torch.optim.LBFGS = opt) -> torch.Tensor:
                opt.zero_grad()
                loss, _ = self._loss(*forward(), x, mask)
                loss.backward()
                return loss

            opt.step(closure)
            with torch.no_grad():
                loss, sse = self._loss(*forward(), x, mask)
            row = {"stage": name, "epoch": epoch, "loss": float(loss),
                   "train_rmse": float(np.sqrt(float(sse) / n_obs))}
            if v_target is not None:
                row["valid_rmse"] = self._valid_rmse(forward, v_target)
                if row["valid_rmse"] < best_rmse:
                    best_rmse, best_epoch = row["valid_rmse"], epoch
                    best_state = [copy.deepcopy(m.state_dict()) for m in modules]
            rows.append(row)
        if v_target is None:
            return n_epochs
        for m, state in zip(modules, best_state, strict=True):
            m.load_state_dict(state)
        return best_epoch

    @staticmethod
    def _valid_rmse(forward, v_target: torch.Tensor) -> float:
        with torch.no_grad():
            pred = forward()[0].clamp(RATING_MIN, RATING_MAX)
        sse, n = masked_sse(pred, v_target, v_target > 0)
        return float(torch.sqrt(sse / n))

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """``[n]`` predicted ratings (unclipped; see the module docstring for unknown ids)."""
        return item_matrix_predict(self.reconstruction_, self.users_, self.items_, self.mean_,
                                   self.item_mean_, user_ids, item_ids)


def select_epochs(train: pd.DataFrame, config: GlocalKConfig | None = None,
                  item_features: pd.DataFrame | None = None, valid_frac: float = 0.1,
                  split_seed: int = 0) -> tuple[GlocalKConfig, GlocalK, pd.DataFrame]:
    """Choose the epoch counts on a validation split carved from ``train`` (never a test file).

    Returns ``(chosen, model, valid)``: ``config`` with ``pre_epochs``/``fine_epochs`` set to
    the validation-best counts (ready to refit on all of ``train``), the model trained on
    the fit part (its ``history_`` and ``seconds_``), and the validation frame.
    """
    config = config or GlocalKConfig()
    fit_part, valid = validation_split(train, valid_frac, split_seed)
    start = time.process_time()
    model = GlocalK(config, item_features).fit(fit_part, valid)
    model.seconds_ = time.process_time() - start
    chosen = replace(config, pre_epochs=model.best_pre_epochs_,
                     fine_epochs=model.best_fine_epochs_)
    return chosen, model, valid
