"""Every figure of the tutorial. Each function returns a :class:`matplotlib.figure.Figure`.

This is the package's last layer: it may import any other module, and no other module
draws. Figures are built without pyplot, so a notebook shows each one exactly once (when it
is the cell's value) and no global figure state leaks between cells. One submodule per part
of the tutorial; every figure is also reachable as ``recsae.plots.<name>`` (one import line
per submodule below).
"""

from recsae.plots.data import (
    activity_histograms,
    genre_popularity,
    genre_shares_by_group,
    rating_distribution,
    user_demographics,
    user_matrix_layout,
)
from recsae.plots.evaluation import cold_start, cross_validation, scores_by_rating_count
from recsae.plots.experiments import bug_ladder, experiment_grid, metric_vs_columns, seed_noise
from recsae.plots.training import architecture, as_published_curves, bottleneck_codes, corrected_curves
