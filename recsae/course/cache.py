"""A results cache for the notebooks: compute once, reuse in later notebooks and reruns.

``cached("bug_ladder", lambda: ablation.bug_ladder(...), epochs=200, seed=0)`` returns the
stored result when the same name, the same keyword key and the same package source were
used before, and computes (then stores) it otherwise. A notebook still runs on its own:
with an empty cache it computes everything. The key includes a hash of every source file of
``recsae``, so a change to the package never serves a stale result.

Files live in ``build/cache/`` (``$RECSAE_CACHE_DIR`` overrides; ``RECSAE_CACHE_DIR=off``
disables the cache) and are written atomically; an unreadable file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PACKAGE = Path(__file__).resolve().parents[1]
CACHE_DIR_ENV = "RECSAE_CACHE_DIR"


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    env = os.environ.get(CACHE_DIR_ENV, "")
    if env.lower() == "off":
        return None
    return Path(env) if env else PACKAGE.parent / "build" / "cache"


@cache
def code_version() -> str:
    """SHA-256 of every ``recsae`` source file (path and bytes), in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached(name: str, compute: Callable[[], T], **key: Any) -> T:
    """``compute()``'s result, from the cache when ``name``, ``key`` and the code match.

    Args:
        name: what is computed (part of the file name).
        compute: a function of no arguments that computes it.
        key: everything the result depends on besides the code (JSON-serialisable).
    """
    folder = cache_dir()
    if folder is None:
        return compute()
    text = json.dumps({"name": name, "key": key, "code": code_version()}, sort_keys=True,
                      default=str)
    path = folder / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pkl"
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)  # our own build output
        except Exception:  # a damaged cache file is recomputed
            path.unlink(missing_ok=True)
    result = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(result, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return result
