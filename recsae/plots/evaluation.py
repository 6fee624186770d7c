"""Figures of the evaluation notebooks (07-08): ranking, cross-validation, cold start."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recsae.crossval import PUBLISHED_U1_RMSE, summarise


def cross_validation(cv_table: pd.DataFrame, metric: str = "rmse",
                          published: Mapping[str, float] | None = None,
                          title: str | None = None) -> Figure:
    """Mean ± std of ``metric`` per model (error bars), fold 1 marked, published lines.

    Args:
        cv_table: the output of :func:`recsae.crossval.cross_validate`.
        published: ``{label: value}`` drawn as dashed horizontal lines and labelled as
            published (default: :data:`PUBLISHED_U1_RMSE` when ``metric == "rmse"``).
            They are u1.test numbers, hence the fold-1 marker next to each mean.
    """
    summary = summarise(cv_table)
    if published is None:
        published = PUBLISHED_U1_RMSE if metric == "rmse" else {}
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(summary))
    folds = sorted(cv_table["fold"].unique(), key=str)
    ax.errorbar(x, summary[f"{metric}_mean"], yerr=summary[f"{metric}_std"].fillna(0.0), fmt="o",
                capsize=5, color="tab:blue",
                label=f"ours: mean ± std over {len(folds)} fold(s)")
    fold_one = cv_table[cv_table["fold"].astype(str) == "1"].set_index("model")[metric]
    if not fold_one.empty:
        ax.plot(x + 0.15, fold_one.reindex(summary.index), "x", color="black",
                label="ours: fold 1 (u1.test)")
    for number, (label, value) in enumerate(published.items()):
        ax.axhline(value, ls="--", lw=0.8, color=f"C{(number % 8) + 2}",
                   label=f"published: {label} {value:.3f}")
    ax.set_xticks(x, summary.index, rotation=20, ha="right")
    ax.set(ylabel=metric, title=title or f"{metric} by model (cross-validation)")
    ax.legend(fontsize=7, loc="best")
    return fig


def cold_start(table: pd.DataFrame, k: int = 10) -> Figure:
    """RMSE and NDCG@k against the budget, one line per model.

    ``table``: the output of :func:`recsae.coldstart.cold_start_study`, or several concatenated. A model keeps
    its colour; when the table mixes ``holdout_users`` values the held-out protocol's lines
    are dashed. Models without an RMSE (popularity) are left out of the RMSE panel.
    """
    fig = Figure(figsize=(10, 5), layout="constrained")
    ax_rmse, ax_ndcg = fig.subplots(1, 2)
    mixed = table["holdout_users"].nunique() > 1
    colours = {model: f"C{i}" for i, model in enumerate(pd.unique(table["model"]))}
    for (model, holdout), group in table.groupby(["model", "holdout_users"], sort=False):
        group = group.sort_values("budget")
        held = mixed and bool(holdout)
        style = {"color": colours[model], "marker": "o", "linestyle": "--" if held else "-",
                 "label": f"{model} (users held out)" if held else str(model)}
        if group["rmse"].notna().any():
            ax_rmse.plot(group["budget"], group["rmse"], **style)
        ax_ndcg.plot(group["budget"], group[f"ndcg@{k}"], **style)
    budgets = sorted(table["budget"].unique())
    ax_rmse.set(xlabel="training ratings kept per test user", ylabel="test RMSE (clipped)",
                title="Rating accuracy (lower is better)", xticks=budgets)
    ax_ndcg.set(xlabel="training ratings kept per test user", ylabel=f"NDCG@{k}",
                title=f"Top-{k} ranking (higher is better)", xticks=budgets)
    handles, labels = ax_ndcg.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8)
    fig.suptitle("Cold start on ML-100K u1: do side features help with few ratings?")
    return fig
