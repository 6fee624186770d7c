# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (recsae)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Beyond the article: baselines, cross-validation, cold start, and how far autoencoders go
#
# Three questions the article leaves open:
#
# 1. **How good is a 0.97 RMSE?** Compare with simple baselines and with published results,
#    on all five ML-100K folds (`u1`..`u5`), not just `u1`.
# 2. **Do side features help where they should?** Their promise is for users with few
#    ratings. We keep only 0, 1, 3, 5 or 10 training ratings of each test user and compare
#    an autoencoder with and without genre shares and attributes.
# 3. **How good can an autoencoder get, and what is the best honest number here?** The
#    item-based autoencoder (I-AutoRec) and its blend with matrix factorisation, next to
#    the strongest non-neural baseline we know of on this split, a Bayesian factorization
#    machine, with every choice for fold $k$ made on a validation split of `u{k}.base`.

# %% tags=["parameters"]
seed = 0  # model seeds and the cold-start sampling
dataset = "ml-100k"  # "ml-100k" (folds u1..u5) or "ml-1m" (seeded random 90/10 splits)
folds = [1, 2, 3, 4, 5]  # which folds to cross-validate the untuned models on
tuned_folds = [1]  # folds to retrain the per-fold tuned I-AutoRec + MF blend on, live
bfm_sweeps = 64  # Gibbs sweeps of the live Bayesian FMs (the search's: 512)
include_bayes_fm = True  # the two Bayesian FMs, trained in a second process
epochs = 200  # the user autoencoder's maximum epochs
include_item_autoencoders = True  # I-AutoRec and the tuned blend (most of the time here)
budgets = [0, 1, 3, 5, 10]  # training ratings kept per test user in the cold-start study
threads = 1  # torch CPU threads
data_dir = None  # download cache; None means $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import pandas as pd
import torch

from recsae import baselines, blend, coldstart, crossval, data, plots, search, training, tuned
from recsae.course.cache import cached
from recsae.course.reporting import metric_key, record_metrics
from recsae.user_autoencoder import UserAutoencoder

torch.set_num_threads(threads)
config = replace(training.TrainConfig(), epochs=epochs, seed=seed)

# %% [markdown]
# ## 1. Every model, the same folds, the same code
#
# **The models.** Write $r_{ui}$ for user $u$'s rating of movie $i$, $\Omega$ for the set
# of observed $(u, i)$ pairs in a fold's training part, and $\mu$ for their mean rating.
# Every model below predicts $\hat r_{ui}$ and is trained on $\Omega$ only.
#
# *User + item bias* (Koren 2010): each user rates a little above or below the mean, and
# each movie is rated a little above or below it:
#
# $$\hat r_{ui} = \mu + b_u + b_i, \qquad \min_{b} \sum_{(u,i) \in \Omega} (r_{ui} - \mu - b_u - b_i)^2 + \lambda_u \sum_u b_u^2 + \lambda_i \sum_i b_i^2$$
#
# It learns one number per user and one per movie (alternating closed-form least squares,
# as Surprise's `BaselineOnly`; $\lambda_u = 15$, $\lambda_i = 10$, the defaults of
# `baselines.BiasModel`, which are Surprise's).
#
# *Biased matrix factorisation* (Funk SVD, as Surprise's `SVD`) adds a dot product of
# learned factor vectors $p_u, q_i \in \mathbb{R}^d$ ($d = 100$), the user's tastes and
# the movie's traits:
#
# $$\hat r_{ui} = \mu + b_u + b_i + p_u^\top q_i, \qquad \min_{b, p, q} \sum_{(u,i) \in \Omega} \left[(r_{ui} - \hat r_{ui})^2 + \lambda \left(b_u^2 + b_i^2 + \lVert p_u \rVert^2 + \lVert q_i \rVert^2\right)\right]$$
#
# trained by stochastic gradient descent over the ratings (20 epochs, $\lambda = 0.02$: the
# defaults of `baselines.BiasedMF`, which are Surprise's).
#
# *I-AutoRec* (Sedhain et al. 2015) is an autoencoder like the article's, turned around:
# its input is a **movie's** column of ratings $r^{(i)} \in \mathbb{R}^{n_\text{users}}$
# (0 where unobserved), not a user's row. One sigmoid hidden layer of $h$ units
# reconstructs it, and only the observed entries count in the loss:
#
# $$\hat r^{(i)} = V \, \sigma(W r^{(i)} + b) + c, \qquad \min_{W, V, b, c} \sum_{i} \sum_{u : (u,i) \in \Omega} \left(r_{ui} - \hat r^{(i)}_u\right)^2 + \frac{\lambda}{2} \left(\lVert W \rVert_F^2 + \lVert V \rVert_F^2\right)$$
#
# It learns $W$ ($h \times n_\text{users}$), $V$ ($n_\text{users} \times h$) and the
# biases; the prediction $\hat r_{ui}$ is entry $u$ of movie $i$'s reconstruction. Its
# $h$, $\lambda$ and number of full-batch Rprop steps are chosen per fold on a validation
# split (part 3).
#
# *Bayesian factorization machine* (Rendle 2010; `myfm`). Each rating is a sparse feature
# vector $x \in \mathbb{R}^p$: the user's one-hot, the movie's one-hot, the set of movies
# the user rated in training (weights $1/\sqrt{|N(u)|}$) and the set of users who rated
# the movie (weights $1/\sqrt{|N(i)|}$): the "SVD++ flipped" features of Rendle, Zhang
# and Koren (2019). The model has a bias, a weight per feature and a factor vector
# $v_j \in \mathbb{R}^{10}$ per feature, and every pair of features interacts:
#
# $$\hat r(x) = w_0 + \sum_{j=1}^{p} w_j x_j + \sum_{j=1}^{p} \sum_{j' > j} \langle v_j, v_{j'} \rangle \, x_j x_{j'}$$
#
# With only the two one-hots this is biased MF; the implicit sets make a user's factor
# also depend on *which* movies they rated (SVD++) and a movie's on who rated it. It is
# not trained by minimising a loss: **Gibbs sampling** draws every weight in turn from
# its conditional distribution given all the others (Gaussian likelihood, Gaussian priors
# per feature group whose means and precisions are drawn too), so the regularisation is
# learned instead of tuned, and the prediction is the average of $\hat r(x)$ over the
# sampled models (the posterior mean). The recipe is fixed: rank 10, nothing chosen on
# data. The variant **with side features** adds the user's age bucket, gender and
# occupation and the movie's genres to $x$ (the article's side features), and replaces
# the Gaussian likelihood by an **ordered probit**: $P(r \le c) = \Phi(\theta_c - \hat r(x))$
# with learned thresholds $\theta_1 < \dots < \theta_4$; it predicts the expected rating.
#
# **The protocol.** Each model is fitted on a fold's training part and scored on its test
# part: RMSE and MAE of the clipped predictions, and the top-10 ranking metrics of
# notebook 7 (relevant = a test rating of 4 or 5; movies the user rated in training are
# not candidates). The user autoencoder is the corrected one of notebook 4 (ratings only;
# side features in part 2). Popularity (the rating count) only ranks: it has no RMSE.
#
# The tuned models (I-AutoRec and its blend with MF, part 3) are tuned **per fold**: the
# configuration used on fold $k$ was chosen on a validation split of `u{k}.base`, never
# on a test file (the test ratings of folds 2–5 lie inside `u1.base`, so a configuration
# chosen on `u1.base` must not be scored on them). The search that makes those choices
# takes minutes per fold (`python -m recsae.search`, part 3); its choices are committed in
# `recsae/tuned.json`. This notebook retrains one blend live on fold 1: the package's
# `recsae.blend.BEST_CONFIG`, three I-AutoRecs and a biased MF, which
# `recsae.blend.tune_blend` chose on a validation split of `u1.base` (fold 1's own
# training part) over a larger grid than the search's. Add folds to `tuned_folds` to
# retrain the search's choice for them. The blend's first member is an I-AutoRec
# (500 hidden units, $\lambda = 200$, 80 steps), so that I-AutoRec is measured from inside
# the fitted blend instead of being trained twice (`parts`).
#
# The two Bayesian FMs run in a second process on every fold while this one trains the
# others, with `bfm_sweeps` = 64 Gibbs sweeps instead of the search's 512 (to keep the
# notebook inside its time budget; part 3 has the longer runs). They are scored for RMSE
# and MAE only: ranking needs a score for every user × movie pair, which costs a Bayesian
# FM several times its fit (it averages every kept Gibbs sample), so their ranking columns
# read "n/a". A new model is one more entry in a dictionary.

# %% tags=["nbval-check-output"]
every_fold = {
    "global mean": baselines.GlobalMean,
    "popularity (rating count)": lambda: baselines.Popularity(score="count"),
    "user + item bias": baselines.BiasModel,
    "biased MF": baselines.BiasedMF,
    "user autoencoder (corrected)": lambda: UserAutoencoder(config, threads=threads),
}
BLEND = "best autoencoder: I-AutoRec + MF blend"
runs = [(every_fold, folds, {})]
if include_item_autoencoders and dataset == "ml-100k":
    for fold in tuned_folds:  # each fold's own choice (a blend whose first member is autorec0)
        chosen = tuned.CHOSEN[str(fold)]
        fold_blend = (blend.BEST_CONFIG if fold == 1 else  # tune_blend's choice on u1.base
                      search.blend_config(chosen["chosen"]["I-AutoRec ensemble + MF"],
                                          chosen["members"]))
        runs.append(({BLEND: lambda fold_blend=fold_blend: blend.AutoRecBlend(fold_blend)}, [fold],
                     {"I-AutoRec": (BLEND, lambda fitted: fitted.members_[0][0])}))
with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as second_core:
    bfm_run = second_core.submit(search.cross_validate_bayes_fms, bfm_sweeps, folds, dataset,
                                 data_dir, seed, cached, ranking=False) if include_bayes_fm else None
    cv = pd.concat([crossval.cross_validate(factories, folds=run_folds, data_dir=data_dir,
                                            dataset=dataset, seed=seed, memo=cached,
                                            parts=run_parts,
                                            ranking_only={"popularity (rating count)"})
                    for factories, run_folds, run_parts in runs]
                   + ([bfm_run.result()] if bfm_run else []), ignore_index=True)
summary = crossval.summarise(cv)
five_fold = [m for m in summary.index if summary.loc[m, "n_folds"] == len(folds)]
names = {"rmse": "RMSE", "mae": "MAE", "ndcg@10": "NDCG@10", "precision@10": "precision@10"}
print(f"{dataset}, folds {folds}: mean ± std over the folds")
print(crossval.format_summary(summary.loc[five_fold], list(names), 3)
      .rename(columns=names).to_string())
print(f"\nfold {folds[0]} alone (u{folds[0]}.test, comparable with published numbers):")
print(cv[cv["fold"] == folds[0]].set_index("model")[list(names)].rename(columns=names)
      .round(3).to_string(na_rep="n/a"))

# %%
DATASET_NAMES = {"ml-100k": "MovieLens-100K", "ml-1m": "MovieLens-1M"}  # for titles
published = crossval.PUBLISHED_U1_RMSE if dataset == "ml-100k" else crossval.PUBLISHED_ML1M_RMSE
random_cv = crossval.PUBLISHED_RANDOM_CV_RMSE if dataset == "ml-100k" else {}
plots.cross_validation(cv, "rmse", published, random_cv, top=0.99 if dataset == "ml-100k" else None,
                       published_split="u1" if dataset == "ml-100k" else "random 90/10",
                       title=f"{DATASET_NAMES.get(dataset, dataset)}: our models (points) and "
                             "published results (lines)")

# %% [markdown]
# **How to read it.** Blue points are our means over five folds (± one standard deviation
# across folds); black crosses are our fold-1 (`u1.test`) results. Lines are other
# people's published numbers, labelled with their source, and each kind is comparable
# with one kind of point only: the solid lines were measured on `u1.test` (compare with
# the crosses); the dotted ones, Surprise's own benchmark, are means of a *random* 5-fold
# cross-validation of ML-100K (compare with the blue points: `u1`..`u5` are five disjoint
# 20% test folds too).
#
# * The article's kind of model, a user-based autoencoder (corrected), is slightly behind
#   both the user + item bias model and matrix factorisation over the five folds (0.954
#   against 0.946 and 0.938). Its ranking metrics are near zero here because every
#   training movie is a candidate, and it puts rarely rated films on top (notebook 7 shows
#   why, and the fix).
# * Our bias model (0.946) and MF (0.938) land within 0.005 of Surprise's published
#   `BaselineOnly` (0.944) and `SVD` (0.934) means: the same models with the same
#   defaults give about the same numbers on five other folds. `u1` is harder than the
#   average fold: every model's cross sits above its mean.
# * The item-based autoencoder (I-AutoRec) is clearly more accurate (0.905 on `u1.test`,
#   level with GC-MC with side features), and it ranks far better than the other rating
#   models, about as well as the plain count of ratings (NDCG@10 0.242 against 0.245). In
#   `u1.base` (80,000 ratings of 943 users and 1,650 movies) a user has about 85 ratings
#   on average and a movie about 48, and an item's column of
#   ratings turns out to be a better thing to reconstruct than a user's row.
# * The blend (part 3) reaches 0.895 on `u1.test`: better than the published sRGCNN
#   (0.929), GC-MC (0.905) and GraphRec (0.897), short of GLocal-K (0.889, whose epoch is picked on
#   the test ratings). Blending costs
#   some ranking quality (NDCG@10 0.232 against I-AutoRec's 0.242): matrix factorisation's
#   share dilutes the autoencoder's ranking.
#
# **Why 0.966 here and 0.967 in notebook 5?** Two nets of the same design and seed, on two
# matrices: notebook 5 builds its rows over every movie of `u.item` (1682 columns, 32 of
# them movies nobody rated in `u1.base`), while `UserAutoencoder` builds them over the
# movies of the fold's training part only (1650 columns; it must work on any dataset). The
# 32 extra columns are all zero, so they add nothing to the loss, but they change the
# shape of the first and last layers and with it the random initial weights: the two runs
# end at slightly different weights, a difference of the kind notebook 6 measures for a
# change of seed. Part 2 trains the 1682-column net again (last table: "ratings", test
# users in training) and gets notebook 5's 0.967.

# %% [markdown]
# ## 2. Cold start: the article's real hypothesis
#
# For each user with test ratings we keep only `n` of their training ratings, rebuild their
# input row from those (genre shares included), and predict their test ratings. Two user
# autoencoders, ratings only and ratings + genre shares + attributes (corrected recipe),
# are trained **without the test users** (the strict protocol: a cold user is new to the
# model, as a real newcomer would be). References: the bias model refitted on the reduced
# ratings, and popularity for ranking. Candidates for the ranking are movies with at
# least 20 training ratings (notebook 7 shows why).
#
# For comparison only, the same two autoencoders are also trained the way many
# autoencoder papers do it, on every user's full `u1.base` row, test users included:
# the model has then seen the very ratings that are hidden from it at test time.

# %% tags=["nbval-check-output"]
if dataset == "ml-100k":
    train, test = data.load_split(1, data_dir)
    # Every setting of the study is in `study`, so the cache key changes with any of them.
    study = {"budgets": budgets, "seed": seed, "holdout_users": (True, False),
             "min_item_ratings": 20, "threads": threads}
    cold = cached("cold_start", lambda: coldstart.cold_start_study(
        train, test, config=config, data_dir=data_dir, **study), config=config.to_dict(), **study)
    strict = cold[cold["holdout_users"]]
    print("Strict protocol (test users unseen in training): test RMSE")
    print(strict.pivot(index="budget", columns="model", values="rmse")
          [[coldstart.ae_name(f) for f in coldstart.FEATURE_SETS] + [coldstart.BIAS]]
          .round(3).rename_axis(columns=None).to_string())
    print("\nStrict protocol: NDCG@10")
    print(strict.pivot(index="budget", columns="model", values="ndcg@10")
          .reindex(columns=pd.unique(strict["model"])).round(3).rename_axis(columns=None)
          .to_string())
    leaky = cold[~cold["holdout_users"]]
    print("\nComparison, autoencoders trained on the test users' full rows: RMSE | NDCG@10")
    print(pd.concat({"RMSE": leaky.pivot(index="budget", columns="model", values="rmse"),
                     "NDCG@10": leaky.pivot(index="budget", columns="model", values="ndcg@10")},
                    axis=1).round(3).to_string())
    print("\nWith the test users' full rows as input (the warm case): test RMSE")
    print(pd.Series({(features, "no" if held else "yes"): fit["full_row_rmse"]
                     for (features, held), fit in cold.attrs["fits"].items()}, name="RMSE")
          .rename_axis(["features", "test users in training"]).round(3).to_string())
else:
    cold = None
    print("The cold-start study needs ML-100K's user attributes; skipped for", dataset)

# %%
plots.cold_start(cold) if cold is not None else None

# %% [markdown]
# **Reading.** Solid lines: the strict protocol, the one to believe; dashed: the
# comparison, autoencoders trained on the test users' full rows.
#
# * **A user autoencoder does not carry over to new users.** Trained without the test
#   users, the ratings-only net stays at an RMSE of 1.046–1.051 whatever the budget, and
#   even given a test user's *full* training row it reaches only 1.047, against 0.967 for
#   the same net trained with those users' rows (the last table). The good RMSE of
#   notebooks 4–6 is for users whose rows the net has trained on.
# * **Side features make it worse, not better.** The net that also sees genre shares and
#   attributes is worse at every budget (RMSE 1.073–1.121) and ranks worse (NDCG@10
#   0.061–0.064 against 0.111–0.113). It even gets worse from 0 to 1 rating: the genre
#   shares of one liked movie look nothing like the rows it was trained on. Age, gender
#   and occupation say little about taste in this data, and genre shares from a handful
#   of ratings are mostly noise.
# * **The bias model is the one that learns from a new user's ratings**: from 1.056 with
#   none to 1.008 with ten, better than both autoencoders from one rating on (with no
#   rating the ratings-only net is slightly ahead, 1.051).
# * **Popularity beats every model at ranking, at every budget** (NDCG@10 0.231–0.240,
#   against at most 0.135 for the bias model): knowing nothing about the user and ranking
#   by the number of ratings finds more of their liked test movies than any personalised
#   model here.
# * **The ratings-only autoencoder's NDCG falls as ratings are added**: slightly under the
#   strict protocol (0.113 with none, 0.111 with ten) and clearly in the comparison (0.106
#   to 0.093). An empty row gives every user the same list of broadly liked movies; a few
#   ratings pull the list towards movies like the ones rated, and that loses more hits
#   than it gains.
# * **The comparison protocol misleads both ways**: with the test users' rows in
#   training, the nets are worse at 0–10 ratings (1.079–1.149) yet far better with the
#   full row (0.967), because they have learnt those very rows. Only the strict protocol
#   says how a model serves a newcomer.
#
# The article's hypothesis is reasonable, but on MovieLens-100K its side features do not
# deliver, and the user-based autoencoder itself is the weak link for new users.
#
# ## 3. Tuned per fold: how far autoencoders go, and the best honest number
#
# **The search.** `python -m recsae.search` makes every choice of fold $k$ on a seeded 10%
# validation split $\Omega_\text{val}$ of `u{k}.base` alone (a test stands guard in
# `tests/test_search.py`: the search fails if it touches a `.test` file). On the other 90%
# it trains the members:
#
# * an I-AutoRec (500 hidden units, $\lambda = 200$, its number of Rprop steps chosen by
#   early stopping on $\Omega_\text{val}$, at most 100), a biased MF (200 factors, 100
#   epochs, $\lambda = 0.1$) and the bias model;
# * the two Bayesian FMs at the fixed recipe's 512 Gibbs sweeps, each twice: without and
#   with the **rating's day** (one more one-hot group in $x$, the "time" of Rendle et al.'s
#   timeSVD++ flipped features: a day's ratings share a learned offset and factor, which
#   absorbs a user's mood on that day and the drift of the scale over the months of
#   collection). The day of a rating to predict is known when it is asked for (it is part
#   of the request, not of the answer), so the search passes each pair's own timestamp.
#   Which variant represents each recipe (`bfm` or `bfm_day`, `bfm_side` or
#   `bfm_side_day`) is chosen by its RMSE on $\Omega_\text{val}$;
# * a **kernelised autoencoder** in the style of GLocal-K (Han et al. 2021), below.
#
# **The kernelised autoencoder** (`recsae.glocal_k.GlocalK`) is I-AutoRec's item-based net
# with two changes. First, every weight matrix $W$ (from $n_\text{in}$ units to
# $n_\text{out}$) is gated, entry by entry, by a *local kernel* of small learned vectors
# $u_a, v_b \in \mathbb{R}^5$, one per input and one per output unit:
#
# $$K_{ab} = \max\left(0,\ 1 - \lVert u_a - v_b \rVert^2\right), \qquad h = \sigma\big(x\,(W \odot K) + b\big).$$
#
# A weight counts only where its two units are close in the kernel space, and $K = 0$ cuts
# it: the net learns which connections to keep, a learned sparsity. Two sigmoid layers of
# 500 units and a linear output layer reconstruct a movie's column of ratings, trained on
# the sum of squared errors over the observed entries plus $\frac{\lambda_2}{2}\sum
# \lVert W \rVert^2 + \frac{\lambda_s}{2}\sum \lVert K \rVert^2$ at GLocal-K's published
# scale ($\lambda_2 = 20$, $\lambda_s = 0.006$), by full-batch L-BFGS (5 iterations per
# "epoch"). Second, after this pre-training, a **global kernel** fine-tunes it: the
# average output of each movie, $\bar p \in \mathbb{R}^{n_\text{items}}$, times a learned
# matrix $C$ gives one $3 \times 3$ convolution kernel $G$, and the net is trained again on
# $\mathrm{ReLU}(G * R)$, the rating matrix smoothed by that kernel, instead of $R$. Both
# stages are early-stopped on $\Omega_\text{val}$ (caps: 30 pre-training epochs, 15
# fine-tuning epochs): GLocal-K's published 0.889 on `u1` picks its epoch by the *test*
# RMSE, which we do not. The pre-training cap is low: validation chose its last epoch or
# the one before on every fold (the table of choices below), so pre-training was still
# improving; fine-tuning stopped inside its cap. Each epoch is a full-batch pass over the
# rating matrix (the table's fit time is per fold), so on this shared two-core machine
# the cap was not raised. Nor is the net refitted on all of `u{k}.base`: the test uses
# the model selected on the 90%, which saves a second training.
#
# **The blends.** Every candidate blend (any subset of the members) is a linear model on
# the members' predictions,
#
# $$\hat r_{ui} = w_0 + \sum_m w_m \, \hat r^{(m)}_{ui}, \qquad \min_w \sum_{(u,i) \in \Omega_\text{val}} \left(r_{ui} - \hat r_{ui}\right)^2,$$
#
# ranked by a cross-fitted validation RMSE (weights fitted on one half of
# $\Omega_\text{val}$, scored on the other, so a bigger blend gains nothing from fitting
# its own validation ratings). Each reported model takes the best candidate it allows:
# "I-AutoRec + kernelised AE" only the two autoencoders (the best autoencoder-family
# model), "I-AutoRec ensemble + MF" the I-AutoRec with MF and the bias model, and
# "blend: Bayesian FM + autoencoders + MF" any of them with at least one Bayesian FM and
# one autoencoder. Then each chosen model is refitted on all of `u{k}.base` and scored
# once on `u{k}.test`. The grid, every candidate and the scores land in `build/search/`;
# the choices and test scores are committed in `recsae/tuned.json`, which the next cells
# read (its `COMMAND` reruns it, about an hour on one core). The chosen blends and members
# of every fold:

# %% tags=["nbval-check-output"]
print(f"from recsae/tuned.json, written by `{tuned.COMMAND}`\n")
for family in (search.AE_FAMILY, "I-AutoRec ensemble + MF", search.BEST_FAMILY):
    print(family)
    print(pd.DataFrame({f"u{fold}": pd.Series(chosen["chosen"][family]["weights"])
                        for fold, chosen in tuned.CHOSEN.items()}).round(3)
          .to_string(na_rep="-"), "\n")
print("validation RMSE of every member, and each fold's choices:")
print(pd.DataFrame({f"u{fold}": pd.Series({
    **chosen["member_valid_rmse"],
    "Bayesian FM variant": chosen["variants"]["bfm"],
    "+ side features variant": chosen["variants"]["bfm_side"],
    "I-AutoRec Rprop steps": chosen["members"]["autorec0"]["n_epochs"],
    "kernelised AE epochs (pre, fine)": "{pre_epochs}, {fine_epochs}".format(
        **chosen["members"]["glocal_k"])}) for fold, chosen in tuned.CHOSEN.items()})
      .map(lambda v: f"{v:.4f}" if isinstance(v, float) else v).to_string())
members = tuned.CHOSEN["1"]["members"]
print("\nfold 1's members:", "; ".join(
    f"{name}: " + ", ".join(f"{k}={v}" for k, v in spec.items()
                            if k in {"hidden", "reg", "n_epochs", "n_factors", "features", "output",
                                     "n_iter", "use_day", "n_layers", "kernel_dim", "refit"})
    for name, spec in members.items()))

# %% [markdown]
# Names: `autorec0` is the fold's I-AutoRec (with a bigger grid, `autorec1`, ... are the
# next best configurations, averaged: an ensemble), `mf0` the biased MF, `bias` the bias
# model, `bfm` and `bfm_side` the Bayesian FMs without and with side features (`_day`:
# with the rating's day), `glocal_k` the kernelised autoencoder; `-` means not in the
# blend. The validation RMSEs are those of the members trained on the 90%.
#
# **Every model, one table.** Live rows were trained by this notebook (five folds, or
# fold 1 for the live blend); "search" rows come from `recsae/tuned.json` (the per-fold
# choices refitted on `u{k}.base`, scored on `u{k}.test`); the article's net as published
# is quoted from notebook 4 (`u1.test` only). Fit times are seconds per fold on one core
# (wall seconds for the live rows; CPU seconds of the final fits, summed over a blend's
# members, for the search rows; the search's validation fits cost about as much again),
# as measured in that run: they vary with the machine and its load (so the tests do not
# compare this table's output).

# %%
# The search's rows are ML-100K's (recsae/tuned.json); another dataset shows only live rows.
search_sweeps = max(spec["n_iter"] for chosen in tuned.CHOSEN.values()
                    for spec in chosen["members"].values() if spec["kind"] == "bfm")
search_table = (search.summary_table(tuned.TEST_RESULTS) if dataset == "ml-100k"
                else pd.DataFrame(columns=["rmse_u1", "rmse_mean", "rmse_std", "seconds_mean"]))
rows = [{"model": "the article's net, as published (notebook 4)", "source": "notebook 4",
         "u1 RMSE": 1.038, "5-fold RMSE": "-", "fit s/fold": "-"}]
for model in summary.index:
    row = summary.loc[model]
    if pd.isna(row["rmse_mean"]):
        continue
    u1 = cv[(cv["model"] == model) & (cv["fold"].astype(str) == "1")]["rmse"]
    rows.append({"model": model, "source": "live" + (f", {bfm_sweeps} sweeps" if "Bayesian" in model
                                                     else ""),
                 "u1 RMSE": round(float(u1.iloc[0]), 4) if len(u1) else "-",
                 "5-fold RMSE": (f"{row['rmse_mean']:.4f} ± {row['rmse_std']:.4f}"
                                 if row["n_folds"] > 1 else "-"),
                 "fit s/fold": round(row["seconds_mean"]) if row["seconds_mean"] > 0 else "in blend"})
for model, row in search_table.iterrows():
    rows.append({"model": model, "source": "search" + (f", {search_sweeps} sweeps" if "Bayesian" in model
                                                       else ""),
                 "u1 RMSE": round(row["rmse_u1"], 4),
                 "5-fold RMSE": f"{row['rmse_mean']:.4f} ± {row['rmse_std']:.4f}",
                 "fit s/fold": round(row["seconds_mean"])})
print(pd.DataFrame(rows).to_string(index=False))

# %% tags=["nbval-check-output"]
if len(search_table):  # the goals for the package's best model of any kind
    best_model = search_table["rmse_mean"].idxmin()
    autoencoders = [search.AE_FAMILY, "I-AutoRec", "Kernelised autoencoder (GLocal-K style)"]
    best_ae = search_table.loc[autoencoders, "rmse_mean"].idxmin()
    for title, model, goals in (("best model of any kind", best_model, (0.875, 0.880)),
                                ("best autoencoder-family model", best_ae, (0.878, 0.885))):
        print(f"{title}, by its five-fold mean (recsae/tuned.json): {model}")
        for label, value, goal in (("u1..u5 mean", search_table.loc[model, "rmse_mean"], goals[0]),
                                   ("u1", search_table.loc[model, "rmse_u1"], goals[1])):
            verdict = "met" if value <= goal else f"missed by {value - goal:.4f}"
            print(f"  {label}: {value:.4f} (goal <= {goal}: {verdict})")
    per_fold = pd.DataFrame(tuned.TEST_RESULTS).pivot(index="model", columns="fold", values="rmse")
    print("\ntest RMSE per fold (each fold's own choices):")
    print(per_fold.loc[search_table.index].round(4).rename(columns=lambda f: f"u{f}").to_string())

# %%
search_cv = pd.DataFrame(tuned.TEST_RESULTS).assign(model=lambda t: t["model"] + " (search)")
plots.cross_validation(pd.concat([cv[cv["model"] != "popularity (rating count)"], search_cv],
                                 ignore_index=True), "rmse", top=0.99, ranking_metric=None,
                       title="MovieLens-100K: live models and the per-fold search's (points), "
                             "published results (lines)") if dataset == "ml-100k" else None

# %% [markdown]
# **Reading** (the "search" rows; every fold tuned on its own training part):
#
# * **The Bayesian FM is the strongest single model here**: 0.8797 ± 0.0047 over the five
#   folds without side features and 0.8760 ± 0.0050 with them (`u1` 0.8851 and 0.8806),
#   ahead of the I-AutoRec (0.8976, `u1` 0.9051) and of its blend with MF (0.8878, `u1`
#   0.8962). It is MF's model with two differences. Its weights are averaged over the
#   sampled posterior and the strength of every prior is sampled too, so nothing is
#   over-fitted and nothing needs tuning. And the implicit features tell it *which*
#   movies a user rated (and who rated a movie), information that the rating values
#   alone do not carry: a user's factor is partly the average of the factors of the
#   movies they chose to rate, which helps most the users with few ratings.
# * **The rating's day helps it**: validation chose the day variant of the side-feature FM
#   on every fold and of the plain FM on four folds of five (on `u4` the two were within
#   0.0004; the table of choices above, e.g. `u1`: 0.8841 without the day, 0.8809 with
#   it). Ratings given on the same day share a mood and a moment of the scale's drift,
#   which the day's learned offset and factor absorb.
# * **Side features help the Bayesian FM a little**: 0.0037 on the five-fold mean, on every
#   fold. Unlike in the user autoencoder of part 2, each side feature enters with its own
#   sampled prior, so one that carries nothing is shrunk to near zero instead of adding
#   noise; the ordered probit also treats the stars as ordered classes rather than as
#   numbers.
# * **The kernelised autoencoder alone is no better than I-AutoRec** (0.8981 against
#   0.8976; `u1` 0.9060 against 0.9051): with its pre-training capped, the learned
#   sparsity and the global kernel do not pay for themselves here. **But the two
#   autoencoders err differently**: the validation-weighted blend "I-AutoRec + kernelised
#   AE", weights 0.39–0.58 each, reaches 0.8892 ± 0.0039 (`u1` 0.8961), 0.0084 better
#   than I-AutoRec alone. A one-layer net trained by Rprop and a two-layer kernel-gated
#   net trained by L-BFGS on a smoothed matrix reach similar accuracy by different
#   routes, so their errors are only partly shared and averaging cancels the rest.
# * **The blend of everything wins on every fold**: 0.8725 ± 0.0047, `u1` 0.8781, 0.0035
#   better than its best member over the five folds. Every fold's validation split chose
#   the side-feature FM with the day (weight 0.48–0.73) and the I-AutoRec (0.16–0.335),
#   the plain FM on four folds, the kernelised autoencoder on `u3`..`u5` (about 0.2) and
#   the bias model on `u2`..`u5`; never MF (the table of weights above). The members err
#   differently: the autoencoders predict a rating from the other ratings of the same
#   movie, the FM from user and movie factors shaped by what each rated and when, so
#   averaging them cancels part of each one's error.
# * The live blend of part 1 (`recsae.blend.BEST_CONFIG`, three I-AutoRecs, 0.895 on
#   `u1.test`) and the search's I-AutoRec + MF blend (one I-AutoRec, 0.8962 on `u1`) differ
#   by their grids, not their protocol: both were chosen on a validation split of
#   `u1.base`.
#
# **The goals of this study, honestly** (the cell above prints each verdict).
#
# * **The best model of any kind** was to reach a five-fold mean of at most 0.875 and at
#   most 0.880 on `u1`: the blend of everything reaches 0.8725 and 0.8781, both met. It
#   beats every published result on `u1` in the chart, GLocal-K's 0.889 included (which
#   picks its epoch by the test RMSE).
# * **The best autoencoder-family model** was to be level with the Bayesian FM: at most
#   0.878 over the five folds and 0.885 on `u1`. The I-AutoRec + kernelised AE blend
#   misses both, at 0.8892 (by 0.0112) and 0.8961 (by 0.0111); with MF instead of the
#   kernelised autoencoder it is 0.8878 and 0.8962, no closer. What was tried: one
#   I-AutoRec configuration per fold (early-stopped), the GLocal-K-style net at its
#   published scale (kernelised local weights, global-kernel fine-tuning, a
#   sum-of-squares loss with the published regularisers, full-batch L-BFGS) with both
#   stages early-stopped on validation, and their validation-weighted blend; genre flags in
#   I-AutoRec's item input were tried outside the search (`research/a1_side.py`) and did
#   not help on `u1`'s validation split. Not tried for lack of machine time (a shared
#   two-core machine): more pre-training epochs (validation was still improving at the
#   cap), refitting the kernelised net on all of `u{k}.base`, a larger I-AutoRec grid (an
#   ensemble of configurations, as in `BEST_CONFIG`) and several seeds of each net.
#
# ## Summary
#
# * On the five ML-100K folds the corrected user autoencoder (the article's model, fixed)
#   is slightly *less* accurate than a user + item bias model and a biased MF, and it
#   ranks worst of all the rating models.
# * An item-based autoencoder (I-AutoRec) is far better at both, and a validated blend of
#   three of them with MF is competitive with published graph-based models on `u1.test`.
# * A Bayesian factorization machine, with a fixed recipe and no tuning, beats every
#   autoencoder here, and a blend of it (with the rating's day) with the two item
#   autoencoders, weighted on each fold's validation split, is the best model of the
#   package: 0.8725 ± 0.0047 over `u1`..`u5`, 0.8781 on `u1` (part 3). The best
#   autoencoder-family model, I-AutoRec blended with a GLocal-K-style kernelised
#   autoencoder, reaches 0.8892 and 0.8961.
# * A published number is comparable only with a result on the same split: `u1.test`
#   numbers with our fold-1 results, random-CV means with our five-fold means.
# * Under the strict protocol the user autoencoder barely serves new users, its side
#   features make it worse, a bias model predicts new users better and popularity ranks
#   for them better.
#
# ## Exercises
#
# 1. Set `tuned_folds = [1, 2, 3, 4, 5]`: each fold's blend is retrained live with that
#    fold's own choices. Do the live scores reproduce part 3's "search" rows?
# 2. Set `bfm_sweeps = 128`, then `256`. How much do the Bayesian FMs gain from longer
#    sampling, and what does it cost in time?
# 3. Set `budgets = [0, 1, 3, 5, 10, 20, 50]`. Does the strict ratings-only autoencoder
#    ever improve with more ratings? Does the bias model keep improving?
# 4. Replace `"user autoencoder (corrected)"` in `every_fold` by
#    `UserAutoencoder(config, features="ratings+genres+attributes")`: do the side features
#    change the five-fold RMSE?
# 5. Set `dataset = "ml-1m"` (and `include_item_autoencoders = False` to keep it short):
#    does the ranking of the models change with six times more users?
# 6. Open question: popularity wins the ranking in every experiment here. Design a
#    recommender that keeps popularity's hit rate but personalises; how would you
#    evaluate that it does?
#
# ## Further reading
#
# * Sedhain, Menon, Sanner and Xie (2015), *AutoRec: Autoencoders Meet Collaborative
#   Filtering*: I-AutoRec, and why the item-based variant beats the user-based one.
# * Kuchaiev and Ginsburg (2017), *Training Deep AutoEncoders for Collaborative Filtering*:
#   deeper user-based autoencoders, the masked MSE and dense re-feeding, on Netflix.
# * Wu, DuBois, Zheng and Ester (2016), *Collaborative Denoising Auto-Encoders for Top-N
#   Recommender Systems* (CDAE): a user-specific input node plus denoising, for ranking.
# * Liang, Krishnan, Hoffman and Jebara (2018), *Variational Autoencoders for
#   Collaborative Filtering* (Mult-VAE): the autoencoder that ranks well on MovieLens.
# * Rendle, Zhang and Koren (2019), *On the Difficulty of Evaluating Baselines*: well-tuned
#   MF baselines beat many published models; part 1's lesson at a larger scale.
# * Rendle (2010), *Factorization Machines*; Freudenthaler, Schmidt-Thieme and Rendle
#   (2011), *Bayesian Factorization Machines* (the Gibbs sampler); Ohsaka's `myFM`
#   (the library used here, with the ordered probit).
# * Koren (2010), *Factor in the Neighbors*: the bias model; Monti et al. (2017), van den
#   Berg et al. (2017), Rashed et al. (2019) and Han et al. (2021, GLocal-K): the
#   published `u1.test` numbers of the chart.

# %%
metrics = {"n_folds": len(folds)}
if BLEND in set(cv["model"]):  # the book's headline: the best autoencoder-family model, u1
    metrics["best.fold1_rmse"] = float(cv[(cv["model"] == BLEND) & (cv["fold"] == 1)]["rmse"].iloc[0])
for model, row in search_table.iterrows():  # the committed per-fold search (recsae/tuned.json)
    for stat in ("rmse_u1", "rmse_mean", "rmse_std"):
        metrics[metric_key("search", model, stat)] = row[stat]
if len(search_table):
    best_model = search_table["rmse_mean"].idxmin()
    metrics["best_overall.rmse_u1"] = search_table.loc[best_model, "rmse_u1"]
    metrics["best_overall.rmse_mean"] = search_table.loc[best_model, "rmse_mean"]
for name, row in summary.iterrows():
    key = name.split(":")[0].split(" (")[0]
    if pd.notna(row["ndcg@10_mean"]):  # the Bayesian FMs' ranking is not measured here
        metrics[metric_key(key, "ndcg@10_mean")] = row["ndcg@10_mean"]
    fold1 = cv[(cv["model"] == name) & (cv["fold"] == folds[0])]
    if pd.notna(row["rmse_mean"]):
        metrics[metric_key(key, "rmse_mean")] = row["rmse_mean"]
        metrics[metric_key(key, f"fold{folds[0]}_rmse")] = float(fold1["rmse"].iloc[0])
if cold is not None:
    for row in cold[cold["holdout_users"]].itertuples():
        if row.budget in (0, 3) and row.model != coldstart.POPULARITY:
            metrics[metric_key("cold", row.model, f"n{row.budget}", "rmse")] = row.rmse
    for _, row in cold[cold["budget"] == max(budgets)].iterrows():
        protocol = "strict" if row["holdout_users"] else "full_rows"
        metrics[metric_key("cold", row["model"], protocol, f"n{row['budget']}", "ndcg@10")] = (
            row["ndcg@10"])
record_metrics(metrics)
