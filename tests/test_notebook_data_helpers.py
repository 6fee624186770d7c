"""The figures of the data notebooks (01-03) on tiny synthetic inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from recsae import plots
from recsae.user_matrix import ColumnIndex


def _columns(n_genres: int = 2, n_attributes: int = 3) -> ColumnIndex:
    return ColumnIndex(np.arange(1, 7), np.arange(1, 11), tuple(f"g{k}" for k in range(n_genres)),
                       tuple(f"a{k}" for k in range(n_attributes)))


def test_user_matrix_layout_draws_each_block_with_boundaries():
    columns = _columns()
    matrix = np.zeros((6, columns.n_columns), dtype=np.float32)
    matrix[:, :10:3] = 4.0  # a few ratings
    matrix[:, columns.genre_slice] = 120.0  # as-published-sized counts
    matrix[:, columns.attribute_slice] = [1.0, 0.0, 0.25]
    fig = plots.user_matrix_layout(matrix, columns, n_users=4, title="t")
    assert isinstance(fig, Figure)
    strip, heatmap = fig.axes[:2]
    assert len(heatmap.images) == 3  # ratings | genres | attributes
    assert heatmap.images[0].get_array().shape == (4, 10)  # only the first n_users rows
    boundaries = [line for line in heatmap.lines if line.get_color() == "red"]
    assert len(boundaries) == 2
    norm = heatmap.images[0].norm
    assert (norm.vmin, norm.vmax) == (0.25, 120.0)  # one log scale over all blocks
    # zeros are masked (drawn white), values kept
    assert heatmap.images[2].get_array().mask[:, 1].all()
    assert sum(p.get_width() for p in strip.patches) == columns.n_columns  # to scale


def test_user_matrix_layout_ratings_only_and_fixed_range():
    columns = ColumnIndex(np.arange(1, 4), np.arange(1, 6), (), ())
    matrix = np.array([[1, 0, 5, 0, 2]] * 3, dtype=np.float32)
    fig = plots.user_matrix_layout(matrix, columns, value_range=(0.01, 200.0))
    heatmap = fig.axes[1]
    assert len(heatmap.images) == 1
    assert not [line for line in heatmap.lines if line.get_color() == "red"]
    assert (heatmap.images[0].norm.vmin, heatmap.images[0].norm.vmax) == (0.01, 200.0)


def test_genre_shares_by_group_marks_small_groups():
    rng = np.random.default_rng(0)
    groups = ["young", "old"]
    frame = pd.DataFrame({
        "Action": rng.uniform(0, 1, 50), "Romance": rng.uniform(0, 1, 50),
        "gender": ["F"] * 5 + ["M"] * 45,
        "age group": pd.Categorical(rng.choice(groups, 50), categories=groups),
    })
    fig = plots.genre_shares_by_group(frame, ["Action", "Romance"], groups, few_users=10)
    panels = fig.axes
    assert [ax.get_title() for ax in panels] == ["Action", "Romance"]
    mean_line = [line for line in panels[0].lines if line.get_linestyle() == "--"]
    assert mean_line and mean_line[0].get_ydata()[0] == pytest.approx(frame["Action"].mean())
    hollow = [line for line in panels[0].lines if line.get_markerfacecolor() == "white"]
    assert len(hollow[0].get_xdata()) == 2  # both women's groups have < 10 users
    assert len(hollow[1].get_xdata()) < 2  # the men's groups are larger
    assert hollow[0].get_zorder() > max(line.get_zorder() for line in panels[0].lines
                                        if line.get_markerfacecolor() != "white")  # drawn on top
    assert fig.legends and "fewer than 10 users" in " ".join(
        t.get_text() for t in fig.legends[0].get_texts())
