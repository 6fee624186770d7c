# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (recsae)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. The data: MovieLens-100K (and the ML-1M files the article mixes in)
#
# The article trains an autoencoder on **MovieLens-100K**: ratings (1 to 5 stars) that
# users gave to movies, collected by GroupLens in the late 1990s. Each user also comes with
# an age, a gender, an occupation and a zip code, and each movie with a title, a release
# date and genre flags. This notebook downloads the data, checks it, and looks at what is in
# it before we build anything on top.
#
# The article also reads `users.dat` and `movies.dat` from **MovieLens-1M**, a different
# dataset with different ids. We load those too, because the as-published recipe needs them,
# and end with a first look at why that is a problem.

# %% tags=["parameters"]
# (This notebook describes ML-100K, the article's dataset; notebook 8 also runs on ML-1M.)
fold = 1  # which ML-100K split u{fold}.base / u{fold}.test to look at (the article: 1)
data_dir = None  # download cache; None means $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
from recsae import data, download, plots
from recsae.course.reporting import record_metrics

# %% [markdown]
# ## Download, verify, cache
#
# `recsae.download.fetch` looks in the cache folder first. On a miss it downloads the
# archive from GroupLens (or from `$RECSAE_DATA_MIRROR` when set, e.g. a local folder for
# offline work), extracts it into a temporary folder, checks the SHA-256 of every file
# against the values pinned in the package, and only then moves the files into place.
# A second call reads the cache and needs no network.

# %%
path = download.fetch("ml-100k", "u.data", data_dir)
print("cached in:", path.parent.name)
ratings = data.load_ratings("u.data", "ml-100k", data_dir)
users = data.load_users("ml-100k", data_dir)
movies = data.load_movies("ml-100k", data_dir)
print("ratings:", ratings.shape, " users:", users.shape, " movies:", movies.shape)
ratings.head()

# %% [markdown]
# ## How sparse is the rating matrix?
#
# Write $r_{ui}$ for the rating user $u$ gave movie $i$, and $\Omega$ for the set of
# (user, movie) pairs that have a rating. With $|U|$ users and $|I|$ movies, the share of
# the user-by-movie matrix that is filled is
#
# $$\text{density} = \frac{|\Omega|}{|U| \cdot |I|}.$$
#
# The cell below prints it: the matrix is mostly empty, although every user rated a fair
# number of movies. An autoencoder that reconstructs a user's row must learn from the few
# cells that are filled, and must not be rewarded for predicting the zeros that only mean
# "not rated".

# %% tags=["nbval-check-output"]
n_users, n_items = ratings["user_id"].nunique(), ratings["item_id"].nunique()
density = len(ratings) / (n_users * n_items)
per_user = ratings.groupby("user_id").size()
print(f"{n_users} users x {n_items} movies, {len(ratings)} ratings: {density:.1%} of cells filled")
print(f"mean rating {ratings['rating'].mean():.3f}; ratings per user: "
      f"at least {per_user.min()}, median {per_user.median():.0f}")

# %%
plots.rating_distribution(ratings)

# %% [markdown]
# Ratings lean positive: 4 stars is the most common rating, 1 star the rarest. A model that
# predicts a single number for everything should predict about the mean printed above.

# %%
plots.activity_histograms(ratings)

# %% [markdown]
# Both histograms have long tails (note the log-scaled counts): a few users and a few
# movies carry many ratings, most carry few. Movies with one or two ratings are hard for
# any model, and notebook 7 shows how they can still top a recommendation list.
#
# ## Who are the users?
#
# Side information is the article's idea: maybe age, gender and occupation tell us what
# someone likes.

# %% tags=["nbval-check-output"]
for name, n in users["gender"].map({"M": "men", "F": "women"}).value_counts().items():
    print(f"{name}: {n} ({n / len(users):.0%})")
print(f"age: {users['age'].min()} to {users['age'].max()} years, "
      f"median {users['age'].median():.0f}")
print("largest occupation groups:",
      ", ".join(f"{name} {n}" for name, n in users["occupation"].value_counts().head(3).items()))
plots.user_demographics(users)

# %% [markdown]
# Most users are men (the shares are printed above), and students are the largest
# occupation group. Notebook 2 asks whether these groups really like different genres.
#
# ## Genres
#
# Each movie has 19 genre flags (one of them is literally called `unknown`); a movie can
# have several.

# %%
genre_flags = movies.set_index("item_id")[list(data.ML100K_GENRES)]
rated_genres = genre_flags.loc[ratings["item_id"]].sum()
plots.genre_popularity(rated_genres, "Ratings per genre (a movie counts once per genre)",
                       xlabel="number of ratings")

# %%
print(f"ratings of movies whose genre is `unknown`: {int(rated_genres['unknown'])} "
      f"(too few for a visible bar)")

# %% [markdown]
# Drama and comedy dominate the ratings; documentaries, fantasy, film-noir and westerns are
# rare.
# A genre column built from a rare genre is zero for most users.
#
# ## The train/test split the article uses
#
# ML-100K ships five 80/20 splits (`u1`..`u5`); the article uses `u1.base` for training
# and `u1.test` for testing. The split is by rating, not by user, and it is **not**
# balanced across users: the cell below shows that fewer than half of the users have any
# rating in `u1.test`. Remember that number: it matters for how the article averages its
# test loss (notebook 4).
#
# The simplest possible model predicts the training mean $\mu$ for every test rating. Its
# error on the test ratings $T$ is the root mean squared error
#
# $$\text{RMSE} = \sqrt{\frac{1}{|T|} \sum_{(u,i) \in T} \left(r_{ui} - \mu\right)^2}.$$

# %% tags=["nbval-check-output"]
train, test = data.load_split(fold, data_dir)
print(f"u{fold}.base: {len(train)} ratings by {train['user_id'].nunique()} users")
print(f"u{fold}.test: {len(test)} ratings by {test['user_id'].nunique()} users")
global_mean = train["rating"].mean()
baseline_rmse = ((test["rating"] - global_mean) ** 2).mean() ** 0.5
print(f"predicting the training mean ({global_mean:.3f}) for every test rating: "
      f"RMSE {baseline_rmse:.3f}")

# %% [markdown]
# That last number is the bar every model in this tutorial has to clear: a model that
# cannot beat "everyone gives every movie the average rating" has learned nothing.
#
# ## What the article loads from MovieLens-1M
#
# The article reads its users and movies from ML-1M and looks them up by the ML-100K ids.
# Ids are just row numbers in each dataset, so the lookups land on other people and other
# films:

# %%
users_1m = data.load_users("ml-1m", data_dir)
movies_1m = data.load_movies("ml-1m", data_dir)
print(f"ML-1M: {len(users_1m)} users, {len(movies_1m)} movies")
side_by_side = movies.set_index("item_id")[["title", "genres"]].merge(
    movies_1m.set_index("item_id")[["title", "genres"]], left_index=True, right_index=True,
    how="left", suffixes=("", " (ML-1M, same id)"))
side_by_side.head(5)

# %% tags=["nbval-check-output"]
missing = (~movies["item_id"].isin(movies_1m["item_id"])).sum()
same_title = (side_by_side["title"] == side_by_side["title (ML-1M, same id)"]).sum()
print(f"ML-100K movie ids with no ML-1M movie of that id: {missing}")
print(f"ML-100K movie ids whose ML-1M movie has the same title: {same_title} of {len(movies)}")
users_1m.head(3)

# %% [markdown]
# ML-1M's users have an age *bucket* (1 = under 18, 18 = 18-24, ...) and an occupation
# *code* (0-20) instead of ML-100K's age in years and occupation name. The article's fourth
# user attribute, which it calls "registration months", is that occupation code. Notebook 6
# measures what these mix-ups cost.

# %%
record_metrics({
    "n_ratings": len(ratings), "n_users": n_users, "n_items": n_items,
    "density": density, "mean_rating": ratings["rating"].mean(),
    "u1_train_ratings": len(train), "u1_test_ratings": len(test),
    "u1_test_users": test["user_id"].nunique(),
    "u1_global_mean_rmse": baseline_rmse,
    "ml100k_ids_missing_in_ml1m": int(missing), "ml100k_ids_same_title_in_ml1m": int(same_title),
}, echo=False)

# %% [markdown]
# ## Summary
#
# - ML-100K: the cells above print 943 users, 1,682 movies and 100,000 ratings, so about 6%
#   of the user-by-movie matrix is filled; a model must learn from the filled cells only.
# - Ratings lean positive, and activity is long-tailed for users and movies alike.
# - The article's split `u1` is by rating: 80,000 training and 20,000 test ratings, and
#   only 459 users have a test rating.
# - Predicting the training mean for every test rating gives the RMSE printed above: the
#   bar every later model must clear.
# - The article's side tables come from ML-1M, whose ids mean other movies and other
#   people; only a handful of movie ids even keep their title.
#
# ## Exercises
#
# 1. Set `fold = 2` (up to 5) in the parameters cell and re-run: does the global-mean RMSE
#    move, and do the test users still number fewer than half?
# 2. The mean predictor is a single number. Predict each movie's training mean instead
#    (fall back to $\mu$ for unseen movies): how much lower is the test RMSE?
# 3. Count how many movies have fewer than 5 ratings in `u.data`. What could any model
#    learn about them?
# 4. Which ML-1M user does ML-100K user 1 become in the article's lookup? Compare their
#    age and gender.
# 5. *Open question:* the 80/20 split is random over ratings. What would a split by time
#    (train on earlier ratings, test on later ones) change about what a model must do?
#
# ## Further reading
#
# - Harper & Konstan (2015), "The MovieLens Datasets: History and Context", ACM TiiS: where
#   the data and its splits come from.
# - Sedhain et al. (2015), "AutoRec: Autoencoders Meet Collaborative Filtering": the model
#   family of this series; it evaluates on ML-1M and ML-10M with random 90/10 splits.
# - Rendle et al. (2019), "On the Difficulty of Evaluating Baselines": why the global-mean
#   bar and well-tuned simple baselines matter before any deep model.
# - Kuchaiev & Ginsburg (2017), CDAE (Wu et al. 2016) and Mult-VAE (Liang et al. 2018) come
#   in with the models (notebooks 4 and 8).
