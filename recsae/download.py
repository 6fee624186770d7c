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
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from recsae.datasets import GROUPLENS_BASE_URL, DatasetSpec, get_spec

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
        dataset: a name in :data:`recsae.datasets.DATASETS`.
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
