# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (recsae)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. The article's experiment table, regenerated
#
# **The question.** The article reports one table: three feature sets (ratings only;
# + genre counts; + genre counts + user attributes) × networks of 3, 5 and 7 layers, and
# concludes that the side features help and that depth helps only marginally. Does the
# table say that when it is measured honestly? Here is the grid again, for both recipes
# (as published and corrected, notebook 4), with the article's metric and the honest test
# RMSE side by side.
#
# **Which trainer ran which cell.** The article's exact dynamics (one user per step,
# gradients never reset) are fast enough for the 3-layer net, but every step updates every
# weight, and the 5- and 7-layer nets have more than ten times as many (printed below):
# too slow for a notebook. So every 3-layer as-published cell runs the exact dynamics, and
# the deeper as-published cells run a **stand-in**: the corrected trainer *with the
# article's settings* (RMSprop, learning rate 0.01, weight decay 0.5). The `trainer`
# column says which, for every row, and the figure hatches the stand-in cells. The
# stand-in runs for the article's headline feature set only by default; we expect it to
# collapse the same way for the others (Exercise 1 checks: `stand_ins = "all"` runs all six).
#
# **Which cells are trained at all.** The deeper nets are where the time goes: each has
# more than ten times the weights of the 3-layer net (printed below), and the corrected
# trainer updates all of them at every step. By default they are trained on the headline
# feature set only (ratings + genres + attributes), in both recipes; the 3-layer net gets
# every feature set. `deep = "all"` trains the 5- and 7-layer nets on the other two
# feature sets too (four more corrected cells, and four more stand-ins with
# `stand_ins = "all"`).

# %% tags=["parameters"]
seed = 0  # initial weights, validation split and batch order
epochs = 200  # per cell, as in the article
depths = [3, 5, 7]  # network depths (hidden sizes: recsae.model.article_hidden_sizes)
exact = "depth3"  # as-published cells with exact dynamics: "none", "headline", "depth3", "all"
stand_ins = "headline"  # other as-published cells, run with the stand-in: "all", "headline", "none"
deep = "headline"  # feature sets that get the 5- and 7-layer nets: "headline" or "all"
fold = 1  # ML-100K split u{fold}.base / u{fold}.test
threads = 1  # torch CPU threads per cell
workers = 2  # cells trained at once, in separate processes (the table does not depend on it)
data_dir = None  # download cache; None means $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
import pandas as pd

from recsae import ablation, baselines, data, experiments, metrics, plots, protocol, user_matrix
from recsae.course.cache import cached
from recsae.course.reporting import record_metrics

train, test = data.load_split(fold, data_dir)
reference_rmse = {
    "global mean": metrics.global_mean_rmse(train["rating"], test["rating"]),
    "each movie's mean": protocol.evaluate_rating_model(
        baselines.Popularity(score="mean", shrinkage=0).fit(train), test)["rmse"],
    "user + movie biases": protocol.evaluate_rating_model(
        baselines.BiasModel().fit(train), test)["rmse"],
}

# %% [markdown]
# ## Three networks
#
# Each network maps a user's row (ratings, then the side-feature columns) to itself
# through hidden layers of sigmoid units; the output layer is linear (notebook 4, section
# 1). The article gives the sizes of the 3- and 5-layer nets, and its names count
# differently: "3" counts the hidden layers, "5" and "7" the encoder's widths (the
# `nn.Linear` layers are in the table below). It names a 7-layer net without its sizes: **the
# 7-layer sizes are our choice** (`recsae.model`: the 5-layer net's outer width and
# bottleneck, two widths added). A weight count includes the biases, and it grows with
# the number of columns, because the first and the last layer connect to every one of
# them.

# %% tags=["nbval-check-output"]
matrices = {(recipe, features): user_matrix.build_user_matrices(train, test, recipe, features,
                                                                 data_dir=data_dir)
            for recipe in ("as_published", "corrected") for features in experiments.FEATURE_SETS}
widest = {recipe: matrices[(recipe, "ratings+genres+attributes")].columns.n_columns
          for recipe in ("as_published", "corrected")}
nets = experiments.architectures(
    {f"{recipe.replace('_', ' ')}, {n:,} columns": n for recipe, n in widest.items()},
    depths=depths)
print(nets.to_string(index=False, formatters={c: "{:,}".format for c in nets.columns
                                              if c.startswith("weights")}))

# %% [markdown]
# With all side features the 5-layer net has about 1.1 million weights and our 7-layer
# net about 1.2 million (the table above), against about 70,000 for the 3-layer net.
#
# ## The grid
#
# 2 recipes × 3 feature sets × 3 depths, less the cells left out (above): each cell trained
# for `epochs` epochs with the same seed and scored on `u{fold}.test`. The cells are
# independent, so `workers` processes train them side by side, the longest first. Each
# trained cell is also stored in a results cache (`recsae.course.cache`, in `build/cache/`):
# the headline as-published cell is notebook 4's 200-epoch run, read back from there when
# notebook 4 ran first; notebook 6 reads back the three cells it shares with this grid;
# and a re-run of this notebook with the same code and parameters reads all of them.

# %%
table = experiments.run_grid(train, test, depths=depths, epochs=epochs, exact=exact,
                             stand_ins=stand_ins, seed=seed, matrices=matrices, threads=threads,
                             workers=workers, progress=True, memo=cached, deep=deep)

# %% tags=["nbval-check-output"]
titles = {"recipe": {"as_published": "as published"},
          "features": {"ratings+genres": "+ genres",
                       "ratings+genres+attributes": "+ genres + attributes"},
          "trainer": {experiments.TRAINER_EXACT: "the article's loop",
                      experiments.TRAINER_ARTICLE_SETTINGS: "stand-in (article's settings)",
                      experiments.TRAINER_CORRECTED: "corrected trainer"}}
names = {"recipe": "recipe", "features": "features", "depth": "layers", "trainer": "trainer",
         "article_metric": "article's metric", "n_users_in_article_metric": "users counted",
         "global_rmse": "test RMSE", "global_mae": "test MAE",
         "per_user_rmse": "per-user RMSE"}
shown = table[list(names)].replace(titles)
print(shown.rename(columns=names).round(3).to_string(index=False))
print("\nreference predictors, test RMSE:")
for name, value in reference_rmse.items():
    print(f"  {name:<20} {value:.3f}")

# %% [markdown]
# So many numbers are hard to compare by eye; the figure draws them. The
# article's metric is on top, the honest test RMSE below. The third panel, hatched, holds
# the stand-in cells: they are not what the article ran. The dashed line with crosses on
# the top row is the article's metric of a predictor that knows nothing (the training
# mean for everyone; notebook 6 explains it); the reference lines on the bottom row are
# the test RMSE of three simple predictors.

# %%
constant = pd.concat([ablation.metric_artifacts(train, test, recipe, data_dir).assign(recipe=recipe)
                      for recipe in ("as_published", "corrected")])
plots.experiment_grid(table, reference_rmse, constant)

# %% [markdown]
# **The article's metric falls with every block of columns, and so does the know-nothing
# predictor's**: the top-row curves run parallel to the dashed line. The test RMSE
# (bottom row) rises with the published side features and barely moves (by thousandths)
# with the corrected ones, and no cell gets below the user + movie bias model's line.
#
# ## What the table really shows
#
# * **The article's metric falls as feature columns are added, for every recipe and
#   depth.** That is the pattern the article read as "side features help". But it falls
#   just as much when the predictions do not improve at all: the know-nothing predictor's
#   dashed line falls in step. Adding columns adds non-zero entries to the denominator,
#   and adding attributes makes all 943 users count (the `users counted` column), the
#   943 − 459 = 484 without a test rating with an error of exactly zero. Notebook 6
#   takes this apart.
# * **The honest RMSE does not fall with side features by more than noise.** For the as-published recipe the
#   genre and attribute columns are taken from other movies and other people (ML-1M ids)
#   and are unscaled; they make the test RMSE *worse* (0.974 → 1.038 in the table), level
#   with predicting each movie's mean rating (1.033). For the corrected recipe, with the
#   right, scaled features, they change the 3-layer net's RMSE by a few thousandths
#   (0.967 → 0.964); notebook 6 measures how much a change of seed alone moves it.
# * **Depth does not help either**: with every side feature, the corrected 5-layer net
#   lands within a hundredth of the 3-layer one (0.971 against 0.964), and our 7-layer net
#   falls back to about the movies' averages (1.037 against 1.033). With 1.2 million weights and 80,000 training ratings
#   (notebook 1), the deepest net learns little beyond each movie's mean.
# * **No cell beats the bias model** (0.960) at this seed: one number per user and one
#   per movie (notebook 8 compares the autoencoders with tuned baselines of this kind).
# * **The stand-in rows say nothing about the article's deep nets.** With gradients reset
#   every step, weight decay 0.5 swamps the small per-batch gradient and the network
#   collapses: a test RMSE above 2, far worse than the global mean (a prediction that
#   ignores every input), with predictions about 1.8 stars from the truth on average
#   (the test MAE).
#   The article's own loop escapes that only because its never-reset gradient *sum* keeps
#   growing until it outweighs the decay (notebook 6, rung 5).

# %%
headline = table.set_index(["recipe", "features", "depth"])
record_metrics({
    f"{recipe}.{features.replace('+', '_')}.d{depth}.{name}": row[name]
    for (recipe, features, depth), row in headline.iterrows()
    for name in ("article_metric", "global_rmse")
} | {"global_mean.global_rmse": reference_rmse["global mean"],
     "item_mean.global_rmse": reference_rmse["each movie's mean"],
     "bias_model.global_rmse": reference_rmse["user + movie biases"]}, echo=False)

# %% [markdown]
# ## Summary
#
# - The article's table, regenerated: 2 recipes × 3 feature sets × 3 depths, each cell
#   scored with the article's metric and with the honest test RMSE.
# - The article's metric falls with every block of side-feature columns, exactly as it
#   does for a predictor that knows nothing: the table's "side features help" is an
#   artefact of the metric.
# - Measured honestly, the published side features make the RMSE worse, and correct ones
#   change it by thousandths; depth does not help, and the deepest net falls back to the
#   movies' means.
# - At this seed, every autoencoder cell is beaten by a user + movie bias model.
# - The as-published 5- and 7-layer cells are stand-ins (hatched): the article's exact
#   loop is too slow for them here, and the stand-in collapses.
#
# ## Exercises
#
# 1. Set `exact = "all"` in the parameters cell (several minutes per deep cell: the exact
#    loop's step costs about as much as the net has weights, so by extrapolation from
#    `docs/benchmarks.md`'s 32.3 s per 3-layer run, about 8 minutes for a 5-layer one) and
#    re-run: do the article's own dynamics rescue the 5- and 7-layer nets from the
#    collapse that the stand-in shows?
# 2. Set `seed = 1` and re-run. Which differences in the table survive the change of
#    seed? Compare with notebook 6's measurement of seed noise.
# 3. Set `depths = [3, 5]` and `epochs = 400`: the corrected trainer may stop early, so
#    does a longer limit help the 5-layer net, or does it stop before 200 anyway (the
#    table's `best_epoch` column, `table["best_epoch"]`, says)?
# 4. Set `fold = 2` (up to 5): does the ordering of the cells by test RMSE hold on another
#    split?
# 5. *Open question:* the corrected trainer stops on a validation split carved from the
#    training ratings. Would a different hyper-parameter for each depth (learning rate,
#    dropout) change the conclusion "depth does not help", and how would you choose it
#    without looking at `u1.test`?
#
# ## Further reading
#
# - Sedhain et al. (2015), "AutoRec: Autoencoders Meet Collaborative Filtering": with one
#   hidden layer of 500 units, the item-based variant (I-AutoRec, notebook 8's model) beats
#   matrix factorisation on ML-1M; the user-based one, the article's kind, does not.
# - Kuchaiev & Ginsburg (2017), "Training Deep AutoEncoders for Collaborative Filtering":
#   deep autoencoders *can* help, but only with SELU activations, heavy dropout, a masked
#   MSE and dense re-feeding, on far more data (Netflix): the contrast with this table.
# - Wu et al. (2016), CDAE, and Liang et al. (2018), Mult-VAE: autoencoders trained for
#   ranking (top-N) rather than rating prediction; notebook 7 asks the ranking question.
# - Rendle et al. (2019), "On the Difficulty of Evaluating Baselines": well-tuned simple
#   baselines beat many published deep models, as the bias model does here.
