"""The download path against small synthetic archives served by file:// and http://."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import threading
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
        download.fetch("ml-20m", "ratings.csv", tmp_path)
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
