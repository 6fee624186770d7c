"""Read the members of a zip archive defensively: safe paths, plausible sizes, bounded copies,
and the archive's published checksums where its dataset entry has them.

:mod:`recsae.download` extracts MovieLens archives through this module. Each check here
raises :class:`UnusableArchive` with a sentence saying what is wrong; the caller names the
archive, deletes it and says what to do. :mod:`zipfile` itself raises many other kinds of
exception on a corrupt archive (``zlib.error``, ``NotImplementedError``, ``struct.error``,
``EOFError``, ...), so callers treat any exception raised while reading as a corrupt archive.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from recsae.datasets import DatasetSpec

# Zip-bomb guard: a member may declare at most MAX_MEMBER_BYTES uncompressed bytes, and at
# most MAX_RATIO times the size of the whole archive (MovieLens' largest member, ml-1m's
# ratings.dat, is about 4x its archive).
MAX_MEMBER_BYTES = 2 << 30
MAX_RATIO = 200
_BLOCK = 1 << 20


class UnusableArchive(Exception):
    """The archive is unsafe, implausible or incomplete (the message says how)."""


class _Writable(Protocol):
    def write(self, block: bytes, /) -> object: ...


def safe_member_name(name: str) -> PurePosixPath:
    """``name`` as a path, refusing one that would land outside the extraction folder."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or ":" in name:
        raise UnusableArchive(
            f"contains the member {name!r}, whose path points outside the target folder; "
            "it was not extracted."
        )
    return path


def checksum_problem(path: Path, spec: DatasetSpec) -> str | None:
    """What is wrong with the archive at ``path`` against the checksums published for
    ``spec``'s archive (``spec.archive_checksums``), or None if it matches them all."""
    digests = {name: hashlib.new(name, usedforsecurity=False) for name in spec.archive_checksums}
    if not digests:
        return None
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            for digest in digests.values():
                digest.update(block)
    for name, expected in spec.archive_checksums.items():
        if (actual := digests[name].hexdigest()) != expected:
            return (f"has the {name.upper()} {actual}, not the published {expected}: it is "
                    f"corrupt, truncated, or not the {spec.name} release recsae knows.")
    return None


def find_members(zf: zipfile.ZipFile, spec: DatasetSpec,
                 archive_size: int) -> dict[str, zipfile.ZipInfo]:
    """The entry of each member of ``spec`` (``<folder>/<member>``, the folder being
    ``spec.folder_in_archive``) in ``zf``, in spec order.

    Every member name is checked (:func:`safe_member_name`) and so is the uncompressed size
    each wanted member declares, against ``min(MAX_MEMBER_BYTES, MAX_RATIO * archive_size)``.
    """
    names, folder = {}, spec.folder_in_archive
    for info in zf.infolist():
        path = safe_member_name(info.filename)
        if not info.is_dir() and path.parent.name == folder:
            names[path.name] = info
    missing = sorted(m for m in spec.members if m not in names)
    if missing:
        raise UnusableArchive(f"lacks {', '.join(missing)} under '{folder}/': it is not a "
                              f"complete {spec.name} archive.")
    limit = min(MAX_MEMBER_BYTES, MAX_RATIO * archive_size)
    for member in spec.members:
        if names[member].file_size > limit:
            raise UnusableArchive(
                f"declares {folder}/{member} as {names[member].file_size} bytes, more than "
                f"the {limit} allowed for an archive of {archive_size} bytes: it is corrupt or "
                "a zip bomb."
            )
    return {member: names[member] for member in spec.members}


def copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: _Writable) -> None:
    """Write the member ``info`` of ``zf`` to ``out``, never more than the size it declares."""
    with zf.open(info) as src:
        left = info.file_size
        while block := src.read(min(left + 1, _BLOCK)):
            left -= len(block)
            if left < 0:
                raise UnusableArchive(f"holds more than the {info.file_size} bytes its member "
                                      f"{info.filename} declares: it is corrupt or a zip bomb.")
            out.write(block)
