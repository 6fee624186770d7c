"""Shared fixtures: point the data layer at the offline mirror when nothing else is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

if not os.environ.get("RECSAE_DATA_MIRROR") and SHARED_DATA.is_dir():
    # Developers' machines and CI have the verified copies next to the checkout.
    os.environ["RECSAE_DATA_MIRROR"] = SHARED_DATA.as_uri()
os.environ.setdefault("TQDM_DISABLE", "1")
# One thread (small models, two test processes on two cores) and the same CPU code paths
# on every x86-64 machine: pinned by the repository's root conftest.py, before torch.


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of verified MovieLens files (../shared/data); skips if absent."""
    if not SHARED_DATA.is_dir():
        message = "../shared/data (the offline MovieLens mirror) is not available"
        if os.environ.get("RECSAE_REQUIRE_DATA"):  # CI: a missing mirror is a failure
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA
