"""Bayesian factorization machine (Gibbs sampling, via the ``myfm`` package) for ratings.

A fixed-recipe baseline: no hyper-parameter is chosen on a test file. ``myfm`` samples
every weight and every prior (hierarchical Gaussian priors with Gamma hyper-priors, one
prior per feature *group*), and predicts with the posterior mean over the kept samples,
so the only knobs are the rank, the number of Gibbs iterations and the feature set.

Feature sets (``features=``), all built from the training frame only:

* ``"ids"``: user one-hot and movie one-hot: Bayesian biased MF.
* ``"svdpp_flipped"``: the "Bayesian timeSVD++ flipped" features of Rendle, Zhang and
  Koren (2019), "On the Difficulty of Evaluating Baselines": user and movie one-hot, the
  rating's day (one-hot, optional, see ``use_day``), the set of movies the user rated in
  training (weights ``1/sqrt(|N(u)|)``) and the set of users who rated the movie in
  training (weights ``1/sqrt(|N(i)|)``).
* ``"svdpp_flipped+side"``: the above plus the ML-100K side features: user age bucket,
  gender and occupation; movie genres (multi-hot, weights ``1/sqrt(#genres)``).

Each feature group has its own prior (``myfm``'s ``grouping``). Features that repeat per
user or per movie are passed as ``myfm.RelationBlock`` s (a user block and a movie block),
so the cost of a Gibbs sweep grows with the number of distinct users and movies, not with
the number of ratings times the size of the implicit sets.

Contract (the recsae rating-model contract): ``fit(train) -> self`` and
``predict(user_ids, item_ids) -> float64 [n]``; ``predict`` also takes an optional
``timestamps=`` keyword for the day feature. Unknown ids never raise: an unknown user (or
movie) gets an all-zero one-hot and an empty implicit set, so its prediction falls back to
what the model knows (global bias, the other side's terms and, with side tables, its own
side features). Without ``timestamps`` the day is imputed per user (see
:meth:`BayesianFM.predict`).
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd

try:  # an optional dependency (``pip install myfm``; in requirements.lock)
    with warnings.catch_warnings():  # myfm 0.4 imports the deprecated pkg_resources
        warnings.simplefilter("ignore", UserWarning)
        import myfm
        import myfm.base
    import scipy.sparse as sps
except ImportError:  # pragma: no cover - the error says what to install
    myfm = None

from recsae.constants import RATING_MIN
from recsae.data import ML100K_GENRES, validate_ratings

FEATURE_SETS = ("ids", "svdpp_flipped", "svdpp_flipped+side")
OUTPUTS = ("regression", "ordered_probit")
SECONDS_PER_DAY = 86_400
# ML-1M's age buckets (lower bounds), applied to ML-100K's exact ages: fixed in advance.
AGE_BUCKETS = (0, 18, 25, 35, 45, 50, 56)
AGE_BUCKET_NAMES = ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")


@contextlib.contextmanager
def _quiet_myfm(verbose: bool) -> Iterator[None]:
    """Silence myfm's per-iteration tqdm bar (it has no switch of its own)."""
    original = getattr(myfm.base, "tqdm", None)
    if verbose or original is None:
        yield
        return
    myfm.base.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        myfm.base.tqdm = original


def _one_hot(rows: np.ndarray, n_cols: int) -> sps.csr_matrix:
    """``[len(rows), n_cols]`` one-hot; a row index of -1 gives an all-zero row."""
    rows = np.asarray(rows)
    known = rows >= 0
    return sps.csr_matrix(
        (np.ones(known.sum()), (np.flatnonzero(known), rows[known])),
        shape=(len(rows), n_cols))


def _row_normalised(matrix: sps.csr_matrix) -> sps.csr_matrix:
    """Each row scaled by ``1/sqrt(its number of non-zeros)`` (empty rows stay empty)."""
    matrix = sps.csr_matrix(matrix, dtype=np.float64, copy=True)
    matrix.data[:] = 1.0
    counts = np.diff(matrix.indptr)
    scale = 1.0 / np.sqrt(np.maximum(counts, 1))
    return sps.csr_matrix(sps.diags(scale) @ matrix)


def _select_rows(matrix: sps.csr_matrix, rows: np.ndarray) -> sps.csr_matrix:
    """``matrix[rows]`` with -1 meaning an all-zero row."""
    padded = sps.vstack([matrix, sps.csr_matrix((1, matrix.shape[1]))], format="csr")
    return padded[np.where(rows >= 0, rows, matrix.shape[0])]


class BayesianFM:
    """Bayesian factorization machine for 1..5 ratings, trained by Gibbs sampling (myfm).

    Args:
        rank: number of latent factors (10 in the fixed recipe).
        n_iter: Gibbs iterations (512 in the fixed recipe).
        n_kept_samples: posterior samples kept for prediction (the last ones); ``None``
            means myfm's default, ``n_iter - 5`` (a 5-sweep burn-in).
        seed: myfm's random seed (the whole sampler is seeded by it; training runs on one
            thread, so a seed fixes the predictions exactly).
        features: ``"ids"``, ``"svdpp_flipped"`` or ``"svdpp_flipped+side"``.
        output: ``"regression"`` (Gaussian likelihood) or ``"ordered_probit"`` (myfm's
            ordered probit on the classes 1..5; ``predict`` gives the expected rating).
        use_day: include the day-of-rating one-hot (only for the svdpp_flipped sets). Off
            by default: recsae's evaluation (``protocol.evaluate_rating_model``) calls
            ``predict`` without timestamps, and an imputed day is worse than none (u1..u5
            mean 0.8864 vs 0.8815 measured here); with true test timestamps the day gains
            about 0.002.
        users: side table for ``"svdpp_flipped+side"``: ``user_id`` and ``age`` (or
            ``age_group``), ``gender``, ``occupation`` (or ``occupation_code``), as made by
            ``recsae.data.load_users``.
        movies: side table for ``"svdpp_flipped+side"``: ``item_id`` and either one 0/1
            column per genre (``genre_columns``) or a ``|``-joined ``genres`` column, as
            made by ``recsae.data.load_movies``.
        genre_columns: the genre flag columns to read from ``movies`` (default: ML-100K's
            19); if absent, ``movies["genres"]`` is split on ``|``.
        verbose: show myfm's progress bar.
    """

    # Pairs scored per predict call in cross-validation's ranking (recsae.crossval): each
    # call costs a pass over every kept sample, so fewer, larger calls.
    score_block = 2_000_000

    def __init__(self, rank: int = 10, n_iter: int = 512, n_kept_samples: int | None = None,
                 seed: int = 0, features: str = "svdpp_flipped", output: str = "regression",
                 use_day: bool = False, users: pd.DataFrame | None = None,
                 movies: pd.DataFrame | None = None,
                 genre_columns: tuple[str, ...] = ML100K_GENRES, verbose: bool = False):
        if features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {FEATURE_SETS}, not {features!r}.")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {output!r}.")
        if features == "svdpp_flipped+side" and (users is None or movies is None):
            raise ValueError("features='svdpp_flipped+side' needs the users and movies tables.")
        if n_kept_samples is not None and not 1 <= n_kept_samples <= n_iter:
            raise ValueError(f"n_kept_samples must be in 1..n_iter, not {n_kept_samples}.")
        self.rank, self.n_iter, self.n_kept_samples = rank, n_iter, n_kept_samples
        self.seed, self.features, self.output = seed, features, output
        self.use_day = use_day and features != "ids"
        self.users, self.movies, self.genre_columns = users, movies, tuple(genre_columns)
        self.verbose = verbose

    # ------------------------------------------------------------------ features
    def _build_vocabularies(self, train: pd.DataFrame) -> None:
        """Everything the features need, from ``train`` (and the side tables) only."""
        u = train["user_id"].to_numpy()
        i = train["item_id"].to_numpy()
        self.users_ = pd.Index(np.unique(u))
        self.items_ = pd.Index(np.unique(i))
        n_u, n_i = len(self.users_), len(self.items_)
        ur, ir = self.users_.get_indexer(u), self.items_.get_indexer(i)
        rated = sps.csr_matrix((np.ones(len(ur)), (ur, ir)), shape=(n_u, n_i))
        rated.sum_duplicates()
        implicit = self.features != "ids"
        # N(u): the movies each user rated in training; N(i): the users who rated each movie.
        self.user_implicit_ = _row_normalised(rated) if implicit else None
        self.item_implicit_ = _row_normalised(rated.T.tocsr()) if implicit else None

        if self.use_day:
            days = train["timestamp"].to_numpy() // SECONDS_PER_DAY
            self.days_ = np.unique(days)  # sorted training days
            day_rows = np.searchsorted(self.days_, days)
            # Imputation for predict() without timestamps: the user's most frequent training
            # day (ties: the latest), or the latest training day for an unknown user.
            counts = pd.DataFrame({"u": ur, "d": day_rows}).value_counts().reset_index()
            counts = counts.sort_values(["u", "count", "d"], ascending=[True, False, False])
            first = counts.drop_duplicates("u")
            self.user_day_ = np.full(n_u, len(self.days_) - 1)
            self.user_day_[first["u"].to_numpy()] = first["d"].to_numpy()
        else:
            self.days_ = self.user_day_ = None

        self.user_side_ = self.item_side_ = None
        if self.features == "svdpp_flipped+side":
            self.user_side_ = self._user_side_table(self.users)
            self.item_side_ = self._item_side_table(self.movies)

    @staticmethod
    def _user_side_table(users: pd.DataFrame) -> tuple[pd.Index, list[tuple[str, list[str],
                                                                              sps.csr_matrix]]]:
        """``(user ids, [(group, column names, [n_users, k] matrix), ...])``."""
        ids = pd.Index(users["user_id"].to_numpy())
        if ids.has_duplicates:
            raise ValueError("users has duplicate user_id values.")
        groups = []
        if "age" in users.columns:
            bucket = np.searchsorted(AGE_BUCKETS, users["age"].to_numpy(), side="right") - 1
            groups.append(("age", [f"age={b}" for b in AGE_BUCKET_NAMES],
                           _one_hot(bucket, len(AGE_BUCKETS))))
        elif "age_group" in users.columns:
            groups.append(_categorical("age", users["age_group"]))
        groups.append(_categorical("gender", users["gender"]))
        occupation = "occupation" if "occupation" in users.columns else "occupation_code"
        groups.append(_categorical("occupation", users[occupation]))
        return ids, groups

    def _item_side_table(self, movies: pd.DataFrame) -> tuple[pd.Index, list[tuple[str, list[str],
                                                                                   sps.csr_matrix]]]:
        ids = pd.Index(movies["item_id"].to_numpy())
        if ids.has_duplicates:
            raise ValueError("movies has duplicate item_id values.")
        if all(c in movies.columns for c in self.genre_columns):
            names = list(self.genre_columns)
            flags = movies[names].to_numpy(dtype=np.float64)
        else:
            split = movies["genres"].fillna("").str.get_dummies(sep="|")
            names = list(split.columns)
            flags = split.to_numpy(dtype=np.float64)
        genre = _row_normalised(sps.csr_matrix(flags))
        return ids, [("genre", [f"genre={g}" for g in names], genre)]

    def _block(self, ids: np.ndarray, side: str) -> tuple[np.ndarray, sps.csr_matrix]:
        """A relation block for the user (``side="user"``) or movie side of ``ids``.

        Returns ``(row of each id in the block, [n_distinct_ids, n_block_features])``.
        """
        uniques, mapping = np.unique(np.asarray(ids), return_inverse=True)
        index = self.users_ if side == "user" else self.items_
        implicit = self.user_implicit_ if side == "user" else self.item_implicit_
        side_table = self.user_side_ if side == "user" else self.item_side_
        rows = index.get_indexer(uniques)
        parts = [_one_hot(rows, len(index))]
        if implicit is not None:
            parts.append(_select_rows(implicit, rows))
        if side_table is not None:
            side_ids, groups = side_table
            side_rows = side_ids.get_indexer(uniques)
            parts.extend(_select_rows(matrix, side_rows) for _, _, matrix in groups)
        return mapping.astype(np.int64), sps.hstack(parts, format="csr", dtype=np.float64)

    def _day_matrix(self, user_ids: np.ndarray, timestamps: np.ndarray | None) -> sps.csr_matrix | None:
        if not self.use_day:
            return None
        if timestamps is None:
            rows = self.users_.get_indexer(np.asarray(user_ids))
            day_rows = np.where(rows >= 0, self.user_day_[np.maximum(rows, 0)],
                                len(self.days_) - 1)
        else:
            days = np.asarray(timestamps, dtype=np.int64) // SECONDS_PER_DAY
            # An unseen day takes the nearest training day (earlier on a tie).
            right = np.clip(np.searchsorted(self.days_, days), 0, len(self.days_) - 1)
            left = np.maximum(right - 1, 0)
            day_rows = np.where(np.abs(self.days_[left] - days) <= np.abs(self.days_[right] - days),
                                left, right)
        return _one_hot(day_rows, len(self.days_))

    def _design(self, user_ids: np.ndarray, item_ids: np.ndarray,
                timestamps: np.ndarray | None) -> tuple[sps.csr_matrix | None, list]:
        user_map, user_data = self._block(user_ids, "user")
        item_map, item_data = self._block(item_ids, "item")
        blocks = [myfm.RelationBlock(user_map, user_data), myfm.RelationBlock(item_map, item_data)]
        return self._day_matrix(user_ids, timestamps), blocks

    def _feature_layout(self) -> tuple[list[str], list[str]]:
        """Names of every feature column and of its group, in myfm's order (X, then blocks)."""
        names, groups = [], []

        def add(group: str, columns: list[str]) -> None:
            names.extend(columns)
            groups.extend([group] * len(columns))

        if self.use_day:
            add("day", [f"day={pd.Timestamp(d * SECONDS_PER_DAY, unit='s').date()}"
                        for d in self.days_])
        for side, index, implicit_name, other in (
                ("user", self.users_, "user_rated_item", self.items_),
                ("item", self.items_, "item_rated_by_user", self.users_)):
            add(side, [f"{side}={x}" for x in index])
            if self.features != "ids":
                add(implicit_name, [f"{implicit_name}={x}" for x in other])
            side_table = self.user_side_ if side == "user" else self.item_side_
            if side_table is not None:
                for group, columns, _ in side_table[1]:
                    add(group, columns)
        return names, groups

    # ------------------------------------------------------------------ contract
    def fit(self, train: pd.DataFrame) -> BayesianFM:
        """Build the features from ``train`` alone and run the Gibbs sampler."""
        if myfm is None:
            raise ImportError("BayesianFM needs the myfm package: pip install myfm "
                              "(it is pinned in requirements.lock).")
        validate_ratings(train, "the training ratings of BayesianFM.fit",
                         require_timestamp=self.use_day)
        self._build_vocabularies(train)
        self.feature_names_, self.feature_groups_ = self._feature_layout()
        group_ids = {g: k for k, g in enumerate(dict.fromkeys(self.feature_groups_))}
        grouping = [group_ids[g] for g in self.feature_groups_]

        timestamps = train["timestamp"].to_numpy() if self.use_day else None
        X, blocks = self._design(train["user_id"].to_numpy(), train["item_id"].to_numpy(),
                                 timestamps)
        rating = train["rating"].to_numpy()
        if self.output == "regression":
            self.fm_ = myfm.MyFMRegressor(rank=self.rank, random_seed=self.seed)
            y = rating.astype(np.float64)
        else:
            self.fm_ = myfm.MyFMOrderedProbit(rank=self.rank, random_seed=self.seed)
            y = (rating - RATING_MIN).astype(np.int64)  # classes 0..4
        with _quiet_myfm(self.verbose):
            self.fm_.fit(X, y, X_rel=blocks, grouping=grouping, n_iter=self.n_iter,
                         n_kept_samples=self.n_kept_samples)
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray,
                timestamps: np.ndarray | None = None) -> np.ndarray:
        """``[n]`` float64 predictions (posterior mean; unclipped for regression).

        Args:
            user_ids, item_ids: ``[n]`` ids; unknown ids fall back as the module says.
            timestamps: ``[n]`` Unix seconds of the ratings to predict, for the day feature.
                ``None`` (the plain contract): each pair takes its user's most frequent
                training day (ties: the latest; unknown user: the latest training day). A
                day absent from training takes the nearest training day. Ignored by models
                without the day feature.
        """
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        if len(user_ids) != len(item_ids):
            raise ValueError("user_ids and item_ids must have the same length.")
        if timestamps is not None and len(np.asarray(timestamps)) != len(user_ids):
            raise ValueError("timestamps must have one entry per pair.")
        if len(user_ids) == 0:
            return np.zeros(0, dtype=np.float64)
        X, blocks = self._design(user_ids, item_ids, timestamps)
        if self.output == "regression":
            pred = self.fm_.predict(X, blocks)
        else:
            proba = self.fm_.predict_proba(X, blocks)
            pred = proba @ np.arange(RATING_MIN, RATING_MIN + proba.shape[1], dtype=np.float64)
        return np.asarray(pred, dtype=np.float64)

    def design_matrix(self, user_ids: np.ndarray, item_ids: np.ndarray,
                      timestamps: np.ndarray | None = None) -> sps.csr_matrix:
        """The full ``[n, n_features]`` feature matrix (columns: ``feature_names_``).

        For inspection and tests; fitting and predicting use the relational form.
        """
        X = self._day_matrix(np.asarray(user_ids), timestamps)
        parts = [] if X is None else [X]
        for ids, side in ((user_ids, "user"), (item_ids, "item")):
            mapping, data = self._block(np.asarray(ids), side)
            parts.append(data[mapping])
        return sps.hstack(parts, format="csr")


def _categorical(group: str, values: pd.Series) -> tuple[str, list[str], sps.csr_matrix]:
    """One-hot of a categorical column over its sorted distinct values."""
    categories, codes = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    return group, [f"{group}={c}" for c in categories], _one_hot(codes, len(categories))
