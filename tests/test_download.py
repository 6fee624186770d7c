"""The download path against small synthetic archives served by file:// and http://."""

from __future__ import annotations

import collections
import errno
import functools
import hashlib
import http.server
import io
import os
import random
import stat
import struct
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from recsae import download
from recsae.datasets import DATASETS, ML100K, DatasetSpec
from recsae.download import ArchiveError, ChecksumError, DownloadError

MEMBERS = {"a.txt": b"alpha\n", "b.txt": b"bravo\n"}


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> DatasetSpec:
    """A two-file dataset 'toy' registered for the duration of one test."""
    spec = DatasetSpec("toy", {n: hashlib.sha256(b).hexdigest() for n, b in MEMBERS.items()})
    monkeypatch.setitem(DATASETS, "toy", spec)
    monkeypatch.setattr(download, "_verified", set())
    return spec


def make_zip(path: Path, members: dict[str, bytes], prefix: str = "toy/") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            zf.writestr(prefix + name, content)
    return path


def leftovers(folder: Path) -> list[str]:
    """Everything in the cache folder except what a successful fetch should leave."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_from_file_mirror_then_cached(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"

    path = download.fetch("toy", "a.txt", cache)
    assert path == cache / "toy" / "a.txt"
    assert path.read_bytes() == MEMBERS["a.txt"]
    assert sorted(p.name for p in (cache / "toy").iterdir()) == ["a.txt", "b.txt"]

    # Second call: offline (mirror gone) and served from the cache.
    (mirror / "toy.zip").unlink()
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    assert download.fetch("toy", "b.txt", cache).read_bytes() == MEMBERS["b.txt"]


def test_mirror_may_be_a_plain_folder_path(tmp_path, monkeypatch, toy):
    make_zip(tmp_path / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, str(tmp_path))
    assert download.fetch("toy", "a.txt", tmp_path / "cache").read_bytes() == MEMBERS["a.txt"]


def test_fetch_over_http(tmp_path, monkeypatch, toy):
    served = tmp_path / "served"
    served.mkdir()
    make_zip(served / "toy.zip", MEMBERS)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None  # keep test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(download.MIRROR_ENV, f"http://127.0.0.1:{server.server_port}")
        path = download.fetch("toy", "b.txt", tmp_path / "cache")
    finally:
        server.shutdown()
    assert path.read_bytes() == MEMBERS["b.txt"]


def test_archive_placed_by_hand_is_used_without_network(tmp_path, monkeypatch, toy):
    cache = tmp_path / "cache"
    cache.mkdir()
    make_zip(cache / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]


def test_no_network_no_cache_says_how_to_fix(tmp_path, monkeypatch, toy):
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        download.fetch("toy", "a.txt", cache)
    message = str(err.value)
    assert "toy/a.txt" in message
    assert "by hand" in message and str(cache / "toy.zip") in message
    assert download.MIRROR_ENV in message
    assert leftovers(cache) == []


def test_corrupted_member_is_rejected_and_nothing_kept(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", {"a.txt": MEMBERS["a.txt"], "b.txt": b"tampered\n"})
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"toy/b\.txt.*SHA-256"):
        download.fetch("toy", "a.txt", cache)
    # Neither the bad archive nor any extracted file (not even the good a.txt) remains.
    assert leftovers(cache) == []


def test_truncated_archive(tmp_path, monkeypatch, toy):
    buffer = io.BytesIO()
    make_zip(tmp_path / "full.zip", MEMBERS)
    buffer.write((tmp_path / "full.zip").read_bytes()[:-40])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "toy.zip").write_bytes(buffer.getvalue())
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match="not a valid zip"):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []


def test_not_a_zip(tmp_path, monkeypatch, toy):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "toy.zip").write_text("<html>Service unavailable</html>")
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    with pytest.raises(ArchiveError, match=r"toy\.zip.*not a valid zip"):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []


def test_missing_member(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", {"a.txt": MEMBERS["a.txt"]})
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=r"lacks b\.txt"):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "toy/../../evil.txt", "/tmp/evil.txt"])
def test_path_traversal_member_is_refused(tmp_path, monkeypatch, toy, evil):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = make_zip(mirror / "toy.zip", MEMBERS)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(evil, b"owned\n")
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match="outside the target folder"):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []
    assert not (tmp_path / "evil.txt").exists()


def test_corrupted_cached_file_is_not_trusted(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    path = download.fetch("toy", "a.txt", cache)
    (cache / "toy.zip").unlink()
    path.write_bytes(b"half-writ")
    # The bad cached copy is replaced by a verified one from the mirror.
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]


def test_member_file_fallback_on_mirror(tmp_path, monkeypatch, toy):
    """A mirror may hold extracted files (as ../shared/data does for ML-1M)."""
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "a.txt").write_bytes(MEMBERS["a.txt"])
    (mirror / "toy" / "b.txt").write_bytes(b"wrong\n")
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]
    with pytest.raises(ChecksumError):
        download.fetch("toy", "b.txt", cache)
    assert sorted(p.name for p in (cache / "toy").iterdir()) == ["a.txt"]


def test_unknown_dataset_and_member(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset"):
        download.fetch("ml-999m", "ratings.csv", tmp_path)
    with pytest.raises(ValueError, match="no file 'nope'"):
        download.fetch("ml-100k", "nope", tmp_path)


def test_default_data_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv(download.DATA_DIR_ENV, str(tmp_path))
    assert download.default_data_dir() == tmp_path
    monkeypatch.delenv(download.DATA_DIR_ENV)
    assert download.default_data_dir().name == "data"


def test_real_ml100k_archive_from_the_mirror(tmp_path, shared_data, monkeypatch):
    """The shared mirror's archive extracts and verifies through the same code path."""
    monkeypatch.setenv(download.MIRROR_ENV, shared_data.as_uri())
    path = download.fetch("ml-100k", "u1.base", tmp_path)
    assert download.sha256_of(path) == ML100K.members["u1.base"]
    assert sorted(p.name for p in (tmp_path / "ml-100k").iterdir()) == sorted(
        ML100K.members)


# --- Corrupt archives, size limits, cache-folder problems, leftovers, permissions ---------

FUZZ_MEMBERS = {
    # Deflated (zlib errors on corruption) and stored (CRC errors), with enough bytes that
    # flips land in compressed data as often as in headers.
    "a.txt": b"".join(b"%d::%d::%d::97830%04d\n" % (u, u * 7 % 31, u % 5 + 1, u) for u in range(200)),
    "b.txt": bytes(range(256)) * 2,
}


def make_fuzz_zip(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("toy/a.txt", FUZZ_MEMBERS["a.txt"], compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("toy/b.txt", FUZZ_MEMBERS["b.txt"], compress_type=zipfile.ZIP_STORED)
    return path.read_bytes()


def zip_regions(data: bytes) -> dict[str, range]:
    """Byte ranges of the local headers and data, the central directory and the end record."""
    end = data.rfind(b"PK\x05\x06")
    (central,) = struct.unpack("<I", data[end + 16:end + 20])
    return {"local": range(0, central), "central": range(central, end), "end": range(end, len(data))}


def test_corrupt_archive_never_poisons_the_cache(tmp_path, monkeypatch):
    """Random byte flips anywhere in an archive: a verified result or a DataError, never
    another exception, never a bad file kept; and a good mirror then always recovers."""
    spec = DatasetSpec("toy", {n: hashlib.sha256(b).hexdigest() for n, b in FUZZ_MEMBERS.items()})
    monkeypatch.setitem(DATASETS, "toy", spec)
    monkeypatch.setattr(download, "_verified", set())
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    data = make_fuzz_zip(good / "toy.zip")
    rng = random.Random(20261129)
    outcomes: collections.Counter[str] = collections.Counter()
    causes: collections.Counter[str] = collections.Counter()  # what zipfile raised
    for region, positions in zip_regions(data).items():
        for i in range(60 if region != "end" else 20):
            corrupt = bytearray(data)
            corrupt[rng.choice(positions)] ^= rng.randrange(1, 256)
            (bad / "toy.zip").write_bytes(corrupt)
            cache = tmp_path / f"cache-{region}-{i}"
            monkeypatch.setenv(download.MIRROR_ENV, bad.as_uri())
            try:
                path = download.fetch("toy", "a.txt", cache, progress=False)
            except download.DataError as exc:
                outcomes[type(exc).__name__] += 1
                causes[type(exc.__cause__).__name__] += 1
                assert "toy" in str(exc)
                # Nothing of the bad archive is kept: not the archive, no member, no staging.
                assert leftovers(cache) == []
            else:  # the flip hit a byte that does not matter (a timestamp, a comment...)
                outcomes["ok"] += 1
                assert path.read_bytes() == FUZZ_MEMBERS["a.txt"]
            monkeypatch.setenv(download.MIRROR_ENV, good.as_uri())
            for member, content in FUZZ_MEMBERS.items():
                assert download.fetch("toy", member, cache, progress=False).read_bytes() == content
    assert outcomes["ArchiveError"] > 0 and outcomes["ok"] > 0, (outcomes, causes)


def test_zip_bomb_member_is_refused_before_extraction(tmp_path, monkeypatch):
    bomb = b"\0" * (8 << 20)  # deflates to ~8 KB: a ratio of ~1000
    spec = DatasetSpec("toy", {"a.txt": hashlib.sha256(bomb).hexdigest()})
    monkeypatch.setitem(DATASETS, "toy", spec)
    monkeypatch.setattr(download, "_verified", set())
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "toy.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("toy/a.txt", bomb)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=r"toy/a\.txt as 8388608 bytes.*zip bomb"):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []


def test_member_larger_than_declared_is_cut_off(tmp_path, monkeypatch, toy):
    """The copy stops at the declared size, even if the member's stream goes on."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())

    class Endless(io.BytesIO):
        def close(self) -> None:  # keep tell() readable after the copy
            pass

    endless = Endless(b"x" * (1 << 20))
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *args, **kwargs: endless)
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match="more than the 6 bytes"):
        download.fetch("toy", "a.txt", cache)
    assert endless.tell() <= 7
    assert leftovers(cache) == []


def test_member_declaring_less_than_its_data(tmp_path, monkeypatch, toy):
    """A crafted archive whose central directory understates a member's size."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray(make_zip(mirror / "toy.zip", MEMBERS).read_bytes())
    entry = data.index(b"PK\x01\x02")  # the central directory's first entry: toy/a.txt
    data[entry + 24:entry + 28] = struct.pack("<I", 3)  # uncompressed size: 3, not 6
    (mirror / "toy.zip").write_bytes(data)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError):
        download.fetch("toy", "a.txt", cache)
    assert leftovers(cache) == []


class FullDisk(io.BytesIO):
    """A file whose disk fills up after its first write: the bytes do reach ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def write(self, block) -> int:
        with open(self.path, "ab") as out:
            out.write(bytes(block)[:2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))


@pytest.mark.parametrize("stage", ["download", "extract"])
def test_disk_full_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch, toy, stage):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"

    def open_output(path: Path):
        full = path.name.endswith(".part") if stage == "download" else path.parent != cache
        return FullDisk(path) if full else open(path, "wb")

    with monkeypatch.context() as patch:
        patch.setattr(download, "_open_output", open_output)
        with pytest.raises(download.CacheError, match="is full") as err:
            download.fetch("toy", "a.txt", cache)
    message = str(err.value)
    assert str(cache) in message and download.DATA_DIR_ENV in message
    assert "/." not in message  # names the cache folder, not a hidden temporary file
    # No partial download, no staging folder, no member; a complete archive may stay.
    assert leftovers(cache) == ([] if stage == "download" else ["toy.zip"])
    # Space freed: the rerun works (offline, from the kept archive, after a full extract).
    if stage == "extract":
        monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]


def test_data_dir_env_pointing_at_a_file(tmp_path, monkeypatch, toy):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("oops")
    monkeypatch.setenv(download.DATA_DIR_ENV, str(not_a_folder))
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    with pytest.raises(download.CacheError, match="is a file") as err:
        download.fetch("toy", "a.txt")
    assert str(not_a_folder) in str(err.value) and download.DATA_DIR_ENV in str(err.value)


@pytest.mark.parametrize("how", ["chmod", "simulated"])
def test_read_only_cache_folder(tmp_path, monkeypatch, toy, how):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    cache.mkdir()
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only folders")
        cache.chmod(0o500)
    else:  # what the OS says when it refuses a file in a read-only folder
        def refuse(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", f"{dir}/.toy.zip.x1y2.part")
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    try:
        with pytest.raises(download.CacheError, match="Cannot write to the cache folder") as err:
            download.fetch("toy", "a.txt", cache)
    finally:
        cache.chmod(0o755)
    message = str(err.value)
    assert str(cache) in message and download.DATA_DIR_ENV in message
    assert "/." not in message  # names the cache folder, not a hidden temporary file


def test_corrupt_cached_member_offline_says_so(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    path = download.fetch("toy", "a.txt", cache)
    (cache / "toy.zip").unlink()
    path.write_bytes(b"alphx\n")
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    with pytest.raises(DownloadError) as err:
        download.fetch("toy", "a.txt", cache)
    message = str(err.value)
    assert "not in the cache" not in message
    assert f"is in the cache ({path}) but corrupt" in message
    assert "replaced" in message and download.MIRROR_ENV in message
    # Back online: it is replaced.
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]


def test_stale_leftovers_of_killed_runs_are_removed(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = [cache / ".toy.zip.k1ll3d00.part", cache / ".toy-a.txt.download",
             cache / "..toy-a.txt.download.abcdefgh.part", cache / ".toy.q8w7e6r5"]
    fresh = [cache / ".toy.zip.l1v3r4n5.part", cache / ".toy.z9x8c7v6"]
    kept = [cache / ".notes.txt", cache / "mine", cache / ".toy.backup"]
    for path in stale + fresh + kept:
        if path.name in (".toy.q8w7e6r5", ".toy.z9x8c7v6", "mine", ".toy.backup"):
            path.mkdir()
            (path / "a.txt").write_bytes(b"half")
        else:
            path.write_bytes(b"half")
    hours_ago = time.time() - 2 * 3600
    for path in stale + kept:
        os.utime(path, (hours_ago, hours_ago))
    download.fetch("toy", "a.txt", cache)
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in fresh + kept)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=oct)
def test_cache_files_follow_the_umask(tmp_path, monkeypatch, toy, umask):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    make_zip(mirror / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, mirror.as_uri())
    old = os.umask(umask)
    try:
        cache = tmp_path / "cache"
        download.fetch("toy", "a.txt", cache)
        # The member-file fallback of a mirror too.
        (mirror / "toy.zip").rename(mirror / "other.zip")
        (mirror / "toy" / "a.txt").write_bytes(MEMBERS["a.txt"])
        (cache / "toy" / "a.txt").unlink()
        (cache / "toy.zip").unlink()
        download.fetch("toy", "a.txt", cache)
    finally:
        os.umask(old)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(cache / "toy") == 0o777 & ~umask
    for name in ("a.txt", "b.txt"):
        assert mode(cache / "toy" / name) == 0o666 & ~umask


def test_archive_downloaded_follows_the_umask(tmp_path, monkeypatch, toy):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_zip(mirror / "toy.zip", MEMBERS)
    old = os.umask(0o022)
    try:
        archive = download.download(f"{mirror.as_uri()}/toy.zip", tmp_path / "cache" / "toy.zip")
    finally:
        os.umask(old)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o644


def test_connection_cut_mid_chunked_download(tmp_path, toy):
    """http.client raises IncompleteRead (not an OSError) when a chunked body is cut."""

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"100\r\n" + b"x" * 10)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DownloadError, match="Could not download"):
            download.download(f"http://127.0.0.1:{server.server_port}/toy.zip",
                              tmp_path / "toy.zip", progress=False)
    finally:
        server.shutdown()
    assert leftovers(tmp_path) == []


def test_target_made_by_another_process_meanwhile(tmp_path, monkeypatch, toy):
    """Another process creates the dataset folder between our check and our rename."""
    cache = tmp_path / "cache"
    cache.mkdir()
    make_zip(cache / "toy.zip", MEMBERS)
    monkeypatch.setenv(download.MIRROR_ENV, (tmp_path / "nowhere").as_uri())
    download.fetch("toy", "a.txt", cache)
    (cache / "toy" / "a.txt").unlink()
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: self != cache / "toy" and real_exists(self))
    assert download.fetch("toy", "a.txt", cache).read_bytes() == MEMBERS["a.txt"]
    assert leftovers(cache) == ["toy", "toy.zip"]
