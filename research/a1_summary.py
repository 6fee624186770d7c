"""A1: per-fold table of I-AutoRec, GLocal-K and their validation-weighted lsq blend."""
import json
import os

import numpy as np

from recsae.data import load_split
from recsae.splits import validation_split

r = lambda p, y: float(np.sqrt(np.mean((np.clip(p, 1, 5) - y) ** 2)))  # noqa: E731
runs = {}
for line in open("build/a1/results.jsonl"):
    d = json.loads(line)
    runs[(d["tag"], d["fold"])] = d
rows = {"autorec_side0": [], "gk_curve": [], "blend": []}
for k in range(1, 6):
    have = [os.path.exists(f"build/a1/{t}_u{k}_test.npy") and (t, k) in runs
            for t in ("autorec_side0", "gk_curve")]
    tr, te = load_split(k)
    for t, ok in zip(("autorec_side0", "gk_curve"), have, strict=True):
        if ok:
            d = runs[(t, k)]
            rows[t].append(d["test_rmse"])
            print(f"u{k} {t}: test {d['test_rmse']:.4f} valid {d['valid_rmse']:.4f} "
                  f"cpu {d['select_cpu_s']:.0f}+{d.get('refit_cpu_s', 0):.0f}")
    if all(have):
        fp, va = validation_split(tr, 0.1, 0)
        V = [np.load(f"build/a1/{t}_u{k}_valid.npy") for t in ("autorec_side0", "gk_curve")]
        T = [np.load(f"build/a1/{t}_u{k}_test.npy") for t in ("autorec_side0", "gk_curve")]
        X = np.column_stack([np.ones(len(va)), *V])
        w, *_ = np.linalg.lstsq(X, va["rating"].to_numpy(), rcond=None)
        b = r(np.column_stack([np.ones(len(te)), *T]) @ w, te["rating"].to_numpy())
        rows["blend"].append(b)
        print(f"u{k} blend: w {np.round(w, 3)} valid {r(X @ w, va['rating'].to_numpy()):.4f} test {b:.4f}")
for t, v in rows.items():
    if len(v) > 1:
        print(f"{t}: n={len(v)} mean {np.mean(v):.4f} ± {np.std(v, ddof=1):.4f}")
