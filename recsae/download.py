"""Fetch MovieLens archives, verify their member files and cache them on disk.

Where the data comes from, in order:

1. the cache folder (``data_dir/<dataset>/<member>``), trusted only if its SHA-256 matches;
2. an archive already in the cache folder (``data_dir/<dataset>.zip``, e.g. downloaded by hand);
3. ``<base>/<dataset>.zip``, where ``<base>`` is ``$RECSAE_DATA_MIRROR`` or GroupLens;
4. with a mirror only: the single member file ``<mirror>/<dataset>/<member>`` (a mirror may
   hold extracted files instead of archives, as ``../shared/data`` does for ML-1M).

``http(s)://`` and ``file://`` URLs (and plain folder paths for the mirror) go through the
same code path, :func:`urllib.request.urlopen`. We do not use pooch here: it has no
``file://`` support, and we verify the members, not the archive, because mirrors repack it.

Nothing half-done is ever left where a later call would trust it: downloads go to a
``.part`` file renamed on success, and archives are extracted into a temporary folder whose
files are verified before they are moved into place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

GROUPLENS_BASE_URL = "https://files.grouplens.org/datasets/movielens"
DATA_DIR_ENV = "RECSAE_DATA_DIR"
MIRROR_ENV = "RECSAE_DATA_MIRROR"


class DataError(RuntimeError):
    """Base class of every data problem recsae reports (missing, corrupt, malformed)."""


class DownloadError(DataError):
    """The data could not be fetched from any source."""


class ChecksumError(DataError):
    """A file's SHA-256 does not match the pinned value."""


class ArchiveError(DataError):
    """An archive is truncated, not a zip, unsafe or lacks a member."""


@dataclass(frozen=True)
class DatasetSpec:
    """What one MovieLens dataset is made of.

    ``members`` maps file name -> pinned SHA-256 (``None``: no pinned hash known; the
    loader's format checks are then the only guard).
    """

    name: str
    members: dict[str, str | None] = field(default_factory=dict)

    @property
    def archive(self) -> str:
        return f"{self.name}.zip"


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
)
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (ML100K, ML1M)}

# (path, size, mtime_ns) of files already verified in this process: verification is cheap
# (a few ms per file) but a notebook loads the same files many times.
_verified: set[tuple[str, int, int]] = set()


def default_data_dir() -> Path:
    """The cache folder: ``$RECSAE_DATA_DIR``, else ``data/`` of this source checkout,
    else ``~/.cache/recsae``."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cache" / "recsae"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir`` as a Path, or the default cache folder when it is None."""
    return Path(data_dir).expanduser() if data_dir is not None else default_data_dir()


def get_spec(dataset: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``dataset`` (``"ml-100k"`` or ``"ml-1m"``)."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}.") from None


def mirror_base_url() -> str | None:
    """``$RECSAE_DATA_MIRROR`` as a URL (a plain folder path becomes ``file://``), or None."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return None
    if "://" not in mirror:
        return Path(mirror).expanduser().resolve().as_uri()
    return mirror.rstrip("/")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_member(spec: DatasetSpec, member: str, path: Path, origin: str) -> None:
    """Raise ChecksumError if ``path`` does not hash to the pinned value of ``member``."""
    expected = spec.members[member]
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{spec.name}/{member} from {origin} has SHA-256 {actual}, expected {expected}. "
            "The file is corrupted or is a different version of the dataset. "
            "It was not kept; fetch the dataset again (or fix the mirror)."
        )


def _is_verified(spec: DatasetSpec, member: str, path: Path) -> bool:
    """True if the cached file at ``path`` exists and matches its pinned hash."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return True
    try:
        _check_member(spec, member, path, origin=str(path))
    except ChecksumError:
        return False
    _verified.add(key)
    return True


def download(url: str, dest: Path, *, progress: bool = True) -> Path:
    """Copy ``url`` (http, https or file) to ``dest`` atomically, with a progress bar.

    Raises:
        DownloadError: the URL cannot be read (no network, missing file, HTTP error).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            # Not passing ``disable`` when progress is wanted lets TQDM_DISABLE=1 win.
            bar_options = {} if progress else {"disable": True}
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {dest.name}",
                      leave=False, **bar_options) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
            if total is not None and out.tell() != total:
                raise DownloadError(
                    f"Download of {url} stopped after {out.tell()} of {total} bytes; run again."
                )
        tmp.replace(dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"Could not download {url}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _safe_member_name(name: str, archive: Path) -> PurePosixPath:
    """Reject zip member names that would land outside the extraction folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in name:
        raise ArchiveError(
            f"{archive} contains the member {name!r}, whose path points outside the target "
            "folder. Refusing to extract it; delete the archive and download it from a source "
            "you trust."
        )
    return path


def extract(spec: DatasetSpec, archive: Path, data_dir: Path, origin: str) -> Path:
    """Extract and verify the members of ``spec`` from ``archive`` into ``data_dir/<name>``.

    Members are extracted into a temporary folder next to the target and verified there;
    only then are they moved into place. On any problem the archive is deleted (so a later
    call does not trust it) and nothing is moved.

    Raises:
        ArchiveError: truncated or non-zip archive, unsafe member path, missing member.
        ChecksumError: a member's SHA-256 does not match.
    """
    target = data_dir / spec.name
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=data_dir))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                names = {}
                for info in zf.infolist():
                    path = _safe_member_name(info.filename, archive)
                    if not info.is_dir() and path.parent.name == spec.name:
                        names[path.name] = info
                missing = sorted(m for m in spec.members if m not in names)
                if missing:
                    raise ArchiveError(
                        f"{archive} (from {origin}) lacks {', '.join(missing)} under "
                        f"'{spec.name}/'. It is not a complete {spec.name} archive; delete it "
                        f"and download {GROUPLENS_BASE_URL}/{spec.archive} again."
                    )
                for member in spec.members:
                    with zf.open(names[member]) as src, open(staging / member, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    _check_member(spec, member, staging / member, origin)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise ArchiveError(
                f"{archive} (from {origin}) is not a valid zip file ({exc}): the download was "
                "truncated or the file is not a zip. It has been deleted; run again to "
                "download it afresh."
            ) from exc
        # Everything verified: move into place. A fresh target is one atomic rename.
        if not target.exists():
            staging.replace(target)
        else:
            for member in spec.members:
                (staging / member).replace(target / member)
    except DataError:
        archive.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _fetch_member_file(spec: DatasetSpec, member: str, mirror: str, data_dir: Path) -> Path:
    """Download one extracted member file from a mirror, verify it and move it into place."""
    url = f"{mirror}/{spec.name}/{member}"
    target = data_dir / spec.name / member
    tmp = data_dir / f".{spec.name}-{member}.download"
    download(url, tmp, progress=False)
    try:
        _check_member(spec, member, tmp, origin=url)
    except ChecksumError:
        tmp.unlink(missing_ok=True)
        raise
    target.parent.mkdir(exist_ok=True)
    tmp.replace(target)
    return target


def fetch(dataset: str, member: str, data_dir: str | os.PathLike[str] | None = None,
          *, progress: bool = True) -> Path:
    """Path of a verified member file of ``dataset``, downloading and caching as needed.

    Args:
        dataset: ``"ml-100k"`` or ``"ml-1m"``.
        member: a file of the dataset, e.g. ``"u1.base"`` or ``"users.dat"``.
        data_dir: cache folder; default :func:`default_data_dir`.
        progress: show a download progress bar (tqdm; ``TQDM_DISABLE=1`` turns it off).

    Raises:
        DownloadError: no cached copy and no source could be reached (the message says how
            to get the file by hand or through ``RECSAE_DATA_MIRROR``).
        ChecksumError, ArchiveError: the data fetched is corrupt or incomplete.
    """
    spec = get_spec(dataset)
    if member not in spec.members:
        raise ValueError(f"{dataset} has no file {member!r}; known files: {sorted(spec.members)}.")
    root = resolve_data_dir(data_dir)
    path = root / spec.name / member
    if _is_verified(spec, member, path):
        return path

    root.mkdir(parents=True, exist_ok=True)
    archive = root / spec.archive
    mirror = mirror_base_url()
    failures: list[str] = []
    if archive.is_file():
        extract(spec, archive, root, origin=str(archive))
        return path
    for base in [mirror] if mirror else [GROUPLENS_BASE_URL]:
        url = f"{base}/{spec.archive}"
        try:
            download(url, archive, progress=progress)
        except DownloadError as exc:
            failures.append(str(exc))
            continue
        extract(spec, archive, root, origin=url)
        return path
    if mirror:
        try:
            return _fetch_member_file(spec, member, mirror, root)
        except DownloadError as exc:
            failures.append(str(exc))
    raise DownloadError(
        f"{spec.name}/{member} is not in the cache ({path}) and could not be downloaded:\n  "
        + "\n  ".join(failures)
        + "\nTo fix this, either\n"
        f"  * download {GROUPLENS_BASE_URL}/{spec.archive} by hand and save it as {archive}, or\n"
        f"  * set {MIRROR_ENV} to a base URL or folder that holds {spec.archive} "
        f"(or {spec.name}/{member}), e.g. {MIRROR_ENV}=file:///path/to/shared/data."
    )
