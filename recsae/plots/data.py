"""Figures of the data notebooks (01-03): ratings, users, genres, the user matrix."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from recsae.user_matrix import ColumnIndex


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
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax_age, ax_occ = fig.subplots(1, 2, width_ratios=[1, 1.4])
    bins = np.arange(0, 80, 5)
    # Men as filled bars, women as an outline on top: no bar hides another, no mixed colour.
    for gender, label, color, kind in (("M", "men", "tab:blue", "bar"),
                                       ("F", "women", "tab:orange", "step")):
        ax_age.hist(users.loc[users["gender"] == gender, "age"], bins=bins, histtype=kind,
                    alpha=0.7 if kind == "bar" else 1.0, linewidth=2, color=color, label=label)
    ax_age.set(xlabel="age (years)", ylabel="users", title="Age by gender")
    ax_age.legend()
    occupations = users["occupation"].value_counts().sort_values()
    ax_occ.barh(occupations.index, occupations.to_numpy(), color="tab:green")
    ax_occ.set(xlabel="users", title="Occupation (as given in u.user)")
    ax_occ.tick_params(axis="y", labelsize=9)
    return fig


def genre_popularity(genre_counts: pd.Series, title: str = "Movies and ratings per genre",
                     xlabel: str = "count") -> Figure:
    """Horizontal bars of a ``{genre: count}`` series, largest at the top (``xlabel``: what
    is counted)."""
    counts = genre_counts.sort_values()
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.barh(counts.index, counts.to_numpy(), color="tab:purple")
    ax.set(xlabel=xlabel, title=title)
    return fig


def user_matrix_layout(matrix: np.ndarray, columns: ColumnIndex, n_users: int = 40,
                       title: str = "The user matrix",
                       value_range: tuple[float, float] | None = None) -> Figure:
    """Heatmap of the first ``n_users`` rows of a user matrix, one panel region per block.

    ``matrix`` ``[n_rows, columns.n_columns]`` (a train or test matrix); ``columns`` its
    :class:`~recsae.user_matrix.ColumnIndex`. The three blocks (ratings | genre columns |
    attributes) are drawn side by side on one axis, separated by vertical lines and labelled
    with their column counts. The rating block's 1,000+ columns are squeezed into a fixed
    width while the few side columns get room for their names, so the x axis is not to
    scale; a strip above the heatmap shows the blocks' true widths. One logarithmic colour
    scale for all blocks makes their ranges comparable; exact zeros (unrated movies, flags
    that are off) are white. ``value_range`` (smallest positive, largest value) fixes the
    colour scale, e.g. to compare two matrices; default: the shown rows' range.
    """
    rows = np.asarray(matrix[:n_users], dtype=np.float64)
    ids = columns.user_ids[:n_users]
    blocks = [("ratings", columns.rating_slice, 14.0, None),
              ("genre columns", columns.genre_slice, 0.32 * columns.n_genres, columns.genre_names),
              ("attributes", columns.attribute_slice, 0.32 * columns.n_attributes,
               columns.attribute_names)]
    blocks = [b for b in blocks if b[1].stop > b[1].start]
    positive = rows[rows > 0]
    low, high = value_range if value_range is not None else (positive.min(), positive.max())
    norm = LogNorm(vmin=low, vmax=high)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="white")

    fig = Figure(figsize=(12, 6), layout="constrained")
    strip, ax = fig.subplots(2, 1, height_ratios=[0.6, 8])
    left, ticks, labels = 0.0, [], []
    for name, cols, width, names in blocks:
        values = np.ma.masked_less_equal(rows[:, cols], 0)  # 0 = unrated / absent: white
        image = ax.imshow(values, extent=(left, left + width, len(rows), 0), aspect="auto",
                          cmap=cmap, norm=norm, interpolation="nearest")
        n = cols.stop - cols.start
        ax.text(left + width / 2, -1.0, f"{name}\n({n:,} columns)", ha="center", va="bottom",
                fontsize=9, fontweight="bold")
        if names is None:  # the rating block: one column per movie, in id order
            ax.text(left + width / 2, len(rows) + 0.8,
                    f"movie {columns.item_ids[0]:,} → movie {columns.item_ids[-1]:,} (id order)",
                    ha="center", va="top", fontsize=8)
        else:
            step = width / n
            ticks += list(left + step * (np.arange(n) + 0.5))
            labels += [str(label)[:22] for label in names]
        left += width
        if left < sum(b[2] for b in blocks):
            ax.axvline(left, color="red", linewidth=2)
    ax.set_xlim(0, left)
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    shown = np.arange(0, len(rows), 5)
    ax.set_yticks(shown + 0.5, [str(ids[i]) for i in shown])
    ax.set_ylabel(f"user id (first {len(rows)} users)")
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    bar.set_label("value (log scale); white = 0 (movie not rated, flag off)")

    # The blocks to scale: how many of the row's columns each block really is.
    start = 0
    for (name, cols, _, _), color in zip(blocks, ["tab:blue", "tab:orange", "tab:green"],
                                         strict=False):
        n = cols.stop - cols.start
        strip.barh(0, n, left=start, color=color, label=f"{name} ({n:,})")
        start += n
    strip.set(xlim=(0, columns.n_columns), yticks=[],
              title=f"{title}: one row per user; strip = blocks to scale, heatmap = blocks zoomed")
    strip.set_xlabel("column of the row (to scale)", fontsize=8)
    strip.tick_params(labelsize=7)
    strip.legend(loc="upper left", bbox_to_anchor=(1.01, 1.3), fontsize=7, frameon=False)
    return fig


def genre_shares_by_group(shares: pd.DataFrame, genres: Sequence[str],
                          group_order: Sequence[str], few_users: int = 20) -> Figure:
    """Mean share of liked movies per genre, by age group, women vs men, one panel per genre.

    ``shares``: one row per user with the columns ``genres`` (each user's share of liked
    movies in that genre, in [0, 1]), ``gender`` ('F'/'M') and ``age group`` (labels in
    ``group_order``). Each point is a group's mean; the bar spans the group's middle half of
    users (25th to 75th percentile), so the gap between women and men can be compared with
    the spread inside each group. The dashed line is the mean over all users. A group of
    fewer than ``few_users`` users is drawn with a hollow marker: its mean is noisy.
    """
    fig = Figure(figsize=(4 * len(genres), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(genres), sharey=True))
    x = np.arange(len(group_order))
    sizes = shares.groupby(["age group", "gender"], observed=False).size()
    for ax, genre in zip(axes, genres, strict=True):
        ax.axhline(shares[genre].mean(), color="gray", linestyle="--", linewidth=1,
                   label="all users' mean")
        for offset, (gender, label, color) in zip((-0.12, 0.12), (("F", "women", "tab:orange"),
                                                                  ("M", "men", "tab:blue")),
                                                  strict=True):
            by_group = shares.loc[shares["gender"] == gender].groupby("age group", observed=False)
            stats = by_group[genre].quantile([0.25, 0.5, 0.75]).unstack().reindex(group_order)
            mean = by_group[genre].mean().reindex(group_order)
            ax.errorbar(x + offset, mean, yerr=[mean - stats[0.25], stats[0.75] - mean],
                        fmt="o-", color=color, capsize=3, markersize=6,
                        label=f"{label}: group mean, bar = middle half of users")
            small = np.array([sizes.get((g, gender), 0) < few_users for g in group_order])
            ax.plot((x + offset)[small], mean.to_numpy()[small], "o", markersize=6,
                    markerfacecolor="white", markeredgecolor=color, zorder=3)
        ax.set_xticks(x, [f"{g}\n{sizes.get((g, 'F'), 0)} F\n{sizes.get((g, 'M'), 0)} M"
                          for g in group_order], fontsize=7)
        ax.set(title=genre, xlabel="age group (years); women (F) and men (M) in it")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("share of a user's liked movies in the genre")
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white",
                          markeredgecolor="gray"))
    labels.append(f"hollow: fewer than {few_users} users in the group")
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Genre shares by gender and age group (ML-100K users, their own ratings)")
    return fig
