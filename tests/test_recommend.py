"""Recommendation helpers: exclusion of seen movies, new users, fallbacks and bad input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from recsae import data, features, recommend, user_matrix
from recsae.user_matrix import ColumnIndex


class EchoModel(torch.nn.Module):
    """Returns a fixed score per column, whatever the input: easy to reason about."""

    def __init__(self, column_scores: np.ndarray):
        super().__init__()
        self.scores = torch.nn.Parameter(torch.as_tensor(column_scores, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores.expand(x.shape[0], -1) + 0 * x


@pytest.fixture
def toy() -> tuple[ColumnIndex, pd.DataFrame]:
    columns = ColumnIndex(np.array([1, 2]), np.array([10, 20, 30, 40]), (), ())
    movies = pd.DataFrame({"item_id": [10, 20, 30, 40], "title": ["A (1990)", "B (1991)",
                                                                  "C (1992)", "D (1993)"],
                           "genres": ["Drama", "Comedy", "Drama|War", "Horror"]})
    return columns, movies


def test_recommend_excludes_rated_and_orders_by_score(toy):
    columns, movies = toy
    scores = np.array([4.0, 5.0, 3.0, 4.5])
    rated = np.array([False, True, False, False])
    top = recommend.recommend(scores, rated, columns, movies, k=2)
    assert top["item_id"].tolist() == [40, 10]
    assert top["title"].tolist() == ["D (1993)", "A (1990)"]
    assert top["rank"].tolist() == [1, 2]
    assert top["predicted_rating"].tolist() == [4.5, 4.0]


def test_recommend_ties_are_deterministic(toy):
    columns, movies = toy
    top = recommend.recommend(np.ones(4), np.zeros(4, bool), columns, movies, k=4)
    assert top["item_id"].tolist() == [10, 20, 30, 40]


@pytest.mark.parametrize("k", [0, 4])
def test_k_out_of_range(toy, k):
    columns, movies = toy
    with pytest.raises(ValueError, match="k must be between 1 and the 3 candidate movies"):
        recommend.recommend(np.ones(4), np.array([True, False, False, False]), columns, movies, k)


def test_score_rows_uses_rating_columns(toy):
    columns, _ = toy
    model = EchoModel(np.array([1.0, 2.0, 3.0, 4.0]))
    assert recommend.score_rows(model, np.zeros(4), columns).tolist() == [[1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(ValueError, match="rows have 3 columns"):
        recommend.score_rows(model, np.zeros(3), columns)


def test_resolve_movies(toy):
    _, movies = toy
    assert recommend.resolve_movies({"a (1990)": 5, 30: 2}, movies) == {10: 5.0, 30: 2.0}
    with pytest.raises(ValueError, match=r"No movie titled 'A \(1999\)'. Did you mean"):
        recommend.resolve_movies({"A (1999)": 4}, movies)
    with pytest.raises(ValueError, match="No movie with id 99"):
        recommend.resolve_movies({99: 4}, movies)
    with pytest.raises(ValueError, match="between 1 and 5; got 6"):
        recommend.resolve_movies({10: 6}, movies)


@pytest.fixture(scope="module")
def real():
    train, test = data.load_split(1)
    tables = features.load_feature_tables("corrected")
    matrices = user_matrix.build_from_tables(train, test, tables)
    return train, tables, matrices, data.load_movies()


def test_new_user_row_matches_training_encoding(real):
    train, tables, matrices, movies = real
    user1 = train[train["user_id"] == 1]
    ratings = dict(zip(user1["item_id"].tolist(), user1["rating"].tolist(), strict=True))
    row = recommend.new_user_row(ratings, matrices.columns, tables, movies,
                                 {"gender": "M", "age": 24, "occupation": "technician"})
    np.testing.assert_array_equal(row, matrices.train[0])


def test_new_user_gets_unseen_movies_from_the_model(real):
    train, tables, matrices, movies = real
    columns = matrices.columns
    scores = np.zeros(columns.n_columns, dtype=np.float32)
    scores[: columns.n_items] = np.linspace(1, 5, columns.n_items)  # best = highest id
    model = EchoModel(scores)
    top = recommend.recommend_for_new_user(
        model, {"Star Wars (1977)": 5, 1682: 4}, columns, tables, movies, train,
        {"gender": "F", "age": 30, "occupation": "writer"}, k=3)
    assert top["item_id"].tolist() == [1681, 1680, 1679]  # 1682 was rated: excluded
    assert set(top["source"]) == {"model"}


def test_user_with_nothing_known_falls_back_to_popularity(real):
    train, tables, matrices, movies = real
    model = EchoModel(np.zeros(matrices.columns.n_columns))
    top = recommend.recommend_for_new_user(model, {}, matrices.columns, tables, movies, train, k=5)
    assert top["source"].iloc[0].startswith("popularity")
    # Shrunk means: a well-rated, often-rated classic, not a movie with one 5-star rating.
    counts = train.groupby("item_id").size()
    assert (counts.reindex(top["item_id"]) >= 50).all()


def test_too_few_ratings_excludes_rare_movies(real):
    train, tables, matrices, movies = real
    columns = matrices.columns
    rare = recommend.too_few_ratings(train, columns, 20)
    counts = train["item_id"].value_counts()
    assert rare[columns.item_ids.tolist().index(1)] == (counts[1] < 20) == False  # noqa: E712
    assert rare.sum() == (counts.reindex(columns.item_ids, fill_value=0) < 20).sum() > 500
    scores = np.zeros(columns.n_columns, dtype=np.float32)
    scores[: columns.n_items] = np.linspace(1, 5, columns.n_items)
    top = recommend.recommend_for_new_user(EchoModel(scores), {1: 5}, columns, tables, movies, train,
                                           {"gender": "F", "age": 30, "occupation": "writer"},
                                           k=5, min_ratings=20)
    assert (counts.reindex(top["item_id"]) >= 20).all()


# ------------------------------------------------------------------ bad input, friendly look-up

CATALOGUE = pd.DataFrame({
    "item_id": [1, 50, 127, 187, 246, 268, 313, 543, 600, 601],
    "title": ["Toy Story (1995)", "Star Wars (1977)", "Godfather, The (1972)",
              "Godfather: Part II, The (1974)", "Chasing Amy (1997)", "Chasing Amy (1997)",
              "Titanic (1997)", "Misérables, Les (1995)", "Titanic (1953)", "Boot, Das (1981)"],
    "genres": ["Comedy"] * 10,
})


@pytest.mark.parametrize(("title", "item_id"), [
    ("star wars", 50), ("STAR WARS (1977)", 50), ("  Star   Wars ", 50),
    ("godfather", 127), ("The Godfather", 127), ("the godfather (1972)", 127),
    ("GODFATHER, THE (1972)", 127), ("The Godfather: Part II", 187), ("Les Miserables", 543),
    ("das boot", 601), ("Titanic (1953)", 600),
])
def test_titles_match_up_to_case_article_accents_and_year(title, item_id):
    assert recommend.resolve_movies({title: 4}, CATALOGUE) == {item_id: 4.0}


@pytest.mark.parametrize(("title", "suggested"), [
    ("star war", "Star Wars (1977)"), ("godfather part 2", "Godfather: Part II, The (1974)"),
    ("The Godfather (1999)", "Godfather, The (1972)"), ("Toy Stroy", "Toy Story (1995)"),
])
def test_an_unknown_title_suggests_the_closest(title, suggested):
    with pytest.raises(ValueError, match=re.escape(f"No movie titled {title!r}. Did you mean [")
                       + ".*" + re.escape(repr(suggested))):
        recommend.resolve_movies({title: 4}, CATALOGUE)


def test_a_title_naming_several_movies_asks_for_the_id():
    with pytest.raises(ValueError, match=r"'titanic' matches 2 movies: Titanic \(1997\) \(id "
                                         r"313\); Titanic \(1953\) \(id 600\)\. Pass one of"):
        recommend.resolve_movies({"titanic": 4}, CATALOGUE)
    with pytest.raises(ValueError, match=r"matches 2 movies: .*\(id 246\); .*\(id 268\)"):
        recommend.resolve_movies({"Chasing Amy (1997)": 4}, CATALOGUE)  # listed twice
    assert recommend.resolve_movies({268: 4}, CATALOGUE) == {268: 4.0}


@pytest.mark.parametrize("seed", range(20))
def test_a_rating_that_is_not_a_whole_number_1_to_5_names_the_movie(seed):
    rng = np.random.default_rng(seed)
    bad = [str(rng.choice(["five", "5", "", "4 stars"])), None, [5], True, {"stars": 4},
           float(rng.uniform(-10, 0.99)), float(rng.uniform(5.01, 100)), float("nan"),
           int(rng.integers(6, 1000)), int(rng.integers(1, 5)) + 0.5][seed % 10]
    key = [50, "The Godfather", 1, "toy story"][int(rng.integers(4))]
    with pytest.raises(ValueError, match=rf"(The rating of {re.escape(repr(key))} is .*; ratings "
                                         r"must be numbers 1\.\.5)|(whole numbers between 1 and "
                                         rf"5; got .* for {re.escape(repr(key))}\.)"):
        recommend.resolve_movies({313: 5, key: bad, 600: 1}, CATALOGUE)


def test_five_as_a_word():
    with pytest.raises(ValueError, match=r"The rating of 'Star Wars \(1977\)' is 'five'; "
                                         r"ratings must be numbers 1\.\.5"):
        recommend.resolve_movies({"Star Wars (1977)": "five"}, CATALOGUE)
    assert recommend.resolve_movies({50: np.int64(5), 1: np.float32(3.0)}, CATALOGUE) == {
        50: 5.0, 1: 3.0}


@pytest.mark.parametrize("ratings", [
    {"Star Wars (1977)": 5, 50: 4}, {"star wars": 5, "STAR WARS (1977)": 4},
    {127: 3, "The Godfather": 3}, {np.int64(1): 5, "toy story": 4},
])
def test_a_movie_rated_twice_is_refused_naming_both(ratings):
    first, second = list(ratings)
    with pytest.raises(ValueError, match=re.escape(f"is rated twice, as {first!r} and as "
                                                   f"{second!r}; rate each movie once")):
        recommend.resolve_movies(ratings, CATALOGUE)


def test_movie_keys_and_the_mapping_itself_must_be_the_right_kind():
    with pytest.raises(TypeError, match=r"by its id \(an int\) or its title \(a str\), not a "
                                        "tuple"):
        recommend.resolve_movies({(50, 1): 4}, CATALOGUE)
    with pytest.raises(TypeError, match="not a float"):
        recommend.resolve_movies({50.5: 4}, CATALOGUE)
    with pytest.raises(TypeError, match=r"ratings must be a mapping .* got a list"):
        recommend.resolve_movies([("Star Wars (1977)", 5)], CATALOGUE)


@pytest.mark.parametrize("k", [2.5, 3.0, "3", None, True, False])
def test_k_must_be_a_whole_number(toy, k):
    columns, movies = toy
    with pytest.raises(TypeError, match=r"k \(how many movies to recommend\) must be a whole "
                                        rf"number >= 1, e\.g\. k=10; got {k!r}"):
        recommend.recommend(np.ones(4), np.zeros(4, bool), columns, movies, k)
    with pytest.raises(TypeError, match=r"k \(how many movies to recommend\)"):
        recommend.recommend_for_new_user(EchoModel(np.ones(4)), {}, columns, None, movies,
                                         pd.DataFrame(), k=k)
    assert len(recommend.recommend(np.ones(4), np.zeros(4, bool), columns, movies,
                                   np.int64(2))) == 2


def test_occupation_and_gender_in_any_case(real):
    train, tables, matrices, movies = real
    columns = matrices.columns
    expected = recommend.new_user_row({50: 5}, columns, tables, movies,
                                      {"gender": "F", "age": 31, "occupation": "engineer"})
    for occupation, gender in [("Engineer", "f"), ("ENGINEER ", "F"), ("engineer", " f ")]:
        row = recommend.new_user_row({50: 5}, columns, tables, movies,
                                     {"gender": gender, "age": 31, "occupation": occupation})
        np.testing.assert_array_equal(row, expected)
    with pytest.raises(ValueError, match=r"Unknown occupation 'astronaut'; choose one of \[.*"
                                         r"'engineer'.*\] \(any case\)"):
        recommend.recommend_for_new_user(EchoModel(np.zeros(columns.n_columns)), {50: 5}, columns,
                                         tables, movies, train,
                                         {"gender": "F", "age": 31, "occupation": "astronaut"})
