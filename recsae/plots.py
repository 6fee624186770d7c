"""Figures for the notebooks. Each function returns a :class:`matplotlib.figure.Figure`.

Figures are built without pyplot, so a notebook shows each one exactly once (when it is
the cell's value) and no global figure state leaks between cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


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
