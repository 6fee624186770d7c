"""Figures of the training notebook (04): the network, what training did, what it learned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

# One colour per block of a user row, in every figure of this module.
BLOCK_COLOURS = {"ratings": "tab:blue", "genre counts": "tab:orange", "attributes": "tab:green"}
BASELINE_STYLE = {"color": "black", "linewidth": 1}


def architecture(blocks: Mapping[str, int], hidden: Sequence[int] = (20, 10, 20),
                 title: str = "The article's 3-layer autoencoder") -> Figure:
    """Boxes and lines: the input row's blocks, the hidden layers, the output row.

    Args:
        blocks: block name -> number of columns, in row order (the keys of
            :data:`BLOCK_COLOURS`, e.g. ``{"ratings": 1682, "genre counts": 18,
            "attributes": 4}``).
        hidden: hidden layer sizes; the smallest is drawn as the code.

    Box heights are not to scale (the rating block alone is 99% of a row); every box says
    its size.
    """
    n_inputs = sum(blocks.values())
    sizes = [n_inputs, *hidden, n_inputs]
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(sizes)) * 2.0
    width, tall = 0.55, 3.2
    # Hidden layers: heights grow with the log of the width, all far below the rows'.
    heights = [tall] + [0.5 + 0.45 * np.log2(h / min(hidden) + 1) for h in hidden] + [tall]
    code = int(np.argmin(hidden)) + 1
    for i, (xi, size, h) in enumerate(zip(x, sizes, heights, strict=True)):
        if i in (0, len(sizes) - 1):
            # The row drawn as its three blocks (heights 70/15/15%, not to scale).
            shares = np.array([0.7, 0.15, 0.15][:len(blocks)])
            shares = shares / shares.sum()
            top = h / 2
            for k, ((name, n), share) in enumerate(zip(blocks.items(), shares, strict=True)):
                ignored = i > 0 and k > 0  # output side features: never scored by the loss
                ax.add_patch(Rectangle((xi - width / 2, top - share * h), width, share * h,
                                       facecolor=BLOCK_COLOURS.get(name, "tab:gray"),
                                       edgecolor="black", alpha=0.8,
                                       hatch="////" if ignored else None))
                ax.text(xi, top - share * h / 2, f"{n:,}", ha="center", va="center",
                        fontsize=8, color="white", fontweight="bold")
                top -= share * h
            label = "input row" if i == 0 else "output row\n(linear)"
        else:
            colour = "tab:red" if i == code else "lightgray"
            ax.add_patch(Rectangle((xi - width / 2, -h / 2), width, h, facecolor=colour,
                                   edgecolor="black"))
            ax.text(xi, 0, str(size), ha="center", va="center", fontsize=9)
            label = "code\n(sigmoid)" if i == code else "hidden\n(sigmoid)"
        ax.text(xi, tall / 2 + 0.15, label, ha="center", va="bottom", fontsize=9)
    for i in range(len(sizes) - 1):
        # A fan of lines: every unit feeds every unit of the next layer.
        left = np.linspace(-heights[i] / 2 * 0.9, heights[i] / 2 * 0.9, 6)
        right = np.linspace(-heights[i + 1] / 2 * 0.9, heights[i + 1] / 2 * 0.9, 6)
        for a in left:
            for b in right:
                ax.plot([x[i] + width / 2, x[i + 1] - width / 2], [a, b], color="gray",
                        linewidth=0.3, alpha=0.6)
        n_weights = sizes[i] * sizes[i + 1] + sizes[i + 1]
        ax.text((x[i] + x[i + 1]) / 2, -tall / 2 - 0.35, f"{n_weights:,}\nweights",
                ha="center", va="top", fontsize=8)
    ax.annotate("", xy=(x[code] + 0.3, tall / 2 + 1.05), xytext=(x[0] - 0.3, tall / 2 + 1.05),
                arrowprops={"arrowstyle": "<->", "color": "dimgray"})
    ax.text((x[0] + x[code]) / 2, tall / 2 + 1.12, "encoder", ha="center", va="bottom")
    ax.annotate("", xy=(x[-1] + 0.3, tall / 2 + 1.05), xytext=(x[code] + 0.35, tall / 2 + 1.05),
                arrowprops={"arrowstyle": "<->", "color": "dimgray"})
    ax.text((x[code] + x[-1]) / 2, tall / 2 + 1.12, "decoder", ha="center", va="bottom")
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="black", alpha=0.8)
               for c in BLOCK_COLOURS.values()]
    handles.append(Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", hatch="////"))
    ax.legend(handles, [*BLOCK_COLOURS, "output the loss ignores"], loc="upper center",
              bbox_to_anchor=(0.5, -0.02), ncol=4, frameon=False,
              title="columns of a user row (box heights not to scale)")
    ax.set(xlim=(x[0] - 1, x[-1] + 1), ylim=(-tall / 2 - 1.3, tall / 2 + 1.7), title=title)
    ax.axis("off")
    return fig


def _baselines(ax, baselines: Mapping[str, float]) -> None:
    for (label, value), style in zip(baselines.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, label=f"{label} ({value:.3f})", **BASELINE_STYLE)


def as_published_curves(history: pd.DataFrame, checkpoints: pd.DataFrame,
                        baselines: Mapping[str, float], share_scored: float) -> Figure:
    """The as-published run: the article's training number per epoch next to the test
    numbers measured at a few epochs.

    Args:
        history: :func:`recsae.article.train_as_published`'s history.
        checkpoints: one row per measured epoch: ``epoch``, ``article_metric`` and
            ``global_rmse`` on the test ratings.
        baselines: label -> test RMSE, drawn as horizontal reference lines.
        share_scored: users with a test rating / users the article averages over (459/943
            on u1): the training number times it is drawn as a dotted line.
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    epochs = history["epoch"].to_numpy()
    train = history["article_train_metric"].to_numpy()
    ax.plot(epochs, train, color="tab:blue", label="article's metric, training rows (it prints this)")
    ax.plot(epochs, train * share_scored, color="tab:blue", linestyle=":",
            label=f"the same × {share_scored:.3f} (share of users with a test rating)")
    ax.plot(checkpoints["epoch"], checkpoints["article_metric"], "s", color="tab:blue",
            markerfacecolor="white", label="article's metric on the test (its reported number)")
    ax.plot(checkpoints["epoch"], checkpoints["global_rmse"], "o--", color="tab:red",
            linewidth=1, label="honest RMSE on the test ratings (measured at the dots only)")
    _baselines(ax, baselines)
    ax.set_xscale("log")
    ticks = sorted({1, *checkpoints["epoch"].tolist(), int(epochs[-1])})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="epoch (log scale)", ylabel="error (rating points)",
           title="As published: the article's number against the honest RMSE",
           ylim=(0.3, max(1.25, float(np.nanmax(train)) + 0.05)))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8,
              frameon=False)
    return fig


def corrected_curves(history: pd.DataFrame, best_epoch: int, cap: int,
                     baselines: Mapping[str, float], test_rmse: Mapping[int, float] | None = None,
                     ylim: tuple[float, float] = (0.75, 1.25)) -> Figure:
    """The corrected run: training and validation RMSE per epoch, the kept epoch, the
    article's epoch cap.

    Args:
        history: :func:`recsae.training.fit`'s history (``epoch, train_rmse, val_rmse``).
        best_epoch: the epoch whose weights were kept.
        cap: the epoch limit of the article (drawn as a vertical line).
        baselines: label -> test RMSE, horizontal reference lines.
        test_rmse: epoch -> the kept model's test RMSE, drawn as stars (optional).
        ylim: the y-range; epochs above it are cut off (the legend says so).
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["train_rmse"], color="tab:gray",
            label="training RMSE (ratings the net is fitted to)")
    ax.plot(history["epoch"], history["val_rmse"], color="tab:purple",
            label="validation RMSE (10% of each user's training ratings, held out)")
    best_val = float(history.loc[history["epoch"] == best_epoch, "val_rmse"].iloc[0])
    ax.plot([best_epoch], [best_val], "o", color="tab:purple", markersize=8,
            label=f"kept epoch {best_epoch} (lowest validation RMSE, {best_val:.3f})")
    ax.axvline(cap, color="tab:red", linewidth=1, label=f"the article's cap: {cap} epochs")
    for epoch, value in (test_rmse or {}).items():
        ax.plot([epoch], [value], "*", color="tab:red", markersize=11)
    if test_rmse:
        ax.plot([], [], "*", color="tab:red", markersize=11,
                label="test RMSE of the model kept by a run of that length")
    _baselines(ax, baselines)
    hidden = int((history["train_rmse"] > ylim[1]).sum())
    ax.set(xlabel="epoch", ylabel="RMSE (rating points)", ylim=ylim,
           title="Corrected: validation RMSE per epoch, and where 200 epochs stop")
    if hidden:
        ax.text(0.99, 0.98, f"training RMSE above {ylim[1]} in {hidden} early epoch(s): "
                "above the frame", transform=ax.transAxes, ha="right", va="top", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=8,
              frameon=False)
    return fig


def bottleneck_codes(coords: Mapping[str, np.ndarray], explained: Mapping[str, np.ndarray],
                     labels: pd.DataFrame) -> Figure:
    """Each user's code projected on its first two principal components, coloured by
    each column of ``labels``: one row of panels per model, one column per label.

    Args:
        coords: model name -> ``[n_users, 2]`` PCA coordinates.
        explained: model name -> ``[2]`` share of the code's variance per component.
        labels: ``[n_users, k]`` labels in row order: categorical columns are drawn in
            colours with a legend (see :func:`recsae.interpret.user_labels`), float
            columns on a colour scale.
    """
    rows, cols = len(coords), labels.shape[1]
    fig = Figure(figsize=(3.3 * cols, 3.0 * rows + 1.6), layout="constrained")
    # One sub-figure per model, titled with its name; the last one carries the legends.
    panels = fig.subfigures(rows, 1, squeeze=False, height_ratios=[1] * (rows - 1) + [1.45])
    for r, (model, xy) in enumerate(coords.items()):
        share = explained[model]
        panels[r, 0].suptitle(model, fontweight="bold")
        axes = panels[r, 0].subplots(1, cols, squeeze=False)[0]
        last = r == rows - 1
        for ax, column in zip(axes, labels.columns, strict=True):
            ax.set(xlabel=f"PC 1 ({share[0]:.0%} of the variance)",
                   ylabel=f"PC 2 ({share[1]:.0%})")
            ax.set_title(f"by {column}", fontsize=10)
            values = labels[column]
            if pd.api.types.is_float_dtype(values):  # a number per user: a colour scale
                points = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=values.to_numpy(),
                                    cmap="viridis")
                if last:
                    panels[r, 0].colorbar(points, ax=ax, location="bottom", label=column)
                continue
            categories = (list(values.cat.categories)
                          if isinstance(values.dtype, pd.CategoricalDtype)
                          else sorted(pd.unique(values), key=str))
            values = values.to_numpy()
            sizes = {category: int((values == category).sum()) for category in categories}
            # Larger groups first, so that no small group is hidden under a large one.
            for category in sorted(categories, key=lambda cat: -sizes[cat]):
                chosen = values == category
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, alpha=0.6,
                           color=f"C{categories.index(category)}")
            if last:  # the legend in the categories' own order, below the panel
                handles = [Line2D([], [], marker="o", linestyle="", color=f"C{k}")
                           for k in range(len(categories))]
                ax.legend(handles, [f"{cat} ({sizes[cat]})" for cat in categories],
                          loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2,
                          fontsize=8, frameon=False, title=f"{column} (users)")
    fig.suptitle("What the bottleneck learned: every user's 10-unit code, projected to 2-D")
    return fig
