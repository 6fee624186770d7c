"""Fetch MovieLens archives, verify their member files and cache them on disk.

Where the data comes from, in order:

1. the cache folder (``data_dir/<dataset>/<member>``), trusted only if its SHA-256 matches;
2. an archive already in the cache folder (``data_dir/<dataset>.zip``, e.g. downloaded by hand);
3. ``<base>/<dataset>.zip``, where ``<base>`` is ``$RECSAE_DATA_MIRROR`` or GroupLens;
4. with a mirror only: the single member file ``<mirror>/<dataset>/<member>`` (a mirror may
   hold extracted files instead of archives, as ``../shared/data`` does for ML-1M).

``http(s)://`` and ``file://`` URLs (and plain folder paths for the mirror) go through the
same code path, :func:`urllib.request.urlopen`. We do not use pooch here: it has no
``file://`` support, and we verify the members, not the archive, because mirrors repack it;
only where a trusted source publishes the archive's checksum (and no member is pinned:
ML-10M, ML-20M, ML-25M, ml-latest-small) is the archive checked, and must be the original.

Nothing half-done is ever left where a later call would trust it: downloads go to a
``.part`` file renamed on success, and archives are extracted into a temporary folder whose
files are verified before they are moved into place. An archive that cannot be read is
deleted (so a rerun fetches it afresh), leftovers of killed runs are removed by the next
fetch after an hour, and files are created with the usual permissions (the umask's).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm  # a widget bar in JupyterLab, text elsewhere

from recsae.archive import UnusableArchive, checksum_problem, copy_member, find_members
from recsae.datasets import GROUPLENS_BASE_URL, DatasetSpec, get_spec

DATA_DIR_ENV = "RECSAE_DATA_DIR"
MIRROR_ENV = "RECSAE_DATA_MIRROR"
# Leftovers of a killed run (``.part`` downloads, staging folders) older than this are removed.
STALE_AFTER_S = 3600.0


class DataError(RuntimeError):
    """Base class of every data problem recsae reports (missing, corrupt, malformed)."""


class DownloadError(DataError):
    """The data could not be fetched from any source."""


class ChecksumError(DataError):
    """A file's SHA-256 does not match the pinned value."""


class ArchiveError(DataError):
    """An archive is truncated, not a zip, unsafe or lacks a member."""


class CacheError(DataError):
    """The cache folder cannot be written: not a folder, read-only, no permission, disk full."""


def _cache_error(folder: Path, exc: OSError) -> CacheError:
    """A CacheError saying what is wrong with ``folder`` and how to fix it."""
    reason = exc.strerror or str(exc)  # not str(exc): it names our hidden temporary files
    fix = f"set {DATA_DIR_ENV} to a writable folder (or pass data_dir=...) and run again."
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return CacheError(f"The disk holding the cache folder {folder} is full ({reason}); "
                          f"nothing half-written was kept. Free some space, or {fix}")
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return CacheError(f"The cache folder {folder} cannot be created or used ({reason}): "
                          f"it, or a folder above it, is a file. Move that file away, or {fix}")
    return CacheError(f"Cannot write to the cache folder {folder} ({reason}). "
                      f"Make it writable, or {fix}")


@contextlib.contextmanager
def _writing_to(folder: Path) -> Iterator[None]:
    """Turn an OSError raised by writing into ``folder`` into a CacheError."""
    try:
        yield
    except OSError as exc:
        raise _cache_error(folder, exc) from exc


def _open_output(path: Path) -> BinaryIO:
    """``open(path, "wb")``, a single place that tests can make fail (e.g. disk full)."""
    return open(path, "wb")


class _CacheFile:
    """A file being written in the cache folder; every OSError becomes a CacheError."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.folder = folder  # the cache folder to name in errors (not a hidden staging one)
        with _writing_to(self.folder):
            self._out = _open_output(path)

    def write(self, block: bytes) -> None:
        with _writing_to(self.folder):
            self._out.write(block)

    def __enter__(self) -> _CacheFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _writing_to(self.folder):
            self._out.close()  # flushes: a full disk may only show here


def _publish(path: Path, *, folder: bool = False) -> None:
    """Give a file or folder made by ``tempfile`` (0600/0700) the permissions the umask gives."""
    umask = os.umask(0o022)
    os.umask(umask)
    path.chmod((0o777 if folder else 0o666) & ~umask)


def _remove_stale_leftovers(root: Path, spec: DatasetSpec) -> None:
    """Delete the hidden ``.part``/``.download`` files and ``spec``'s staging folders that a
    killed run left in ``root``: those unchanged for STALE_AFTER_S (a live run keeps writing)."""
    cutoff = time.time() - STALE_AFTER_S
    staging_name = re.compile(rf"\.{re.escape(spec.name)}\.[a-z0-9_]{{8}}")  # from mkdtemp
    for entry in root.glob(".*"):
        with contextlib.suppress(OSError):
            info = entry.lstat()
            if info.st_mtime > cutoff:
                continue
            if stat.S_ISDIR(info.st_mode) and staging_name.fullmatch(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
            elif stat.S_ISREG(info.st_mode) and entry.name.endswith((".part", ".download")):
                entry.unlink()


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


def _cached_problem(spec: DatasetSpec, member: str, path: Path) -> str | None:
    """None if the cached file at ``path`` matches its pinned hash, else what is wrong."""
    try:
        info = path.stat()
    except OSError:  # missing, or the cache folder is a file
        return f"is not in the cache ({path})"
    key = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if key in _verified:
        return None
    try:
        _check_member(spec, member, path, origin=str(path))
    except ChecksumError:
        return (f"is in the cache ({path}) but corrupt: its SHA-256 does not match the pinned "
                "one. It is replaced by a verified copy as soon as a source can be reached")
    except OSError as exc:
        return f"is in the cache ({path}) but cannot be read ({exc.strerror or exc})"
    _verified.add(key)
    return None


def download(url: str, dest: Path, *, progress: bool = True) -> Path:
    """Copy ``url`` (http, https or file) to ``dest`` atomically, with a progress bar.

    Raises:
        DownloadError: the URL cannot be read (no network, missing file, HTTP error).
        CacheError: ``dest``'s folder cannot be written (read-only, not a folder, disk full).
    """
    with _writing_to(dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _CacheFile(tmp, dest.parent) as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            # Not passing ``disable`` when progress is wanted lets TQDM_DISABLE=1 win.
            bar_options = {} if progress else {"disable": True}
            size = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {dest.name}",
                      leave=False, **bar_options) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    size += len(block)
                    bar.update(len(block))
            if total is not None and size != total:
                raise DownloadError(
                    f"Download of {url} stopped after {size} of {total} bytes; run again."
                )
        with _writing_to(dest.parent):
            _publish(tmp)
            tmp.replace(dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"Could not download {url}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def extract(spec: DatasetSpec, archive: Path, data_dir: Path, origin: str) -> Path:
    """Extract and verify the members of ``spec`` from ``archive`` into ``data_dir/<name>``.

    Members are extracted into a temporary folder next to the target and verified there;
    only then are they moved into place. If the archive is unsafe or cannot be read, or a
    member fails its checksum, the archive is deleted (so a later call does not trust it);
    on any problem nothing is moved and no temporary file is left.

    Raises:
        ArchiveError: the archive cannot be read (truncated, not a zip, corrupt), has an
            unsafe member path or an implausible size, or lacks a member.
        ChecksumError: the archive does not match its published checksum, or a member its
            pinned SHA-256.
        CacheError: ``data_dir`` cannot be written (read-only, disk full).
    """
    target = data_dir / spec.name
    with _writing_to(data_dir):
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=data_dir))
    try:
        try:
            if problem := checksum_problem(archive, spec):  # where a checksum is published
                raise ChecksumError(f"{archive} (from {origin}) {problem} It has been deleted; "
                                    f"download {spec.url} again, or from another source you trust.")
            with zipfile.ZipFile(archive) as zf:
                infos = find_members(zf, spec, archive.stat().st_size)
                for member, info in infos.items():
                    with _CacheFile(staging / member, data_dir) as out:
                        copy_member(zf, info, out)
                    _check_member(spec, member, staging / member, origin)
        except UnusableArchive as exc:
            raise ArchiveError(
                f"{archive} (from {origin}) {exc} It has been deleted; download {spec.url} "
                "again, or from another source you trust."
            ) from exc
        except DataError:
            raise
        except Exception as exc:  # zipfile raises many kinds on a corrupt archive
            raise ArchiveError(
                f"{archive} (from {origin}) is not a valid zip file ({type(exc).__name__}: "
                f"{exc}): the download was truncated or corrupted, or the file is not a zip. "
                "It has been deleted; run again to download it afresh "
                f"(set {MIRROR_ENV} if this source keeps serving a bad copy)."
            ) from exc
        # Everything verified: move into place. A fresh target is one atomic rename.
        with _writing_to(data_dir):
            for member in spec.members:
                _publish(staging / member)
            if not target.exists():
                _publish(staging, folder=True)
                with contextlib.suppress(OSError):  # another process may have just made it
                    staging.replace(target)
            if staging.exists():
                for member in spec.members:
                    (staging / member).replace(target / member)
    except (ArchiveError, ChecksumError):
        with contextlib.suppress(OSError):
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
    with _writing_to(data_dir):
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
        ChecksumError, ArchiveError: the data fetched is corrupt or incomplete (a corrupt
            archive is deleted, so that the next call fetches it afresh).
        CacheError: the cache folder cannot be written (not a folder, read-only, disk full).
    """
    spec = get_spec(dataset)
    if member not in spec.members:
        raise ValueError(f"{dataset} has no file {member!r}; known files: {sorted(spec.members)}.")
    root = resolve_data_dir(data_dir)
    path = root / spec.name / member
    problem = _cached_problem(spec, member, path)
    if problem is None:
        return path

    with _writing_to(root):
        root.mkdir(parents=True, exist_ok=True)
    _remove_stale_leftovers(root, spec)
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
        f"{spec.name}/{member} {problem}; it could not be downloaded:\n  "
        + "\n  ".join(failures)
        + "\nTo fix this, either\n"
        f"  * download {GROUPLENS_BASE_URL}/{spec.archive} by hand and save it as {archive}, or\n"
        f"  * set {MIRROR_ENV} to a base URL or folder that holds {spec.archive} "
        f"(or {spec.name}/{member}), e.g. {MIRROR_ENV}=file:///path/to/shared/data."
    )
