"""Figures of the evaluation notebooks (07-08): ranking, cross-validation, cold start."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from recsae.crossval import (
    PUBLISHED_RANDOM_CV_RMSE,
    PUBLISHED_SOURCES,
    PUBLISHED_U1_RMSE,
    summarise,
)

ZERO_AT = 0.5  # where a movie with no training rating is drawn on a log axis


def scores_by_rating_count(scores: np.ndarray, counts: np.ndarray, rated: np.ndarray,
                           min_ratings: int, k: int = 10, title: str | None = None) -> Figure:
    """One user's predicted score of every movie against the movie's training ratings.

    Args:
        scores: ``[n_items]`` predicted ratings for the user.
        counts: ``[n_items]`` training ratings of each movie (0 allowed: drawn at
            :data:`ZERO_AT` on the log axis, and said so on the axis).
        rated: ``[n_items]`` bool, the user's own training movies (not candidates, not drawn).
        min_ratings: the cut-off of the filtered list (a vertical line; the excluded side
            is shaded).
        k: list length; the top ``k`` without and with the cut-off are marked.

    A band shows the 5th-95th percentile of the scores per bin of rating counts: wide on
    the left, where a movie's output unit got little training signal.
    """
    scores, counts, rated = np.asarray(scores), np.asarray(counts), np.asarray(rated, bool)
    candidate = ~rated
    x = np.where(counts > 0, counts, ZERO_AT).astype(float)
    order = np.argsort(-np.where(candidate, scores, -np.inf), kind="stable")
    top_all = order[:k]
    eligible = candidate & (counts >= min_ratings)
    top_cut = np.argsort(-np.where(eligible, scores, -np.inf), kind="stable")[:k]

    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.axvspan(ZERO_AT * 0.8, min_ratings, color="0.92", zorder=0,
               label=f"excluded by the cut-off (< {min_ratings} ratings)")
    ax.axvline(min_ratings, color="0.3", ls="--", lw=1)
    ax.scatter(x[candidate], scores[candidate], s=8, color="0.55", alpha=0.6,
               label="a movie the user has not rated")
    edges = np.unique(np.geomspace(1, max(counts.max(), 2) + 1, 12).astype(int))
    low, high, mid = [], [], []
    for left, right in zip(edges[:-1], edges[1:], strict=True):
        inside = candidate & (counts >= left) & (counts < right)
        if inside.sum() >= 5:
            low.append(np.percentile(scores[inside], 5))
            high.append(np.percentile(scores[inside], 95))
            mid.append(np.sqrt(left * max(right - 1, left)))
    if mid:
        ax.fill_between(mid, low, high, color="tab:blue", alpha=0.15,
                        label="5th-95th percentile of the scores per bin")
    ax.scatter(x[top_all], scores[top_all], s=70, facecolors="none", edgecolors="tab:red",
               linewidths=1.5, label=f"top {k}, every movie a candidate")
    ax.scatter(x[top_cut], scores[top_cut], s=40, color="tab:green", marker="D",
               label=f"top {k}, movies with >= {min_ratings} ratings")
    ax.annotate(f"cut-off: {min_ratings} ratings", (min_ratings, 1.0),
                xycoords=("data", "axes fraction"), xytext=(4, -14),
                textcoords="offset points", fontsize=8)
    ticks = [t for t in (1, 10, 100, 1000) if t <= max(counts.max(), 1) * 1.5]
    ax.set_xticks([ZERO_AT, *ticks], ["0", *map(str, ticks)])
    ax.set(xlabel="training ratings of the movie (log scale; 0 drawn at the left edge)",
           ylabel="predicted rating (stars, unclipped)",
           title=title or "Predicted score vs how often the movie was rated in training")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _spread(values: list[float], gap: float) -> list[float]:
    """``values`` (sorted ascending) pushed apart to at least ``gap``, for text labels."""
    out: list[float] = []
    for value in values:
        out.append(max(value, out[-1] + gap) if out else value)
    return out


def _reference_lines(ax, lines: Mapping[str, tuple[float, str, str]], gap: float) -> None:
    """Horizontal lines labelled at the right edge: ``{label: (value, style, note)}``."""
    items = sorted(lines.items(), key=lambda item: item[1][0])
    places = _spread([value for _, (value, _, _) in items], gap)
    for (label, (value, style, note)), place in zip(items, places, strict=True):
        ax.axhline(value, ls=style, lw=1, color="0.35", zorder=1)
        source = PUBLISHED_SOURCES.get(label)
        text = f"{label} {value:.3f}{note}" + (f" ({source})" if source else "")
        ax.annotate(text, xy=(1.0, value), xycoords=("axes fraction", "data"),
                    xytext=(1.01, place), textcoords=("axes fraction", "data"), fontsize=7,
                    va="center", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})


def _per_model(ax, cv_table: pd.DataFrame, metric: str, order: list[str],
               top: float | None = None) -> None:
    """Mean ± std over folds (models with several folds) and the fold-1 value per model.

    Values above ``top`` (the axis is cut there) are drawn as a triangle at the top edge,
    labelled with their fold-1 value.
    """
    summary = summarise(cv_table).reindex(order)
    x = np.arange(len(order))
    several = summary["n_folds"].to_numpy() > 1
    means = summary[f"{metric}_mean"].to_numpy()
    ax.errorbar(x[several], means[several], yerr=summary[f"{metric}_std"].to_numpy()[several],
                fmt="o", capsize=5, color="tab:blue")
    fold_one = cv_table[cv_table["fold"].astype(str) == "1"].set_index("model")[metric]
    ax.plot(x + 0.15, fold_one.reindex(order).to_numpy(), "x", color="black", ms=8, mew=1.5)
    for position, value, mean in zip(x, fold_one.reindex(order).to_numpy(), means, strict=True):
        if top is not None and value > top:
            ax.plot(position, top, "^", color="tab:blue", ms=9, clip_on=False)
            ax.annotate(f"off the scale:\nmean {mean:.3f}\nfold 1 {value:.3f}", (position, top),
                        xytext=(8, -30), textcoords="offset points", ha="left", fontsize=8)
        if np.isnan(value):  # written upwards in the model's own column: never overlaps
            why = "ranks only" if metric in {"rmse", "mae"} else "not measured"
            ax.annotate(f"no {metric.upper()}: {why}", (position, 0.03),
                        xycoords=("data", "axes fraction"), ha="center", va="bottom",
                        rotation=90, fontsize=7, color="0.4")
    ax.set_xticks(x, [textwrap.fill(name, 22) for name in order], rotation=45, ha="right",
                  rotation_mode="anchor", fontsize=8)


def cross_validation(cv_table: pd.DataFrame, metric: str = "rmse",
                     published: Mapping[str, float] | None = None,
                     random_cv: Mapping[str, float] | None = None,
                     ranking_metric: str | None = "ndcg@10", title: str | None = None,
                     top: float | None = None, published_split: str = "u1") -> Figure:
    """Our results per model next to published numbers, each against its comparable one.

    Left: ``metric`` per model, mean ± std over the folds (blue, models run on several
    folds) and the fold-1 value (black cross; ``u1.test`` on ML-100K). Reference lines,
    labelled at the right with their sources: ``published`` (default
    :data:`PUBLISHED_U1_RMSE`, solid; compare with the crosses) and ``random_cv`` (default
    :data:`PUBLISHED_RANDOM_CV_RMSE`, dotted; compare with the means). A model without a
    ``metric`` (popularity) keeps its place, marked "ranks only". Right (if
    ``ranking_metric``): the same for the ranking metric, without reference lines
    (published ranking numbers use other protocols). ``top`` cuts the left axis there, to
    zoom on the differences that matter; a model above it (the global mean) is marked at
    the top edge with its fold-1 value. ``published_split`` names the split of the
    ``published`` numbers in their labels (e.g. ``"random 90/10"`` for ML-1M's).
    """
    if published is None:
        published = PUBLISHED_U1_RMSE if metric == "rmse" else {}
    if random_cv is None:
        random_cv = PUBLISHED_RANDOM_CV_RMSE if metric == "rmse" else {}
    order = list(pd.unique(cv_table["model"]))
    panels = [metric] + ([ranking_metric] if ranking_metric in cv_table.columns else [])
    fig = Figure(figsize=(13, 5.4), layout="constrained")
    axes = fig.subplots(1, len(panels), width_ratios=[1.5, 1][:len(panels)], squeeze=False)[0]
    n_folds = int(summarise(cv_table)["n_folds"].max())
    for ax, name in zip(axes, panels, strict=True):
        shown = order
        if name != metric:  # the ranking panel: only the models that were ranked
            ranked = cv_table.groupby("model", sort=False)[name].apply(lambda v: v.notna().any())
            shown = [m for m in order if ranked[m]]
            left_out = [m for m in order if not ranked[m]]
            if left_out:
                ax.set_xlabel("not ranked here: " + ", ".join(left_out), fontsize=7)
        _per_model(ax, cv_table[cv_table["model"].isin(shown)], name, shown,
                   top if name == metric else None)
        better = "lower" if name in {"rmse", "mae"} else "higher"
        ax.set(ylabel=f"test {name.upper()}", title=f"{name.upper()} ({better} is better)")
        ax.grid(axis="y", alpha=0.3)
    ax = axes[0]
    lines = {label: (value, "-", f", {published_split}") for label, value in published.items()}
    lines |= {label: (value, ":", ", random 5-fold CV") for label, value in random_cv.items()}
    low, high = ax.get_ylim()
    if lines:
        low = min(low, min(v for v, _, _ in lines.values()) - 0.01)
    high = high if top is None else top
    ax.set_ylim(low, high)
    if lines:
        _reference_lines(ax, lines, gap=0.035 * (high - low))
    handles = [Line2D([], [], color="tab:blue", marker="o", ls="",
                      label=f"ours: mean ± std over {n_folds} folds"),
               Line2D([], [], color="black", marker="x", ls="", mew=1.5,
                      label="ours: fold 1 (u1.test)")]
    if published:
        where = "u1.test" if published_split == "u1" else f"a {published_split} split"
        handles.append(Line2D([], [], color="0.35", ls="-",
                              label=f"published on {where}: compare with the crosses"))
    if random_cv:
        handles.append(Line2D([], [], color="0.35", ls=":",
                              label="published, random 5-fold CV: compare with the means"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    fig.suptitle(title or "Every model on the same folds: rating accuracy and top-10 ranking")
    return fig


def cold_start(table: pd.DataFrame, k: int = 10) -> Figure:
    """RMSE and NDCG@k against the budget, one line per model.

    ``table``: the output of :func:`recsae.coldstart.cold_start_study`. A model keeps its
    colour; the strict protocol's lines (autoencoders trained without the test users) are
    solid, and when the table also holds the other protocol (trained on the test users'
    full rows) those lines are dashed and say so. Models without an RMSE (popularity) are
    left out of the RMSE panel.
    """
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    ax_rmse, ax_ndcg = fig.subplots(1, 2)
    mixed = table["holdout_users"].nunique() > 1
    colours = {model: f"C{i}" for i, model in enumerate(pd.unique(table["model"]))}
    for (model, holdout), group in table.groupby(["model", "holdout_users"], sort=False):
        group = group.sort_values("budget")
        leaky = mixed and not bool(holdout)
        style = {"color": colours[model], "marker": "o", "linestyle": "--" if leaky else "-",
                 "alpha": 0.6 if leaky else 1.0,
                 "label": f"{model} (trained on the test users' full rows)" if leaky
                 else str(model)}
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
    strict = "test users unseen in training" if table["holdout_users"].all() or mixed else (
        "test users' full rows seen in training")
    fig.suptitle(f"Cold start on ML-100K u1 ({strict}): do side features help with few ratings?")
    return fig
