"""Figures of the experiment notebooks (05-06): the article's table and its bugs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def experiment_grid(table: pd.DataFrame, baseline_rmse: float | None = None) -> Figure:
    """Grouped bars: the article's metric (top) and the global test RMSE (bottom), one
    column of panels per recipe, feature sets on the x axis, one bar per depth.

    Args:
        table: :func:`recsae.experiments.run_grid`'s output.
        baseline_rmse: draw the global-mean baseline's RMSE on the RMSE panels.

    Returns:
        The matplotlib Figure (not shown; a notebook displays it).
    """
    recipes = list(dict.fromkeys(table["recipe"]))
    feature_sets = list(dict.fromkeys(table["features"]))
    depths = sorted(table["depth"].unique())
    fig = Figure(figsize=(5.5 * len(recipes), 7), layout="constrained")
    axes = fig.subplots(2, len(recipes), squeeze=False, sharey="row")
    width = 0.8 / max(len(depths), 1)
    x = np.arange(len(feature_sets))
    for col, recipe in enumerate(recipes):
        sub = table[table["recipe"] == recipe]
        for row, (metric, label) in enumerate((("article_metric", "article's metric"),
                                               ("global_rmse", "global test RMSE"))):
            ax = axes[row, col]
            for k, depth in enumerate(depths):
                cells = sub[sub["depth"] == depth].set_index("features")
                heights = [cells[metric].get(f, np.nan) for f in feature_sets]
                ax.bar(x + (k - (len(depths) - 1) / 2) * width, heights, width,
                       label=f"{depth} layers")
            if metric == "global_rmse" and baseline_rmse is not None:
                ax.axhline(baseline_rmse, color="black", linestyle="--", linewidth=1,
                           label="global mean")
            ax.set_xticks(x, [f.replace("+", "\n+") for f in feature_sets])
            ax.set_ylabel(label)
            ax.set_title(f"{recipe}: {label}")
            ax.grid(axis="y", alpha=0.3)
        axes[0, col].legend(fontsize="small")
    axes[1, 0].legend(fontsize="small")
    return fig
