"""A1 research: GLocal-K-style kernel autoencoder on ML-100K folds, validation-chosen epochs.

usage: python research/a1_glocal.py FOLD TAG [key=value ...]   (config overrides; side=1 adds genres)
Writes build/a1/{TAG}_u{FOLD}_{valid,test}.npy and a JSON line to build/a1/results.jsonl.
"""
import json
import sys
import time
from dataclasses import asdict, replace

import numpy as np

from recsae.data import ML100K_GENRES, load_movies, load_split
from recsae.glocal_k import GlocalK, GlocalKConfig, select_epochs

fold, tag = int(sys.argv[1]), sys.argv[2]
over = dict(a.split("=") for a in sys.argv[3:])
side = over.pop("side", "0") == "1"
refit = over.pop("refit", "1") == "1"
cfg = GlocalKConfig()
typed = {k: type(getattr(cfg, k))(float(v)) if type(getattr(cfg, k)) is not bool else v == "1"
         for k, v in over.items()}
cfg = replace(cfg, **typed)
train, test = load_split(fold)
feats = None
if side:
    movies = load_movies()
    feats = movies[["item_id"]].copy()
    for g in ML100K_GENRES:
        feats[g] = movies["genres"].str.split("|").apply(lambda gs, g=g: float(g in gs))
t0 = time.process_time()
chosen, model, valid = select_epochs(train, cfg, feats)
t_sel = time.process_time() - t0
vpred = model.predict(valid["user_id"].to_numpy(), valid["item_id"].to_numpy())
vr = float(np.sqrt(np.mean((np.clip(vpred, 1, 5) - valid["rating"].to_numpy()) ** 2)))
res = {"tag": tag, "fold": fold, "config": asdict(chosen), "side": side, "valid_rmse": vr,
       "select_cpu_s": t_sel}
h = model.history_
print(h.to_string(), flush=True)
np.save(f"build/a1/{tag}_u{fold}_valid.npy", vpred)
if refit:
    t1 = time.process_time()
    final = GlocalK(chosen, feats).fit(train)
    res["refit_cpu_s"] = time.process_time() - t1
    tp = final.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy())
else:
    tp = model.predict(test["user_id"].to_numpy(), test["item_id"].to_numpy())
res["test_rmse"] = float(np.sqrt(np.mean((np.clip(tp, 1, 5) - test["rating"].to_numpy()) ** 2)))
np.save(f"build/a1/{tag}_u{fold}_test.npy", tp)
print(json.dumps(res), flush=True)
with open("build/a1/results.jsonl", "a") as f:
    f.write(json.dumps(res) + "\n")
