"""Every figure of the tutorial. Each function returns a :class:`matplotlib.figure.Figure`.

This is the package's last layer: it may import any other module, and no other module
draws. Figures are built without pyplot, so a notebook shows each one exactly once (when it is
the cell's value) and no global figure state leaks between cells.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from recsae.crossval import PUBLISHED_U1_RMSE, summarise


def rating_distribution(ratings: pd.DataFrame) -> Figure:
    """Bar chart of how often each rating 1..5 occurs. ``ratings``: ``[n, >=3]`` frame."""
    counts = ratings["rating"].value_counts().reindex(range(1, 6), fill_value=0)
    fig = Figure(figsize=(5, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(counts.index, counts.to_numpy(), color="tab:blue")
    ax.set(xlabel="rating", ylabel="number of ratings", title="Rating distribution")
    ax.set_xticks(range(1, 6))
    return fig


def activity_histograms(ratings: pd.DataFrame) -> Figure:
    """Histograms of ratings per user and per movie (log-scaled counts)."""
    fig = Figure(figsize=(9, 3), layout="constrained")
    for ax, column, label in zip(fig.subplots(1, 2), ["user_id", "item_id"], ["user", "movie"],
                                 strict=True):
        ax.hist(ratings.groupby(column).size(), bins=40, color="tab:gray")
        ax.set(xlabel=f"ratings per {label}", ylabel=f"number of {label}s", yscale="log")
    fig.suptitle("Most users and movies have few ratings")
    return fig


def user_demographics(users: pd.DataFrame) -> Figure:
    """Age histogram by gender and the occupation counts of an ML-100K user table."""
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax_age, ax_occ = fig.subplots(1, 2, width_ratios=[1, 1.4])
    bins = np.arange(0, 80, 5)
    for gender, color in (("M", "tab:blue"), ("F", "tab:orange")):
        ax_age.hist(users.loc[users["gender"] == gender, "age"], bins=bins, alpha=0.6,
                    color=color, label=gender)
    ax_age.set(xlabel="age", ylabel="users", title="Age by gender")
    ax_age.legend()
    occupations = users["occupation"].value_counts().sort_values()
    ax_occ.barh(occupations.index, occupations.to_numpy(), color="tab:green")
    ax_occ.set(xlabel="users", title="Occupation")
    ax_occ.tick_params(axis="y", labelsize=7)
    return fig


def genre_popularity(genre_counts: pd.Series, title: str = "Movies and ratings per genre") -> Figure:
    """Horizontal bars of a ``{genre: count}`` series, largest at the top."""
    counts = genre_counts.sort_values()
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(counts.index, counts.to_numpy(), color="tab:purple")
    ax.set(xlabel="count", title=title)
    return fig


def training_curves(history: pd.DataFrame, columns: dict[str, str], title: str,
                    ylabel: str = "RMSE") -> Figure:
    """Line plot of ``history``'s columns against its ``epoch`` column.

    Args:
        history: one row per epoch (a trainer's history DataFrame).
        columns: column name -> legend label, e.g. ``{"train_rmse": "train"}``.
        title, ylabel: axis texts.
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    for column, label in columns.items():
        ax.plot(history["epoch"], history[column], label=label)
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


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
