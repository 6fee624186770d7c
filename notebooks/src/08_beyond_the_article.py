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
# 3. **How good can an autoencoder get?** The item-based autoencoder (I-AutoRec), tuned on
#    a validation split of `u1.base` and blended with matrix factorisation.

# %% tags=["parameters"]
seed = 0  # model seeds and the cold-start sampling
dataset = "ml-100k"  # "ml-100k" (folds u1..u5) or "ml-1m" (seeded random 90/10 splits)
folds = [1, 2, 3, 4, 5]  # which folds to cross-validate
epochs = 200  # the user autoencoder's maximum epochs
include_item_autoencoders = True  # I-AutoRec and the tuned blend (about 3 of the minutes here)
budgets = [0, 1, 3, 5, 10]  # training ratings kept per test user in the cold-start study
threads = 1  # torch CPU threads
data_dir = None  # download cache; None means $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
from dataclasses import replace

import torch

from recsae import autorec, baselines, blend, coldstart, crossval, data, plots, training
from recsae.course.reporting import metric_key, record_metrics
from recsae.user_autoencoder import UserAutoencoder

torch.set_num_threads(threads)
config = replace(training.TrainConfig(), epochs=epochs, seed=seed)

# %% [markdown]
# ## 1. Every model, every fold, the same code
#
# Each model is fitted on a fold's training part and scored on its test part: RMSE and
# MAE of the clipped predictions, and top-10 ranking metrics (relevant = a test rating of
# 4 or 5; movies the user rated in training are not candidates). The user autoencoder is
# the corrected one of notebook 4 (ratings only; side features in part 2).

# %% tags=["nbval-check-output"]
factories = {
    "global mean": baselines.GlobalMean,
    "user + item bias": baselines.BiasModel,
    "biased MF": baselines.BiasedMF,
    "user autoencoder (corrected)": lambda: UserAutoencoder(config, threads=threads),
}
if include_item_autoencoders:
    factories["I-AutoRec"] = lambda: autorec.IAutoRec(replace(autorec.AutoRecConfig(), seed=seed))
    factories["best: I-AutoRec ensemble + MF"] = blend.autorec_mf_blend
cv = crossval.cross_validate(factories, folds=folds, data_dir=data_dir, dataset=dataset,
                               seed=seed)
summary = crossval.summarise(cv)
print(f"{dataset}, folds {folds}: mean ± std over folds")
print(crossval.format_summary(summary, ("rmse", "mae", "ndcg@10", "precision@10"), 3)
      .to_string())
print(f"\nfold {folds[0]} alone (for u{folds[0]}.test, comparable with published numbers):")
print(cv[cv["fold"] == folds[0]].set_index("model")[["rmse", "mae", "ndcg@10", "precision@10"]]
      .round(3).to_string())

# %%
published = (crossval.PUBLISHED_U1_RMSE if dataset == "ml-100k"
             else crossval.PUBLISHED_ML1M_RMSE)
plots.cross_validation(cv, "rmse", published)

# %% [markdown]
# Dashed lines are **published** numbers for `u1.test` (other people's results, not
# measured here); the crosses mark our fold-1 result, the comparable one.
#
# * The article's kind of model, a user-based autoencoder (corrected), is slightly behind
#   both the user + item bias model and matrix factorisation. Its ranking
#   metrics are near zero here because every training movie is a candidate, and it puts
#   rarely rated films on top (notebook 7 shows why, and the fix).
# * The item-based autoencoder (I-AutoRec) is clearly more accurate, and it ranks far
#   better than the other rating models, about as well as the plain count of ratings
#   on `u1` (NDCG@10 0.242 against popularity's 0.245 in notebook 7, which ranks all
#   unrated movies rather than only those seen in training). In `u1.base` users have ~85
#   ratings on average, movies ~48, and an item's column of ratings turns out to be a
#   better thing to reconstruct than a user's row.
# * The blend of three I-AutoRecs with matrix factorisation, every choice of it made on
#   a validation split of `u1.base` (`recsae.blend.tune_blend` reruns the search),
#   reaches 0.895 on `u1.test`: better than the published GC-MC (0.905), level with
#   GraphRec (0.897), short of GLocal-K's 0.889. Its mean over the five folds
#   is lower because `u1` is the hardest fold; folds 2–5 are also slightly optimistic for
#   the tuned models, since their test ratings are part of `u1.base`, on which the
#   hyper-parameters were chosen. Blending costs some ranking quality (NDCG 0.180 against
#   I-AutoRec's 0.192): matrix factorisation's share dilutes the autoencoder's ranking.

# %% [markdown]
# ## 2. Cold start: the article's real hypothesis
#
# For each user with test ratings we keep only `n` of their training ratings, rebuild their
# input row from those (genre shares included), and predict their test ratings. Two user
# autoencoders, trained once on the full `u1.base`: ratings only, and ratings + genre
# shares + attributes (corrected recipe). References: the bias model refitted on the
# reduced ratings, and popularity for ranking. Candidates for the ranking are movies with at
# least 20 training ratings (notebook 7 shows why).

# %% tags=["nbval-check-output"]
if dataset == "ml-100k":
    train, test = data.load_split(1, data_dir)
    cold = coldstart.cold_start_study(train, test, budgets, seed, config, data_dir=data_dir,
                                      threads=threads, min_item_ratings=20)
    shown = ["model", "budget", "rmse", "mae", "ndcg@10", "precision@10"]
    print(cold[shown].round(3).to_string(index=False))
else:
    cold = None
    print("The cold-start study needs ML-100K's user attributes; skipped for", dataset)

# %%
plots.cold_start(cold) if cold is not None else None

# %% [markdown]
# **Reading.** With the correct, scaled side features, the autoencoder that sees genre
# shares and attributes is *not* better for users with few ratings: its RMSE is worse at
# every budget (by 0.015–0.03) and its NDCG@10 is no better (lower up to five ratings,
# level at ten). (`recsae.coldstart` also
# offers a stricter protocol, `holdout_users=True`, that trains without the test users;
# not run here.) Age, gender and
# occupation say little about taste in this data, and a user's genre shares computed from
# one or three ratings are mostly noise. The simple bias model beats both autoencoders at
# every budget, even with no ratings at all. The article's hypothesis is reasonable, but on
# MovieLens-100K its side features do not deliver.
#
# ## 3. How far autoencoders go
#
# The best model in part 1 is the package's answer to "how good can an autoencoder-based
# recommender get here": `recsae.blend.BEST_CONFIG`, chosen by `tune_blend` on a 10%
# validation split of `u1.base` (about 2.5 minutes to rerun):

# %%
print(blend.BEST_CONFIG)

# %%
metrics = {"n_folds": len(folds)}
for name, row in summary.iterrows():
    key = name.split(":")[0].split(" (")[0]
    metrics[metric_key(key, "rmse_mean")] = row["rmse_mean"]
    metrics[metric_key(key, "ndcg@10_mean")] = row["ndcg@10_mean"]
    fold1 = cv[(cv["model"] == name) & (cv["fold"] == folds[0])]
    metrics[metric_key(key, f"fold{folds[0]}_rmse")] = float(fold1["rmse"].iloc[0])
if cold is not None:
    for row in cold.itertuples():
        if row.budget in (0, 3) and row.model != "popularity":
            metrics[metric_key("cold", row.model, f"n{row.budget}", "rmse")] = row.rmse
record_metrics(metrics)
