"""A1 research: does a genre block in I-AutoRec's item input help? Validation-chosen epochs.

usage: python research/a1_side.py FOLD [scales...]   (scale 0 = plain I-AutoRec, no features)
"""
import json
import sys
import time
from dataclasses import asdict, replace

import numpy as np

from recsae.autorec import AutoRecConfig
from recsae.data import load_movies, load_split
from recsae.side_autorec import SideIAutoRec, genre_flags
from recsae.splits import validation_split

fold = int(sys.argv[1])
scales = [float(s) for s in sys.argv[2:]] or [0.0, 1.0, 5.0]
train, test = load_split(fold)
fit_part, valid = validation_split(train, 0.1, 0)
feats = genre_flags(load_movies())
base = AutoRecConfig(n_epochs=int(__import__("os").environ.get("A1_MAX_EPOCHS", 150)))
for scale in scales:
    f = feats if scale > 0 else None
    t0 = time.process_time()
    m = SideIAutoRec(base, f, scale).fit(fit_part, valid)
    h = m.history_
    best = int(h.loc[h["valid_rmse"].idxmin(), "epoch"])
    vr = float(h["valid_rmse"].min())
    t1 = time.process_time()
    chosen = replace(base, n_epochs=best)
    vm = SideIAutoRec(chosen, f, scale).fit(fit_part)
    vpred = vm.predict(valid["user_id"].to_numpy(), valid["item_id"].to_numpy())
    final = SideIAutoRec(chosen, f, scale).fit(train)
    tp = final.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy())
    tr = float(np.sqrt(np.mean((np.clip(tp, 1, 5) - test["rating"].to_numpy()) ** 2)))
    tag = f"autorec_side{scale:g}"
    np.save(f"build/a1/{tag}_u{fold}_valid.npy", vpred)
    np.save(f"build/a1/{tag}_u{fold}_test.npy", tp)
    res = {"tag": tag, "fold": fold, "config": asdict(chosen), "side_scale": scale,
           "valid_rmse": vr, "test_rmse": tr, "select_cpu_s": t1 - t0,
           "refit_cpu_s": time.process_time() - t1}
    print(json.dumps(res), flush=True)
    with open("build/a1/results.jsonl", "a") as fh:
        fh.write(json.dumps(res) + "\n")
