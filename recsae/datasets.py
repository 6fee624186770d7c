"""The dataset table: every MovieLens dataset recsae knows, one entry each.

An entry (:class:`DatasetSpec`) says where the archive is, the checksums published for it,
which member files it holds and their pinned SHA-256, how its files are parsed, its rating
scale and how it is split into train and test. :mod:`recsae.download` fetches and verifies
by it, :mod:`recsae.data` parses by it and :mod:`recsae.splits` splits by it. Adding a
dataset whose files use a format recsae already reads is one new entry in :data:`DATASETS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recsae.constants import RATING_MAX, RATING_MIN, RATING_STEP

GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class DatasetSpec:
    """What one MovieLens dataset is made of, and how to read and split it.

    How a file is trusted: a member with a pinned SHA-256 is checked wherever it comes from
    (cache, archive, mirror). A member pinned ``None`` is trusted only as far as its source:
    extracted from an archive that matched a published checksum (``archive_sha256`` /
    ``archive_md5``, checked by :mod:`recsae.download` before extraction), it is that
    published file; placed in the cache by hand, or fetched alone from a mirror, it is
    **unverified**: only the loader's format checks (columns, header, ids, rating scale,
    repeats) guard it.

    Attributes:
        name: the dataset's name, also its archive's (``<name>.zip``) and its cache folder's.
        members: file name -> pinned SHA-256 (``None``: no pinned hash known; see above).
        ratings: the file holding every rating.
        rating_format: how :mod:`recsae.data` parses it: ``"tab"`` (headerless,
            tab-separated ``user, item, rating, timestamp``), ``"double_colon"``
            (``user::item::rating::timestamp``) or ``"csv"`` (comma-separated, with the
            header ``userId,movieId,rating,timestamp``).
        users, movies: the user and movie tables (None: the dataset has none).
        table_format: the layout of ``users``/``movies`` (``"ml-100k"``: ``|``-separated,
            genre flags; ``"ml-1m"``: ``::``-separated, ``|``-joined genre names;
            ``"csv"``: ``movies.csv`` with the header ``movieId,title,genres``).
        encoding: of every text file.
        rating_scale: ``(lowest, highest, step)`` of a rating.
        split: ``"shipped"`` (the archive ships train/test folds, ``u{fold}.base`` and
            ``u{fold}.test`` for each of ``folds``) or ``"random"`` (a seeded uniform
            split of ``ratings``, ``test_fraction`` of them in the test part; see
            :func:`recsae.splits.random_split`).
        archive_folder: the folder inside the archive that holds the members, when it is
            not ``name`` (ML-10M's ``ml-10m.zip`` unpacks into ``ml-10M100K/``).
        archive_sha256, archive_md5: the archive's checksums as published by a trusted
            source (None: none published). A mirror must then serve the original archive,
            byte for byte, not a repacked one.
    """

    name: str
    members: dict[str, str | None] = field(default_factory=dict)
    ratings: str = "ratings.dat"
    rating_format: str = "double_colon"
    users: str | None = None
    movies: str | None = None
    table_format: str = "ml-1m"
    encoding: str = "latin-1"
    rating_scale: tuple[float, float, float] = (RATING_MIN, RATING_MAX, RATING_STEP)
    split: str = "random"
    folds: tuple[str, ...] = ()
    test_fraction: float = 0.1
    archive_folder: str | None = None
    archive_sha256: str | None = None
    archive_md5: str | None = None

    @property
    def folder_in_archive(self) -> str:
        """The folder of the archive that holds the members (``archive_folder`` or ``name``)."""
        return self.archive_folder or self.name

    @property
    def archive_checksums(self) -> dict[str, str]:
        """``{"sha256": hex, "md5": hex}``: the archive's published checksums, those known."""
        pairs = (("sha256", self.archive_sha256), ("md5", self.archive_md5))
        return {algorithm: value for algorithm, value in pairs if value is not None}

    @property
    def archive(self) -> str:
        """The archive's file name."""
        return f"{self.name}.zip"

    @property
    def url(self) -> str:
        """The archive's official GroupLens URL."""
        return f"{GROUPLENS_BASE_URL}/{self.archive}"

    def fold_files(self, fold: int | str) -> tuple[str, str]:
        """The ``(train, test)`` member files of a shipped fold."""
        if self.split != "shipped":
            raise ValueError(f"{self.name} ships no folds; it is split at random "
                             "(recsae.splits.random_split).")
        if str(fold) not in self.folds:
            raise ValueError(f"fold must be one of {', '.join(self.folds)}, not {fold!r}.")
        return f"u{fold}.base", f"u{fold}.test"

    @property
    def rating_files(self) -> tuple[str, ...]:
        """Every member that holds ratings: the full file, then each fold's two files."""
        return (self.ratings, *(f for fold in self.folds for f in self.fold_files(fold)))


ML100K = DatasetSpec(
    "ml-100k",
    {
        "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
        "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
        "u.info": "5b0a40b2e47a729ee6203063f6dcf8790c2e63f5a18663e6ee318a72c5f3c27b",
        "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
        "u.occupation": "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
        "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
        "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
        "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
        "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
        "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
        "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
        "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
        "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
        "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
        "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
        "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
        "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
        "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
        "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
    },
    ratings="u.data", rating_format="tab", users="u.user", movies="u.item",
    table_format="ml-100k", split="shipped", folds=("1", "2", "3", "4", "5", "a", "b"),
)
ML1M = DatasetSpec(
    "ml-1m",
    {
        "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
        "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
        # No verified copy of ratings.dat was available to pin its hash; the loader's
        # format checks (column count, rating range, ids) guard it instead.
        "ratings.dat": None,
    },
    ratings="ratings.dat", rating_format="double_colon", users="users.dat",
    movies="movies.dat", table_format="ml-1m", split="random", test_fraction=0.1,
)

# The larger MovieLens datasets: half stars 0.5..5, no shipped split (a seeded random 90/10),
# no user table. Their members have no pinned SHA-256 (no trusted source publishes one);
# their archives are pinned instead, to checksums published by GroupLens itself
# (``<archive>.md5`` next to each archive) and by TensorFlow Datasets
# (tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt). A member placed
# in the cache by hand, or fetched alone from a mirror, is unverified (format checks only).
HALF_STARS = (0.5, 5.0, 0.5)
ML_LATEST_SMALL = DatasetSpec(
    # A "latest" release: GroupLens regenerates it now and then (this one: September 2018,
    # 100,836 ratings); a new release fails the pinned SHA-256, by design.
    "ml-latest-small", dict.fromkeys(("ratings.csv", "movies.csv")),
    ratings="ratings.csv", rating_format="csv", movies="movies.csv", table_format="csv",
    encoding="utf-8", rating_scale=HALF_STARS, split="random", test_fraction=0.1,
    archive_sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",  # TFDS
)
ML10M = DatasetSpec(
    # Only GroupLens' MD5 is published for ml-10m.zip (TFDS has no ML-10M); no SHA-256.
    "ml-10m", dict.fromkeys(("ratings.dat", "movies.dat")),
    ratings="ratings.dat", rating_format="double_colon", movies="movies.dat",
    table_format="ml-1m", encoding="utf-8", rating_scale=HALF_STARS, split="random",
    test_fraction=0.1, archive_folder="ml-10M100K",
    archive_md5="ce571fd55effeba0271552578f2648bd",  # GroupLens, ml-10m.zip.md5
)
ML20M = DatasetSpec(
    "ml-20m", dict.fromkeys(("ratings.csv", "movies.csv")),
    ratings="ratings.csv", rating_format="csv", movies="movies.csv", table_format="csv",
    encoding="utf-8", rating_scale=HALF_STARS, split="random", test_fraction=0.1,
    archive_sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",  # TFDS
    archive_md5="cd245b17a1ae2cc31bb14903e1204af3",  # GroupLens, ml-20m.zip.md5
)
ML25M = DatasetSpec(
    "ml-25m", dict.fromkeys(("ratings.csv", "movies.csv")),
    ratings="ratings.csv", rating_format="csv", movies="movies.csv", table_format="csv",
    encoding="utf-8", rating_scale=HALF_STARS, split="random", test_fraction=0.1,
    archive_sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",  # TFDS
    archive_md5="6b51fb2759a8657d3bfcbfc42b592ada",  # GroupLens, ml-25m.zip.md5
)
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (ML100K, ML1M, ML_LATEST_SMALL, ML10M, ML20M, ML25M)}


def get_spec(dataset: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``dataset``, e.g. ``"ml-100k"``."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}.") from None
