"""Figures of the experiment notebooks (05-06): the article's table and what each bug costs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

DEPTH_STYLE = {3: ("tab:blue", "o"), 5: ("tab:orange", "s"), 7: ("tab:green", "D")}
FEATURE_LABELS = {"ratings": "ratings", "ratings+genres": "+ genres",
                  "ratings+genres+attributes": "+ genres\n+ attributes"}
# Reference lines: the baselines' test RMSE, one style each.
BASELINE_STYLES = ({"color": "black", "linestyle": "--"}, {"color": "dimgray", "linestyle": ":"},
                   {"color": "gray", "linestyle": "-."})
STAND_IN = "corrected (article settings)"  # recsae.experiments.TRAINER_ARTICLE_SETTINGS
METRIC_LABEL = "article's metric (not an RMSE)"
RMSE_LABEL = "test RMSE (stars)"


def _hatch(ax) -> None:
    """Hatch an axes' background: what it shows is a stand-in."""
    ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, hatch="//",
                           edgecolor="0.85", linewidth=0, zorder=0))


def _span(values, pad: float = 0.08) -> tuple[float, float]:
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    low, high = values.min(), values.max()
    margin = max(high - low, 0.05) * pad
    return low - margin, high + margin


def experiment_grid(table: pd.DataFrame, baselines: Mapping[str, float] | None = None,
                    constant_metric: pd.DataFrame | None = None) -> Figure:
    """The experiment table as dots: the article's metric (top) and the test RMSE (bottom)
    per feature set, one line per depth, in three panels: the as-published cells trained
    with the article's exact loop, the corrected recipe, and the stand-in cells (hatched).

    Args:
        table: :func:`recsae.experiments.run_grid`'s output.
        baselines: label -> test RMSE, drawn as reference lines on the RMSE panels
            (e.g. ``{"global mean": 1.154, "movie mean": 1.033}``).
        constant_metric: the article's metric of the global-mean predictor per ``recipe``
            and ``features`` (:func:`recsae.ablation.metric_artifacts`, both recipes),
            drawn as a reference line on the metric panels.
    """
    baselines = dict(baselines or {})
    stand_in = table["trainer"] == STAND_IN
    panels = [("As published: the article's loop", table[~stand_in & (table["recipe"] == "as_published")],
               "as_published"),
              ("Corrected recipe", table[table["recipe"] == "corrected"], "corrected")]
    if stand_in.any():
        panels.append(("Stand-in, not the article's loop:\nas published, corrected mechanics",
                       table[stand_in], "as_published"))
    panels = [p for p in panels if len(p[1])]
    features = list(dict.fromkeys(table["features"]))
    x = np.arange(len(features))
    # The depths side by side around each feature set, so no marker hides another.
    dodge = {d: 0.1 * (i - (len(DEPTH_STYLE) - 1) / 2) for i, d in enumerate(DEPTH_STYLE)}
    # The real RMSE panels zoom on the cells; a reference line far above them is named in
    # the legend instead of stretching the axis.
    top = max(table.loc[~stand_in, "global_rmse"], default=np.inf) + 0.02
    shown = {name: v for name, v in baselines.items() if v <= top}
    fig = Figure(figsize=(4.2 * len(panels), 7.2), layout="constrained")
    axes = fig.subplots(2, len(panels), squeeze=False)
    rows = (("article_metric", METRIC_LABEL), ("global_rmse", RMSE_LABEL))
    real = table[~stand_in]
    for col, (title, sub, recipe) in enumerate(panels):
        is_stand_in = bool((sub["trainer"] == STAND_IN).all())
        for row, (metric, label) in enumerate(rows):
            ax = axes[row, col]
            if is_stand_in:
                _hatch(ax)
            for depth in sorted(sub["depth"].unique()):
                cells = sub[sub["depth"] == depth].set_index("features")
                colour, marker = DEPTH_STYLE.get(int(depth), ("tab:gray", "o"))
                ax.plot(x + dodge.get(int(depth), 0.0),
                        [cells[metric].get(f, np.nan) for f in features], color=colour,
                        marker=marker, markersize=7, linewidth=1.5,
                        markerfacecolor="white" if is_stand_in else colour)
            if metric == "global_rmse":
                for name, style in zip(baselines, BASELINE_STYLES, strict=False):
                    if is_stand_in or name in shown:
                        ax.axhline(baselines[name], linewidth=1, **style)
            elif constant_metric is not None:
                const = constant_metric[constant_metric["recipe"] == recipe].set_index("features")
                ax.plot(x, [const["article_metric"].get(f, np.nan) for f in features],
                        color="black", linestyle="--", marker="x", linewidth=1)
            if is_stand_in:
                values = list(sub[metric]) + (list(baselines.values()) if row else [])
                if not row and constant_metric is not None:
                    values += list(constant_metric["article_metric"])
                ax.set_ylim(0, 1.08 * max(values))
            else:
                values = list(real[metric])
                if row:
                    values += list(shown.values())
                elif constant_metric is not None:
                    values += list(constant_metric["article_metric"])
                ax.set_ylim(*_span(values))
            ax.set_xticks(x, [FEATURE_LABELS.get(f, f) for f in features])
            ax.set_xlim(-0.4, len(features) - 0.6)
            if col == 0 or is_stand_in:
                ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        axes[0, col].set_title(title, fontsize=10)
    # Share the y range of the real panels, row by row.
    for row in range(2):
        real_axes = [axes[row, c] for c, p in enumerate(panels)
                     if not (p[1]["trainer"] == STAND_IN).all()]
        low = min(a.get_ylim()[0] for a in real_axes)
        high = max(a.get_ylim()[1] for a in real_axes)
        for a in real_axes:
            a.set_ylim(low, high)
    handles = [Line2D([], [], color=c, marker=m, label=f"{d} layers")
               for d, (c, m) in DEPTH_STYLE.items() if d in set(table["depth"])]
    if stand_in.any():
        handles.append(Line2D([], [], color="gray", marker="o", markerfacecolor="white",
                              label="stand-in cell (hatched panel)"))
    if constant_metric is not None:
        handles.append(Line2D([], [], color="black", linestyle="--", marker="x",
                              label="global-mean predictor, article's metric"))
    handles += [Line2D([], [], linewidth=1, **style, label=f"{name} (test RMSE {value:.3f}"
                       + (")" if name in shown else "; above the axis except in the stand-in panel)"))
                for (name, value), style in zip(baselines.items(), BASELINE_STYLES, strict=False)]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
               frameon=False)
    fig.suptitle("The article's table regenerated: u1.test, 200 epochs, one seed")
    return fig


def metric_vs_columns(artifacts: pd.DataFrame) -> Figure:
    """One constant prediction scored against test matrices with more and more columns.

    Args:
        artifacts: :func:`recsae.ablation.metric_artifacts`'s output (one row per feature
            set: ``n_columns``, ``article_metric``, ``article_metric_rated_users``,
            ``n_users_in_article_metric``, ``global_rmse``).
    """
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(artifacts))
    ax.plot(x, artifacts["global_rmse"], color="black", marker="o", label="test RMSE (honest)")
    ax.plot(x, artifacts["article_metric_rated_users"], color="tab:orange", marker="s",
            linestyle="--", label="article's metric, only users with test ratings")
    ax.plot(x, artifacts["article_metric"], color="tab:red", marker="D",
            label="article's metric, every user it counts")
    for xi, (value, n) in enumerate(zip(artifacts["article_metric"],
                                        artifacts["n_users_in_article_metric"], strict=True)):
        ax.annotate(f"{value:.3f}\n({n} users)", (xi, value), textcoords="offset points",
                    xytext=(0, -12), ha="center", va="top", fontsize=8, color="tab:red")
    ax.set_xticks(x, [f"{FEATURE_LABELS.get(f, f)}\n{n:,} columns".replace("\n+", " +")
                      for f, n in zip(artifacts["features"], artifacts["n_columns"], strict=True)])
    ax.set_xlim(-0.4, len(artifacts) - 0.6)
    ax.set_ylim(0, 1.1 * float(artifacts[["global_rmse", "article_metric"]].max().max()))
    ax.set_ylabel("error of the same predictions (stars)")
    ax.set_xlabel("columns of the test matrix the article scores against")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    ax.set_title("Predicting the mean training rating for everyone: only the metric moves")
    return fig


def bug_ladder(ladder: pd.DataFrame, baselines: Mapping[str, float] | None = None,
               reference: str = "4.", rmse_max: float = 1.2) -> Figure:
    """The ladder of fixes as two dot plots, one row per rung: the test RMSE (zoomed; a
    value past ``rmse_max`` is drawn at the edge and labelled) and the article's metric.

    Args:
        ladder: :func:`recsae.ablation.bug_ladder`'s output.
        baselines: label -> test RMSE, drawn as reference lines (global mean, movie mean).
        reference: the rung drawn as the reference (its name's start).
        rmse_max: the RMSE axis' upper end.
    """
    baselines = dict(baselines or {})
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    y = np.arange(len(ladder))[::-1]
    is_ref = ladder["rung"].str.startswith(reference).to_numpy()
    colours = np.where(is_ref, "tab:gray", "tab:blue")
    rmse = ladder["global_rmse"].to_numpy(dtype=float)
    low = min(min(rmse), *baselines.values()) - 0.03 if baselines else min(rmse) - 0.03
    clipped = rmse > rmse_max
    left.scatter(rmse[~clipped], y[~clipped], c=colours[~clipped], s=60, zorder=3)
    left.scatter(np.full(clipped.sum(), rmse_max), y[clipped], c=colours[clipped], s=70,
                 marker=">", zorder=3)
    for yi, value, off_axis in zip(y, rmse, clipped, strict=True):
        if off_axis:
            left.annotate(f"{value:.2f}: collapsed (off the axis) \u2192", (rmse_max, yi),
                          xytext=(-6, 0), textcoords="offset points", ha="right", va="center",
                          fontsize=8)
        else:
            left.annotate(f"{value:.3f}", (value, yi), xytext=(0, 7), textcoords="offset points",
                          ha="center", fontsize=8)
    for value, style in zip(baselines.values(), BASELINE_STYLES, strict=False):
        left.axvline(value, linewidth=1, **style)
    ref_rmse = rmse[is_ref]
    if len(ref_rmse):
        left.axvline(ref_rmse[0], color="tab:gray", linewidth=4, alpha=0.25)
    left.set_xlim(low, rmse_max + 0.01)
    left.set_xlabel("test RMSE (stars; lower is better)")
    left.set_title("Honest: test RMSE")
    metric = ladder["article_metric"].to_numpy(dtype=float)
    right.scatter(metric, y, c=colours, s=60, marker="D", zorder=3)
    for yi, value in zip(y, metric, strict=True):
        right.annotate(f"{value:.3f}", (value, yi), xytext=(0, 7), textcoords="offset points",
                       ha="center", fontsize=8)
    right.set_xlim(0, 1.1 * metric.max())
    right.set_xlabel("article's metric (not an RMSE)")
    right.set_title("What the article would have reported")
    left.set_yticks(y, ladder["rung"])
    left.set_ylim(y.min() - 0.6, y.max() + 0.6)
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color="tab:blue", marker="o", linestyle="", label="rung"),
               Line2D([], [], color="tab:gray", marker="o", linestyle="",
                      label="rung 4: the ratings-only reference"),
               Patch(color="tab:gray", alpha=0.25, label="reference's RMSE")]
    handles += [Line2D([], [], linewidth=1, label=f"{name} (test RMSE)", **style)
                for (name, _), style in zip(baselines.items(), BASELINE_STYLES, strict=False)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize=9)
    fig.suptitle("The ladder of fixes: 3-layer net, u1.test, 200 epochs, one seed")
    return fig


def seed_noise(table: pd.DataFrame, baselines: Mapping[str, float] | None = None) -> Figure:
    """Paired dots per seed: test RMSE with the scaled side features and with ratings only.

    Args:
        table: :func:`recsae.ablation.seed_noise`'s output.
        baselines: label -> test RMSE, drawn as reference lines where they fall within
            the runs' range (e.g. the bias model).
    """
    fig = Figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(table))[::-1]
    for yi, a, b in zip(y, table["with side features"], table["ratings only"], strict=True):
        ax.plot([a, b], [yi, yi], color="lightgray", zorder=1)
    ax.scatter(table["with side features"], y, color="tab:blue", zorder=2,
               label="with scaled side features")
    ax.scatter(table["ratings only"], y, color="tab:gray", marker="s", zorder=2,
               label="ratings only")
    runs = table[["with side features", "ratings only"]].to_numpy()
    span = runs.max() - runs.min()
    for (name, value), style in zip((baselines or {}).items(), BASELINE_STYLES, strict=False):
        if runs.min() - span <= value <= runs.max() + span:
            ax.axvline(value, linewidth=1, label=f"{name} (test RMSE)", **style)
    ax.set_yticks(y, [f"seed {s}" for s in table["seed"]])
    ax.set_ylim(y.min() - 0.6, y.max() + 1.4)
    ax.set_xlabel("test RMSE (stars)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", ncols=3, frameon=False, fontsize=8)
    ax.set_title("Same net and trainer, another seed: how much the RMSE moves")
    return fig
