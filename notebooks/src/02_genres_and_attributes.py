# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Genre vectors and user attributes (article steps 2–7)
#
# The article's idea is to give the autoencoder more than ratings: for each user, how many
# movies of each genre they liked, and who they are (gender, age, ...). This notebook builds
# those two blocks, first exactly as the article does, then corrected, and shows where the
# published version goes wrong.
#
# Where the article loops over users and rows with pandas lookups (about 16 s here,
# `docs/benchmarks.md`), `recsae.features` does the same with a few array operations
# (a few hundredths of a second).

# %% tags=["parameters"]
fold = 1  # which ML-100K split u{fold}.base / u{fold}.test
genre_threshold = 3  # a rating >= this counts as "liked" (the article uses 3)
data_dir = None  # download cache; None = $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
import pandas as pd

from recsae import data, features
from recsae.course.reporting import record_metrics

train, test = data.load_split(fold, data_dir)
published = features.load_feature_tables("as_published", data_dir)
corrected = features.load_feature_tables("corrected", data_dir)

# %% [markdown]
# ## The genre vocabulary
#
# The article collects every genre name in ML-1M's `movies.dat` (`Adventure|Children's|...`)
# and sorts the names ignoring case: 18 genres. ML-100K's own `u.item` has 19 genre flags
# (the same 18 plus `unknown`).

# %%
# NBVAL_CHECK_OUTPUT
print("as published (ML-1M):", len(published.genres.names), "genres")
print(", ".join(published.genres.names))
print("corrected (ML-100K u.item):", len(corrected.genres.names), "genres")
print(", ".join(corrected.genres.names))

# %% [markdown]
# ## A genre vector per movie, and the id mix-up
#
# Each movie becomes a 0/1 vector over the genres. The article looks movies up in ML-1M by
# the *ML-100K* movie id. Ids are only row numbers within a dataset, so ML-100K movie 2,
# *GoldenEye*, gets the genres of ML-1M movie 2, *Jumanji*:

# %%
movies = data.load_movies("ml-100k", data_dir).set_index("item_id")
movies_1m = data.load_movies("ml-1m", data_dir).set_index("item_id")
example_ids = [1, 2, 3, 50, 100]
pd.DataFrame({
    "ML-100K title": movies.loc[example_ids, "title"],
    "ML-100K genres (true)": movies.loc[example_ids, "genres"],
    "genres the article uses": movies_1m["genres"].reindex(example_ids),
    "from ML-1M movie": movies_1m["title"].reindex(example_ids),
})

# %%
# NBVAL_CHECK_OUTPUT
ids = movies.index.to_numpy()
missing = ~pd.Index(ids).isin(movies_1m.index)
true_genres = corrected.genres.lookup(ids)[:, 1:]  # drop `unknown`: same 18 names, same order
article_genres = published.genres.lookup(ids, allow_missing=True)
same_vector = (true_genres == article_genres).all(axis=1)
print(f"ML-100K movie ids with no ML-1M movie: {missing.sum()} (they add no genres)")
print(f"movies whose article genre vector equals their true one: {same_vector.sum()} "
      f"of {len(ids)}")

# %% [markdown]
# Only 3 ML-100K movies share their title with the ML-1M movie of the same id (notebook 1);
# the other matching genre vectors match by chance (many movies are just "Drama" or
# "Comedy"). For every other movie, the genre block the article feeds its network is noise.
#
# ## Genre counts per user
#
# For each user, the article counts the movies of each genre they rated 3 or higher. That is
# a matrix product: the user-by-movie "liked" indicator times the movie-by-genre matrix.

# %%
counts_published = features.genre_counts(train, published.genres, published.users["user_id"]
                                         .to_numpy()[:943], genre_threshold, allow_missing=True)
counts_true = features.genre_counts(train, corrected.genres, corrected.users["user_id"].to_numpy(),
                                    genre_threshold)
user = 1
pd.DataFrame({"as published": counts_published[user - 1]},
             index=published.genres.names).join(
    pd.Series(counts_true[user - 1], index=corrected.genres.names, name="true genres")).T

# %% [markdown]
# Raw counts run into the hundreds for heavy raters, while ratings are 1 to 5. Fed into a
# network unscaled, these columns dominate the input. The corrected recipe uses the
# *share* of a user's liked movies in each genre (a number in [0, 1]) instead.

# %%
# NBVAL_CHECK_OUTPUT
liked = features.liked_counts(train, corrected.users["user_id"].to_numpy(), genre_threshold)
shares = features.genre_shares(counts_true, liked)
print(f"largest raw genre count: {counts_true.max():.0f}; "
      f"largest share: {shares.max():.2f}; user 1's Drama share: "
      f"{shares[0, list(corrected.genres.names).index('Drama')]:.2f}")

# %% [markdown]
# ## User attributes
#
# The article's four attributes come from ML-1M's `users.dat`, again looked up by the
# ML-100K user id, so they describe somebody else. Its "age" is ML-1M's age *bucket* code
# (1 = under 18, 18 = 18–24, ...), and the fourth column, which the article calls
# "registration months", is ML-1M's occupation code. The corrected recipe takes ML-100K's
# own `u.user`: gender flags, age in years / 100, and occupation one-hot.

# %%
user_ids = published.users["user_id"].to_numpy()[:943]
attrs_published, names_published = features.attribute_block_as_published(published.users,
                                                                          user_ids)
attrs_true, names_true = features.attribute_block_corrected(
    corrected.users, corrected.users["user_id"].to_numpy(), corrected.occupations)
first = pd.DataFrame(attrs_published[:3], columns=names_published, index=[1, 2, 3])
first.index.name = "user_id"
first.join(corrected.users.set_index("user_id")[["age", "gender", "occupation"]]
           .rename(columns=lambda c: f"true {c}"))

# %%
# NBVAL_CHECK_OUTPUT
true_female = corrected.users["gender"].eq("F").to_numpy()
article_female = attrs_published[:, 0] == 1
print(f"users whose article gender differs from their real one: "
      f"{(true_female != article_female).sum()} of {len(true_female)}")
print("corrected attribute columns:", len(names_true), "=", ", ".join(names_true[:4]), "...")

# %%
record_metrics({
    "n_genres_as_published": len(published.genres.names),
    "n_genres_corrected": len(corrected.genres.names),
    "ml100k_ids_missing_in_ml1m": int(missing.sum()),
    "movies_with_true_genre_vector_as_published": int(same_vector.sum()),
    "users_with_wrong_gender_as_published": int((true_female != article_female).sum()),
    "max_genre_count_u1_train": float(counts_true.max()),
})
