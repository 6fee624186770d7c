# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. The user matrix (article steps 8–9)
#
# The autoencoder sees one row per user: first the ratings of every movie (0 where the
# user has not rated it), then the genre counts, then the attributes. This notebook builds
# the train and test matrices for both recipes, shows what each block of columns holds on
# one user, and checks the vectorised builder against a plain loop.

# %% tags=["parameters"]
fold = 1  # which ML-100K split u{fold}.base / u{fold}.test
feature_set = "ratings+genres+attributes"  # or "ratings", "ratings+genres"
user = 1  # the user shown column by column
data_dir = None  # download cache; None = $RECSAE_DATA_DIR or the project's data/ folder

# %%
# %matplotlib inline
import time

import numpy as np
import pandas as pd

from recsae import data, features, user_matrix
from recsae.course.reporting import record_metrics

train, test = data.load_split(fold, data_dir)

# %% [markdown]
# ## Build both matrices, both recipes
#
# `build_user_matrices` returns the train and test matrices (float32) and a `ColumnIndex`
# saying what every column is. The two matrices share rows (users) and columns, so a row of
# the test matrix lines up with the same user's training row. The test matrix is only ever
# a *target*: at test time the model's input is the user's training row.

# %%
matrices = {}
for recipe in features.RECIPES:
    start = time.perf_counter()
    matrices[recipe] = user_matrix.build_user_matrices(train, test, recipe, feature_set,
                                                    data_dir=data_dir)
    seconds = time.perf_counter() - start
    print(f"{recipe}: built in {seconds:.2f} s")

# %%
# NBVAL_CHECK_OUTPUT
for recipe, m in matrices.items():
    c = m.columns
    print(f"{recipe:>12}: train {m.train.shape}, test {m.test.shape} = "
          f"{c.n_items} ratings + {c.n_genres} genres + {c.n_attributes} attributes")

# %% [markdown]
# ## One user, block by block

# %%
def describe_row(m: user_matrix.UserMatrices, user_id: int) -> pd.DataFrame:
    """The non-zero columns of one user's training row, with block and name."""
    c = m.columns
    row = m.train[np.flatnonzero(c.user_ids == user_id)[0]]
    names = np.array(c.names)
    blocks = np.array([c.block_of(i) for i in range(c.n_columns)])
    nonzero = np.flatnonzero(row)
    return pd.DataFrame({"block": blocks[nonzero], "column": names[nonzero],
                         "value": row[nonzero]})


rows = describe_row(matrices["as_published"], user)
# NBVAL_CHECK_OUTPUT
print(rows.groupby("block", sort=False).size().to_string())
rows.groupby("block", sort=False).head(4)

# %%
describe_row(matrices["corrected"], user).groupby("block", sort=False).tail(4)

# %% [markdown]
# The as-published row puts genre counts in the tens and an "age" of 1 next to ratings of
# 1 to 5; the corrected row keeps every side feature in [0, 1].
#
# ## How much of the test matrix is empty?
#
# Fewer than half of the users have a rating in `u1.test`. Their test rows still have
# attributes, which matters for the article's averaging in notebook 4.

# %%
# NBVAL_CHECK_OUTPUT
m = matrices["as_published"]
c = m.columns
has_test_ratings = (m.test[:, c.rating_slice] > 0).any(axis=1)
has_anything = (m.test > 0).any(axis=1)
print(f"users with test ratings: {has_test_ratings.sum()}; "
      f"users whose test row has any non-zero value: {has_anything.sum()}")

# %% [markdown]
# ## Same numbers as a plain loop
#
# `tests/article_reference.py` re-implements the article's rules with plain per-user,
# per-rating loops, and `tests/test_features.py` checks that the vectorised builder gives
# the same matrices value for value on the real `u1` files. `make bench` times both
# (`docs/benchmarks.md`): loops in the article's style take 15–30 s, the vectorised
# builder a few hundredths of a second (several hundred times faster).
#
# ## Memory
#
# Dense float32 is fine here: one matrix is 943 × 1704 × 4 bytes ≈ 6.4 MB. ML-1M is about
# 90 MB; much larger datasets (ML-10M and up) would need the rating block kept sparse and
# densified one batch of users at a time.

# %%
record_metrics({
    "as_published.n_columns": matrices["as_published"].columns.n_columns,
    "corrected.n_columns": matrices["corrected"].columns.n_columns,
    "users_with_test_ratings": int(has_test_ratings.sum()),
    "users_with_nonzero_test_row": int(has_anything.sum()),
})
