"""The per-fold search's committed choices and test scores (``recsae/tuned.json``).

Written by ``python -m recsae.search --write-module`` (:mod:`recsae.search`); data only, so
that rerunning the search does not invalidate the notebooks' results cache (which hashes
the package's ``.py`` files).

* ``COMMAND``: the command that wrote the file.
* ``CHOSEN[fold]``: ``{"members": {name: spec}, "variants": {recipe: member}, "chosen":
  {model: {"weights": {"intercept" | member: weight}, "valid_rmse", ...}},
  "member_valid_rmse": {...}, "member_seconds": {...}}``, every choice made on a
  validation split of that fold's training part (``u{fold}.base``; ``member_seconds``: the
  CPU seconds of each member's fit on the 90% part, or of the kernelised autoencoder's
  epoch selection).
* ``TEST_RESULTS``: one row per (fold, model): ``fold, model, rmse, mae, seconds``, the
  chosen model refitted on ``u{fold}.base`` and scored once on ``u{fold}.test``
  (``seconds``: the CPU seconds of fitting its members on one core, in that run).
"""

from __future__ import annotations

import json
from pathlib import Path

_DATA = json.loads((Path(__file__).with_name("tuned.json")).read_text(encoding="utf-8"))
COMMAND: str = _DATA["command"]
CHOSEN: dict[str, dict] = _DATA["chosen"]
TEST_RESULTS: list[dict] = _DATA["test_results"]
