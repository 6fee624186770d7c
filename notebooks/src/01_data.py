# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. The data: MovieLens-100K (and the ML-1M files the article mixes in)
#
# The article trains an autoencoder on **MovieLens-100K**: 100,000 ratings (1 to 5 stars)
# that 943 users gave to 1,682 movies, collected by GroupLens in the late 1990s. Each user
# also comes with an age, a gender, an occupation and a zip code, and each movie with a
# title, a release date and 19 genre flags. This notebook downloads the data, checks it,
# and looks at what is in it before we build anything on top.
#
# The article also reads `users.dat` and `movies.dat` from **MovieLens-1M**, a different
# dataset with different ids. We load those too, because the as-published recipe needs them,
# and end with a first look at why that is a problem.

# %% tags=["parameters"]
# (This notebook describes ML-100K, the article's dataset; notebook 8 also runs on ML-1M.)
data_dir = None  # download cache; None = $RECSAE_DATA_DIR or the project's data/ folder

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
# Every user rated at least 20 movies, but the matrix of users × movies is still mostly
# empty. An autoencoder that reconstructs a user's row must learn from the few cells that
# are filled, and must not be rewarded for predicting the zeros that only mean "not rated".

# %%
# NBVAL_CHECK_OUTPUT
n_users, n_items = ratings["user_id"].nunique(), ratings["item_id"].nunique()
density = len(ratings) / (n_users * n_items)
print(f"{n_users} users x {n_items} movies, {len(ratings)} ratings: {density:.1%} of cells filled")
print(f"mean rating {ratings['rating'].mean():.3f}, "
      f"ratings per user: median {ratings.groupby('user_id').size().median():.0f}")

# %%
plots.rating_distribution(ratings)

# %%
plots.activity_histograms(ratings)

# %% [markdown]
# ## Who are the users?
#
# Side information is the article's idea: maybe age, gender and occupation tell us what
# someone likes. About 70% of the users are men (670 of 943), and students are the largest
# occupation group (196).

# %%
# NBVAL_CHECK_OUTPUT
print(users["gender"].value_counts().to_string())
print(f"age: {users['age'].min()} to {users['age'].max()}, median {users['age'].median():.0f}")
plots.user_demographics(users)

# %% [markdown]
# ## Genres
#
# Each movie has 19 genre flags (one of them is literally called `unknown`); a movie can
# have several. Drama and comedy dominate both the catalogue and the ratings.

# %%
genre_flags = movies.set_index("item_id")[list(data.ML100K_GENRES)]
rated_genres = genre_flags.loc[ratings["item_id"]].sum()
plots.genre_popularity(rated_genres, "Ratings per genre (a movie counts once per genre)")

# %% [markdown]
# ## The train/test split the article uses
#
# ML-100K ships five 80/20 splits (`u1`..`u5`); the article uses `u1.base` for training
# and `u1.test` for testing. The split is by rating, not by user, and it is **not**
# balanced across users: fewer than half of the users have any rating in `u1.test`.
# Remember that number: it matters for how the article averages its test loss.

# %%
# NBVAL_CHECK_OUTPUT
train, test = data.load_split(1, data_dir)
print(f"u1.base: {len(train)} ratings by {train['user_id'].nunique()} users")
print(f"u1.test: {len(test)} ratings by {test['user_id'].nunique()} users")
global_mean = train["rating"].mean()
baseline_rmse = ((test["rating"] - global_mean) ** 2).mean() ** 0.5
print(f"predicting the training mean ({global_mean:.3f}) for every test rating: "
      f"RMSE {baseline_rmse:.3f}")

# %% [markdown]
# That last number is the bar every model in this tutorial has to clear: a model that
# cannot beat "everyone gives every movie 3.5 stars" has learned nothing.
#
# ## What the article loads from MovieLens-1M
#
# The article reads its users and movies from ML-1M (6,040 users, 3,883 movies) and looks
# them up by the ML-100K ids. Ids are just row numbers in each dataset, so the lookups
# land on other people and other films:

# %%
users_1m = data.load_users("ml-1m", data_dir)
movies_1m = data.load_movies("ml-1m", data_dir)
side_by_side = movies.set_index("item_id")[["title", "genres"]].merge(
    movies_1m.set_index("item_id")[["title", "genres"]], left_index=True, right_index=True,
    how="left", suffixes=("", " (ML-1M, same id)"))
side_by_side.head(5)

# %%
# NBVAL_CHECK_OUTPUT
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
# NBVAL_CHECK_OUTPUT
record_metrics({
    "n_ratings": len(ratings), "n_users": n_users, "n_items": n_items,
    "density": density, "mean_rating": ratings["rating"].mean(),
    "u1_train_ratings": len(train), "u1_test_ratings": len(test),
    "u1_test_users": test["user_id"].nunique(),
    "u1_global_mean_rmse": baseline_rmse,
    "ml100k_ids_missing_in_ml1m": int(missing), "ml100k_ids_same_title_in_ml1m": int(same_title),
})
