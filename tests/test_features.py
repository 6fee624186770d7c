"""Tests of recsae.features: real ML-100K through the loaders, tiny frames for edge cases."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from article_reference import build_matrix_loop, genre_vocabulary_loop

from recsae import data
from recsae import features as F
from recsae import user_matrix as UM
from recsae.data import validate_ratings

ML1M_GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def ratings_frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def split(shared_data) -> tuple[pd.DataFrame, pd.DataFrame]:
    return data.load_split(1)


@pytest.fixture(scope="module")
def tables(shared_data) -> dict[str, F.FeatureTables]:
    return {recipe: F.load_feature_tables(recipe) for recipe in F.RECIPES}


@pytest.fixture(scope="module")
def published(split, tables) -> UM.UserMatrices:
    return UM.build_from_tables(*split, tables["as_published"])


@pytest.fixture(scope="module")
def corrected(split, tables) -> UM.UserMatrices:
    return UM.build_from_tables(*split, tables["corrected"])


def test_as_published_equals_loop_reference(split, published):
    train, test = split
    movies_1m, users_1m = data.load_movies("ml-1m"), data.load_users("ml-1m")
    genre_names = genre_vocabulary_loop(movies_1m)
    assert genre_names == ML1M_GENRES
    assert list(published.columns.genre_names) == genre_names
    for frame, matrix in ((train, published.train), (test, published.test)):
        reference = build_matrix_loop(frame, movies_1m, users_1m, genre_names, 943, 1682)
        assert matrix.dtype == np.float32
        np.testing.assert_array_equal(matrix, reference)
    # Not trivially equal: the genre and attribute blocks carry real information.
    assert published.train[:, published.columns.genre_slice].sum() > 50_000
    assert published.test[:, published.columns.genre_slice].sum() > 10_000


def test_build_user_matrices_loads_and_matches(split, published):
    again = UM.build_user_matrices(*split)
    np.testing.assert_array_equal(again.train, published.train)
    assert again.columns == published.columns
    assert (again.recipe, again.features) == ("as_published", "ratings+genres+attributes")


def test_shapes_and_columns(published, corrected):
    assert published.train.shape == published.test.shape == (943, 1682 + 18 + 4)
    assert corrected.train.shape == corrected.test.shape == (943, 1682 + 19 + 3 + 21)
    for m in (published, corrected):
        assert m.columns.n_columns == m.train.shape[1]
        np.testing.assert_array_equal(m.columns.user_ids, np.arange(1, 944))
        np.testing.assert_array_equal(m.columns.item_ids, np.arange(1, 1683))
    assert published.columns.attribute_names == F.AS_PUBLISHED_ATTRIBUTES
    assert "registration months" in published.columns.attribute_names[3]
    assert corrected.columns.genre_names == data.ML100K_GENRES
    assert corrected.columns.attribute_names[3:] == tuple(
        f"occupation={o}" for o in data.load_occupations())


def test_rating_block_is_the_ratings(split, published):
    train, test = split
    for frame, matrix in ((train, published.train), (test, published.test)):
        block = matrix[:, published.columns.rating_slice]
        assert np.count_nonzero(block) == len(frame)
        np.testing.assert_array_equal(block[frame["user_id"] - 1, frame["item_id"] - 1],
                                      frame["rating"])


def test_test_matrix_uses_test_ratings_and_shared_attributes(split, published):
    _, test = split
    cols = published.columns
    np.testing.assert_array_equal(published.train[:, cols.attribute_slice],
                                  published.test[:, cols.attribute_slice])
    # u1.test only has users 1..462; the others get an all-zero rating and genre block.
    no_test = ~np.isin(cols.user_ids, test["user_id"])
    assert no_test.sum() == 943 - test["user_id"].nunique()
    assert not published.test[no_test, : cols.attribute_slice.start].any()
    assert published.test[no_test, cols.attribute_slice][:, :2].sum(axis=1).tolist() == [1] * int(
        no_test.sum())


def test_id_mismatch_goldeneye_gets_jumanji_genres(tables, published, corrected, split):
    movies_100k, movies_1m = data.load_movies("ml-100k"), data.load_movies("ml-1m")
    assert movies_100k.set_index("item_id").loc[2, "title"] == "GoldenEye (1995)"
    assert movies_100k.set_index("item_id").loc[2, "genres"] == "Action|Adventure|Thriller"
    assert movies_1m.set_index("item_id").loc[2, "title"] == "Jumanji (1995)"

    def genres_of(recipe: str, item_id: int) -> set[str]:
        table = tables[recipe].genres
        row = table.lookup(np.array([item_id]))[0]
        return {name for name, flag in zip(table.names, row, strict=True) if flag}

    assert genres_of("as_published", 2) == {"Adventure", "Children's", "Fantasy"}
    assert genres_of("corrected", 2) == {"Action", "Adventure", "Thriller"}

    # One liked rating of movie 2 shows up under Jumanji's genres in the as-published row.
    one = ratings_frame([(1, 2, 5)])
    row = UM.user_row({2: 5}, published.columns, tables["as_published"],
                     attributes={"gender": "M", "age_group": 25, "occupation_code": 4})
    counts = dict(zip(published.columns.genre_names, row[published.columns.genre_slice],
                      strict=True))
    assert {g for g, c in counts.items() if c} == {"Adventure", "Children's", "Fantasy"}
    assert F.genre_counts(one, tables["as_published"].genres, [1])[0].sum() == 3


def test_ml100k_ids_missing_from_ml1m_add_no_genres(tables, published):
    ml1m_ids = set(tables["as_published"].genres.item_ids.tolist())
    missing = [i for i in range(1, 1683) if i not in ml1m_ids]
    assert len(missing) == 45 and missing[0] == 91
    genres = tables["as_published"].genres
    frame = ratings_frame([(1, missing[0], 5), (1, 1, 5)])
    counts = F.genre_counts(frame, genres, [1], allow_missing=True)
    np.testing.assert_array_equal(counts[0], genres.lookup(np.array([1]))[0])  # only movie 1
    with pytest.raises(ValueError, match="not in the movie table"):
        F.genre_counts(frame, genres, [1])


def test_attribute_mismatch_ml1m_people(published):
    users_100k = data.load_users("ml-100k")
    attrs = published.train[:, published.columns.attribute_slice]
    # Row 0 is ML-100K user 1, a 24-year-old male technician; the article gives it ML-1M
    # user 1: female, age bucket 1 ("Under 18"), occupation 10 ("K-12 student").
    assert users_100k.loc[0, ["age", "gender", "occupation"]].tolist() == [24, "M", "technician"]
    np.testing.assert_array_equal(attrs[0], [1, 0, 1, 10])
    female_100k = (users_100k["gender"] == "F").to_numpy()
    assert (attrs[:, 0] != female_100k).sum() > 300  # gender wrong for a third of users


def test_feature_subsets(split, tables, published):
    ratings_only = UM.build_from_tables(*split, tables["as_published"], features="ratings")
    with_genres = UM.build_from_tables(*split, tables["as_published"], features="ratings+genres")
    assert ratings_only.train.shape == (943, 1682)
    assert with_genres.train.shape == (943, 1682 + 18)
    assert ratings_only.columns.genre_names == () and ratings_only.columns.attribute_names == ()
    assert with_genres.columns.attribute_names == ()
    np.testing.assert_array_equal(with_genres.test, published.test[:, : 1682 + 18])
    np.testing.assert_array_equal(ratings_only.train, published.train[:, :1682])


def test_corrected_scaling(split, corrected):
    train, _ = split
    cols = corrected.columns
    side = corrected.train[:, cols.n_items:]
    assert side.min() >= 0 and side.max() <= 1
    attrs = corrected.train[:, cols.attribute_slice]
    users = data.load_users("ml-100k")
    np.testing.assert_allclose(attrs[:, 2], users["age"] / 100, rtol=1e-6)
    np.testing.assert_array_equal(attrs[:, 3:].sum(axis=1), 1)  # exactly one occupation
    np.testing.assert_array_equal(attrs[:, 0] + attrs[:, 1], 1)
    # Genre shares = liked movies of the genre / liked movies, from u.item's own genres.
    user1 = train[(train["user_id"] == 1) & (train["rating"] >= 3)]
    flags = data.load_movies("ml-100k").set_index("item_id").loc[user1["item_id"],
                                                                 list(data.ML100K_GENRES)]
    np.testing.assert_allclose(corrected.train[0, cols.genre_slice],
                               flags.sum().to_numpy() / len(user1), rtol=1e-6)


def test_corrected_takes_items_from_movie_table(tables):
    # Only movies 1 and 5 rated; the columns still cover every u.item movie.
    train = ratings_frame([(1, 1, 4), (2, 5, 2)])
    test = ratings_frame([(1, 5, 3)])
    m = UM.build_from_tables(train, test, tables["corrected"])
    assert m.train.shape == (943, 1682 + 19 + 24)
    with pytest.raises(ValueError, match="item_id.*not in the movie table.*1683"):
        UM.build_from_tables(ratings_frame([(1, 1683, 4)]), test, tables["corrected"])
    with pytest.raises(ValueError, match="user_id.*not in ML-100K u.user.*944"):
        UM.build_from_tables(ratings_frame([(944, 1, 4)]), test, tables["corrected"])


@pytest.mark.parametrize("recipe", F.RECIPES)
def test_user_row_reproduces_training_rows(recipe, split, tables, published, corrected):
    train, _ = split
    matrices = {"as_published": published, "corrected": corrected}[recipe]
    users = tables[recipe].users.set_index("user_id")
    for user_id in (1, 13, 943):
        rated = train[train["user_id"] == user_id]
        keys = (["gender", "age_group", "occupation_code"] if recipe == "as_published"
                else ["gender", "age", "occupation"])
        row = UM.user_row(dict(zip(rated["item_id"], rated["rating"], strict=True)),
                         matrices.columns, tables[recipe],
                         attributes=users.loc[user_id, keys].to_dict())
        np.testing.assert_array_equal(row, matrices.train[user_id - 1])


def test_user_row_new_user_and_errors(tables, corrected):
    cols, t = corrected.columns, tables["corrected"]
    new = {"gender": "F", "age": 30, "occupation": "writer"}
    row = UM.user_row({}, cols, t, attributes=new)
    assert row.shape == (cols.n_columns,) and row.dtype == np.float32
    assert not row[: cols.attribute_slice.start].any()
    names = [cols.names[i] for i in np.flatnonzero(row)]
    assert names == ["attribute:female", "attribute:age/100", "attribute:occupation=writer"]
    with pytest.raises(ValueError, match="pass `attributes`"):
        UM.user_row({1: 5}, cols, t)
    with pytest.raises(ValueError, match="not in the matrix's rating columns|not in the movie"):
        UM.user_row({5000: 5}, cols, t, attributes=new)
    with pytest.raises(ValueError, match="Occupations \\['astronaut'\\]"):
        UM.user_row({1: 5}, cols, t, attributes={**new, "occupation": "astronaut"})
    with pytest.raises(ValueError, match="genres differ"):
        UM.user_row({1: 5}, cols, tables["as_published"], attributes=new)


def test_vectorised_build_is_fast(split, tables):
    start = time.perf_counter()
    UM.build_from_tables(*split, tables["as_published"])
    UM.build_from_tables(*split, tables["corrected"])
    # ~0.1 s each on a laptop; the bound only catches a fall back to per-user loops.
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- column index


def test_column_index_round_trip(published, tmp_path):
    cols = published.columns
    d = cols.to_dict()
    assert UM.ColumnIndex.from_dict(json.loads(json.dumps(d))) == cols
    torch.save({"columns": d}, tmp_path / "c.pt")
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)["columns"]
    assert UM.ColumnIndex.from_dict(loaded) == cols
    assert len(cols.names) == len(set(cols.names)) == cols.n_columns
    assert cols.names[0] == "item:1" and cols.names[1682] == "genre:Action"
    assert cols.names[-1].startswith("attribute:occupation_code_ml1m")
    assert [cols.block_of(i) for i in (0, 1681, 1682, 1699, 1700, -1)] == [
        "rating", "rating", "genre", "genre", "attribute", "attribute"]
    assert cols.block_of("genre:Western") == "genre"
    assert (cols.rating_slice, cols.genre_slice, cols.attribute_slice) == (
        slice(0, 1682), slice(1682, 1700), slice(1700, 1704))
    with pytest.raises(IndexError):
        cols.block_of(1704)
    with pytest.raises(ValueError, match="lacks the keys"):
        UM.ColumnIndex.from_dict({"user_ids": [1]})


def test_column_index_is_frozen_and_validated():
    cols = UM.ColumnIndex(np.array([3, 1]), np.array([10, 20, 30]), ("a",), ("x", "y"))
    assert (cols.n_users, cols.n_items, cols.n_genres, cols.n_attributes) == (2, 3, 1, 2)
    with pytest.raises(ValueError, match="read-only"):
        cols.item_ids[0] = 5
    assert cols != UM.ColumnIndex(np.array([1, 3]), np.array([10, 20, 30]), ("a",), ("x", "y"))
    with pytest.raises(ValueError, match="duplicate ids"):
        UM.ColumnIndex(np.array([1, 1]), np.array([1]), (), ())
    with pytest.raises(ValueError, match="duplicate names"):
        UM.ColumnIndex(np.array([1]), np.array([1]), ("a", "a"), ())
    np.testing.assert_array_equal(cols.item_positions([30, 10]), [2, 0])


# --------------------------------------------------------------------------- pure builders


def test_rating_block_synthetic():
    frame = ratings_frame([(2, 30, 4), (1, 10, 5), (2, 10, 1)])
    block = UM.rating_block(frame, np.array([1, 2, 3]), np.array([10, 20, 30]))
    np.testing.assert_array_equal(block, [[5, 0, 0], [1, 0, 4], [0, 0, 0]])
    assert block.dtype == np.float32


def test_genre_vocabulary_and_tables():
    movies = pd.DataFrame({"item_id": [7, 3], "genres": ["drama|Action", "Comedy|action"]})
    assert F.genre_vocabulary(movies["genres"]) == ("Action", "action", "Comedy", "drama")
    # Names equal but for case keep their first-appearance order, as in the article.
    assert F.genre_vocabulary(["b|action", "Action"]) == ("action", "Action", "b")
    table = F.genre_table_from_strings(movies.set_index(pd.Index([5, 9])))  # any frame index
    np.testing.assert_array_equal(table.lookup(np.array([3, 7])),
                                  [[0, 1, 1, 0], [1, 0, 0, 1]])
    assert table.frame().loc[7, "drama"] == 1
    with pytest.raises(ValueError, match="not in the vocabulary"):
        F.genre_table_from_strings(movies, vocabulary=("Action",))
    flags = pd.DataFrame({"item_id": [1, 2], "a": [1, 0], "b": [1, 1]})
    np.testing.assert_array_equal(F.genre_table_from_flags(flags, ("a", "b")).matrix,
                                  [[1, 1], [0, 1]])
    with pytest.raises(ValueError, match="only 0 and 1"):
        F.genre_table_from_flags(flags.assign(a=[2, 0]), ("a", "b"))


def test_genre_counts_threshold_and_shares():
    genres = F.GenreTable(np.array([1, 2, 3]), ("x", "y"),
                          np.array([[1, 0], [1, 1], [0, 1]]))
    frame = ratings_frame([(1, 1, 3), (1, 2, 2), (1, 3, 5), (2, 2, 4), (2, 1, 1)])
    counts = F.genre_counts(frame, genres, np.array([1, 2, 3]))
    np.testing.assert_array_equal(counts, [[1, 1], [1, 1], [0, 0]])
    np.testing.assert_array_equal(F.genre_counts(frame, genres, [1, 2, 3], threshold=2),
                                  [[2, 2], [1, 1], [0, 0]])
    liked = F.liked_counts(frame, [1, 2, 3])
    np.testing.assert_array_equal(liked, [2, 1, 0])
    np.testing.assert_allclose(F.genre_shares(counts, liked), [[0.5, 0.5], [1, 1], [0, 0]])


def test_attribute_blocks_synthetic():
    users_1m = pd.DataFrame({"user_id": [1, 2], "gender": ["M", "F"], "age_group": [56, 1],
                             "occupation_code": [0, 20]})
    values, names = F.attribute_block_as_published(users_1m, np.array([2, 1]))
    np.testing.assert_array_equal(values, [[1, 0, 1, 20], [0, 1, 56, 0]])
    assert names == F.AS_PUBLISHED_ATTRIBUTES
    with pytest.raises(ValueError, match="user_id.*not in the user table.*\\[3\\]"):
        F.attribute_block_as_published(users_1m, np.array([3]))
    users = pd.DataFrame({"user_id": [1, 2], "gender": ["M", "F"], "age": [50, 20],
                          "occupation": ["b", "a"]})
    values, names = F.attribute_block_corrected(users, np.array([1, 2]), ["a", "b"])
    assert names == ("female", "male", "age/100", "occupation=a", "occupation=b")
    np.testing.assert_allclose(values, [[0, 1, 0.5, 0, 1], [1, 0, 0.2, 1, 0]])
    with pytest.raises(ValueError, match="ages must lie"):
        F.attribute_block_corrected(users.assign(age=[-1, 20]), np.array([1]), ["a", "b"])
    with pytest.raises(ValueError, match="gender must be"):
        F.attribute_block_corrected(users.assign(gender=["X", "F"]), np.array([1]), ["a", "b"])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("frame", "message"), [
    (ratings_frame([]), "is empty"),
    (pd.DataFrame({"user": [1], "item_id": [1], "rating": [5]}),
     "lacks the columns \\[.user_id.\\]"),
    (ratings_frame([(1, 1, np.nan)]), "empty fields \\(NaN\\)"),
    (ratings_frame([(1.5, 1, 4)]), "integer id"),
    (ratings_frame([(1, 1, 0)]), "on the scale 1..5"),
    (ratings_frame([(1, 1, 4), (1, 1, 5)]), "same movie twice"),
    (pd.DataFrame({"user_id": [1], "item_id": ["a"], "rating": [5]}), "item_id must be numeric"),
    ([(1, 1, 5)], "must be a pandas DataFrame"),
])
def test_bad_ratings_frames(frame, message, tables):
    good = ratings_frame([(1, 1, 4)])
    with pytest.raises(ValueError, match=message):
        validate_ratings(frame, require_timestamp=False)
    with pytest.raises(ValueError, match=message):
        UM.build_from_tables(good, frame, tables["as_published"])


def test_bad_choices(split, tables):
    good = ratings_frame([(1, 1, 4)])
    with pytest.raises(ValueError, match="Unknown recipe 'fixed'.*as_published"):
        UM.build_user_matrices(good, good, recipe="fixed")
    with pytest.raises(ValueError, match="Unknown feature set 'genres'"):
        UM.build_user_matrices(good, good, features="genres")
    with pytest.raises(ValueError, match="Unknown feature set"):
        UM.build_from_tables(good, good, tables["corrected"], features="all")


def test_as_published_unknown_user_fails_like_the_article(tables):
    # ML-1M has 6040 users; the article's float(empty selection) fails beyond that.
    frame = ratings_frame([(6041, 1, 4)])
    with pytest.raises(ValueError, match="user_id.*not in the user table.*6041"):
        UM.build_from_tables(frame, frame, tables["as_published"])
    rows_only = UM.build_from_tables(frame, frame, tables["as_published"], features="ratings")
    assert rows_only.train.shape == (6041, 1)
