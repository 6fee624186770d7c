# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (recsae)
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
# The article builds these blocks with pandas lookups in loops over users and rating rows;
# `recsae.features` does the same with a few array operations. For the whole as-published
# train and test matrices (notebook 3), `docs/benchmarks.md` ("Matrix building") measured
# 46.2 s for a re-implementation in the article's style against 0.0808 s for the
# vectorised builder, 572 times faster, with the two matrices asserted equal.

# %% tags=["parameters"]
fold = 1  # which ML-100K split u{fold}.base / u{fold}.test
genre_threshold = 3  # a rating of at least this counts as "liked" (the article uses 3)
data_dir = None  # download cache; None means $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
import numpy as np
import pandas as pd

from recsae import data, features, plots
from recsae.course.reporting import record_metrics

train, test = data.load_split(fold, data_dir)
published = features.load_feature_tables("as_published", data_dir)
corrected = features.load_feature_tables("corrected", data_dir)

# %% [markdown]
# ## The genre vocabulary
#
# The article collects every genre name in ML-1M's `movies.dat` (`Adventure|Children's|...`)
# and sorts the names ignoring case. ML-100K's own `u.item` has one more genre flag,
# `unknown`; the cell below lists both vocabularies.

# %% tags=["nbval-check-output"]
print("as published (ML-1M):", len(published.genres.names), "genres")
print(", ".join(published.genres.names))
print("corrected (ML-100K u.item):", len(corrected.genres.names), "genres")
print(", ".join(corrected.genres.names))

# %% [markdown]
# ## A genre vector per movie, and the id mix-up
#
# Each movie becomes a 0/1 vector over the genres. The article looks movies up in ML-1M by
# the *ML-100K* movie id. Ids are only row numbers within a dataset, so (see the table)
# ML-100K movie 2, *GoldenEye*, gets the genres of ML-1M movie 2, *Jumanji*:

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

# %% tags=["nbval-check-output"]
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
# For each user, the article counts the movies of each genre they *liked*, that is rated
# at least $\tau$ (`genre_threshold`; the article uses $\tau = 3$). With $[\cdot]$ equal
# to 1 when the condition inside holds and 0 otherwise, the liked-count feature of user $u$
# and genre $k$ is
#
# $$g_{u,k} = \sum_{i  :  r_{ui} \ge \tau} [i \text{ has genre } k].$$
#
# That is a matrix product: the user-by-movie "liked" indicator $L$ times the
# movie-by-genre matrix $M$,
#
# $$G = L M, \qquad L_{ui} = [r_{ui} \ge \tau], \qquad M_{ik} = [i \text{ has genre } k].$$
#
# `features.genre_counts` computes $G$ without building the mostly-zero $L$; the first cell
# below builds $L$ and $M$ densely, multiplies them, and checks that both give the same
# counts (true ML-100K genres here).

# %%
counts_published = features.genre_counts(train, published.genres, published.users["user_id"]
                                         .to_numpy()[:943], genre_threshold, allow_missing=True)
counts_true = features.genre_counts(train, corrected.genres, corrected.users["user_id"].to_numpy(),
                                    genre_threshold)

# The same counts as the matrix product G = L M (ML-100K's ids are 1..943 and 1..1682).
assert (corrected.users["user_id"].to_numpy() == np.arange(1, 944)).all()
liked_ratings = train[train["rating"] >= genre_threshold]
L = np.zeros((943, 1682))
L[liked_ratings["user_id"] - 1, liked_ratings["item_id"] - 1] = 1
M = corrected.genres.lookup(np.arange(1, 1683))
assert np.array_equal(L @ M, counts_true)
print(f"G = L M: {L.shape} times {M.shape} gives the same {counts_true.shape} counts")
user = 1
pd.DataFrame({"as published": counts_published[user - 1].astype(int)},
             index=published.genres.names).join(
    pd.Series(counts_true[user - 1].astype(int), index=corrected.genres.names,
              name="true genres")).T.rename_axis(f"user {user}'s liked counts")

# %% [markdown]
# Raw counts grow with how many movies a user rated: the next cell prints the largest,
# while ratings are 1 to 5. Fed into a network unscaled, these columns dominate the input.
# The corrected recipe uses the *share* of a user's liked movies in each genre instead,
#
# $$s_{u,k} = \frac{g_{u,k}}{n_u}, \qquad n_u = \sum_i L_{ui},$$
#
# where $n_u$ is the number of movies user $u$ liked ($s_{u,k} = 0$ when $n_u = 0$). Each
# share lies in $[0, 1]$; a row can sum above 1 because a movie can have several genres.
# Shares need no dataset-wide constant, so a new user is scaled exactly like a training
# user.

# %% tags=["nbval-check-output"]
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
# own `u.user`, every value in $[0, 1]$:
#
# $$a_u = \left( [\text{female}],\ [\text{male}],\ \text{age}_u / 100,\ e_{o(u)} \right),$$
#
# where $e_{o(u)}$ is the one-hot vector of user $u$'s occupation over the occupations of
# `u.occupation`.

# %%
user_ids = published.users["user_id"].to_numpy()[:943]
attrs_published, names_published = features.attribute_block_as_published(published.users,
                                                                          user_ids)
attrs_true, names_true = features.attribute_block_corrected(
    corrected.users, corrected.users["user_id"].to_numpy(), corrected.occupations)
first = pd.DataFrame(attrs_published[:3].astype(int), columns=names_published, index=[1, 2, 3])
first.index.name = "user_id"
first.join(corrected.users.set_index("user_id")[["age", "gender", "occupation"]]
           .rename(columns=lambda c: f"true {c}"))

# %% tags=["nbval-check-output"]
true_female = corrected.users["gender"].eq("F").to_numpy()
article_female = attrs_published[:, 0] == 1
print(f"users whose article gender differs from their real one: "
      f"{(true_female != article_female).sum()} of {len(true_female)}")
print("corrected attribute columns:", len(names_true), "=", ", ".join(names_true[:4]), "...")

# %% [markdown]
# ## Do women and men, young and old, like different genres?
#
# The article opens with an intuition (Shinde 2018, introduction): attributes could let the
# network learn that, say, men aged 18 to 25 prefer action and horror movies while women of
# the same age prefer romance. The article then tests it on attributes of the wrong people
# (above). Here is the test on the right data: ML-100K's own users, their own ratings
# (`u{fold}.base`), and the genre shares $s_{u,k}$ defined above, grouped by gender and by
# ML-1M's age buckets (the article's "18 to 25" is the bucket 18-24).

# %% tags=["nbval-check-output"]
age_groups = list(data.ML1M_AGE_GROUPS.values())  # "Under 18", "18-24", ..., "56+"
people = corrected.users  # one row per user, in the order of the rows of `shares`
by_user = pd.DataFrame(shares, columns=corrected.genres.names)
by_user["gender"] = people["gender"].to_numpy()
by_user["age group"] = pd.cut(people["age"].to_numpy(), bins=[*data.ML1M_AGE_GROUPS, 200],
                              right=False, labels=age_groups)
named = ["Action", "Horror", "Romance"]  # the genres the article names
women, men = by_user[by_user["gender"] == "F"], by_user[by_user["gender"] == "M"]
young = by_user["age group"] == "18-24"
pd.DataFrame({
    "women 18-24": by_user[young & (by_user["gender"] == "F")][named].mean(),
    "men 18-24": by_user[young & (by_user["gender"] == "M")][named].mean(),
    "women, all ages": women[named].mean(),
    "men, all ages": men[named].mean(),
    "spread between users (std)": by_user[named].std(),
}).round(2).rename_axis("mean share of liked movies")

# %%
plots.genre_shares_by_group(by_user, named, age_groups)

# %% tags=["nbval-check-output"]
group_means = by_user.groupby(["age group", "gender"], observed=True)[named].mean().unstack()
action_gap = group_means[("Action", "M")] - group_means[("Action", "F")]
romance_gap = group_means[("Romance", "F")] - group_means[("Romance", "M")]
print(f"age groups where men's Action share is above women's: {(action_gap > 0).sum()} "
      f"of {len(group_means)} (gap {action_gap.min():.2f} to {action_gap.max():.2f})")
print(f"age groups where women's Romance share is above men's: {(romance_gap > 0).sum()} "
      f"of {len(group_means)} (gap {romance_gap.min():.2f} to {romance_gap.max():.2f})")

# %% [markdown]
# The figure shows that the intuition is half right, and small. In every age group men's
# mean Action share is above women's, and women's Romance share above men's (the two lines
# printed above), so gender and age do shift the averages. Horror does not follow the
# script: in the table, women aged 18-24 have a horror share no lower than men's, and
# horror fades with age for both. And the shifts are small next to how much users differ
# inside one group: the middle halves of the users (the bars) overlap in every group, and
# the spread between users (the table's last column) is larger than any gap between the
# group means. Knowing someone's gender and age says little about *their* taste. Note also
# that the genre shares are computed from the user's own ratings, which the network already
# sees. Expect the attributes to add little once a user's ratings are known: notebooks 5
# and 6 measure it.

# %%
record_metrics({
    "n_genres_as_published": len(published.genres.names),
    "n_genres_corrected": len(corrected.genres.names),
    "ml100k_ids_missing_in_ml1m": int(missing.sum()),
    "movies_with_true_genre_vector_as_published": int(same_vector.sum()),
    "users_with_wrong_gender_as_published": int((true_female != article_female).sum()),
    "max_genre_count_u1_train": float(counts_true.max()),
}, echo=False)

# %% [markdown]
# ## Summary
#
# - The genre block counts, per user $u$ and genre $k$, the movies liked ($r_{ui} \ge \tau$)
#   that have genre $k$: $G = LM$, one matrix product.
# - As published, movie genres and user attributes come from ML-1M rows that merely share
#   the ML-100K id: most genre vectors and hundreds of genders belong to other movies and
#   other people.
# - The as-published side columns are unscaled (counts, an age bucket, an occupation code);
#   the corrected recipe uses genre shares $s_{u,k} = g_{u,k} / n_u$ and attributes in
#   $[0, 1]$ from ML-100K's own tables.
# - On the right data, gender and age shift the average genre shares by 3 to 12 percentage points
#   (men: more Action; women: more Romance; Horror: no gender gap), far less than users
#   differ within a group.
#
# ## Exercises
#
# 1. Set `genre_threshold = 4` in the parameters cell: how do the largest raw count and the
#    genre-share picture change? Which threshold would you defend?
# 2. Redraw the gender-and-age figure for `["Drama", "Comedy", "Sci-Fi"]`
#    (`plots.genre_shares_by_group(by_user, [...], age_groups)`): which genre separates
#    the groups best?
# 3. Draw the same figure with the article's attributes (ML-1M users looked up by the
#    ML-100K id, `published.users`): what becomes of the gaps?
# 4. Change `fold` and check that the group means barely move: how much of the picture is
#    the split, how much the users?
# 5. *Open question:* the genre shares are a fixed linear function of the ratings the
#    network already sees. Can such a column still help a model, and when?
#
# ## Further reading
#
# - Sedhain et al. (2015), AutoRec: the ratings-only autoencoder the article extends with
#   side features.
# - Kuchaiev & Ginsburg (2017), "Training Deep AutoEncoders for Collaborative Filtering":
#   deep autoencoders on ratings alone, trained with a masked MSE (notebook 4).
# - Wu et al. (2016), CDAE, and Liang et al. (2018), Mult-VAE: autoencoders that add a user
#   input node or a probabilistic view instead of hand-made side columns (notebook 8).
# - Rendle et al. (2019), "On the Difficulty of Evaluating Baselines": why a side-feature
#   claim needs tuned baselines before it is believed.
