"""Recommendation helpers: exclusion of seen movies, new users, fallbacks and bad input."""

from __future__ import annotations

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
