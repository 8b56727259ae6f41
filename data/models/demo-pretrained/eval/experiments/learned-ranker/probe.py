"""Leave one dev sheet out: train sense/specificity classifiers, pick per context.

    python probe.py C FEATURES...   (FEATURES among text, lp, pool, last: /tmp/rank/X_*.npy)
"""

import collections
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

rows = json.load(open("/tmp/rank/rows.json"))
parts = sys.argv[2:]
C = float(sys.argv[1])
X = np.hstack([np.load(f"/tmp/rank/X_{p}.npy") for p in parts])
NONMODEL = ("real", "retrieval", "demo")
ismodel = np.array([not (r["system"] in NONMODEL or "zero-shot" in r["system"]) for r in rows])
ys = np.array([r["sensible"] >= 0.5 for r in rows])
yp = np.array([r["specific"] >= 0.5 for r in rows])
dev = np.array([r["split"] == "dev" for r in rows])
sheets = np.array([r["sheet"] for r in rows])
mu, sd = X[dev].mean(0), X[dev].std(0) + 1e-6
Z = (X - mu) / sd
gain = []
for sh in sorted(set(sheets)):
    train = dev & (sheets != sh)
    a = LogisticRegression(C=C, max_iter=3000).fit(Z[train], ys[train])
    b = LogisticRegression(C=C, max_iter=3000).fit(Z[train], yp[train])
    m = (sheets == sh) & ismodel
    idx = np.where(m)[0]
    sc = a.predict_proba(Z[m])[:, 1] + b.predict_proba(Z[m])[:, 1]
    auc = roc_auc_score(ys[m], a.predict_proba(Z[m])[:, 1]) if len(set(ys[m])) > 1 else float("nan")
    items = collections.defaultdict(list)
    for i, s in zip(idx, sc, strict=False):
        items[rows[i]["item"]].append((s, i))
    pick = orac = 0
    per = collections.Counter()
    for _it, c in items.items():
        s, i = max(c)
        r = rows[i]
        pick += (r["sensible"] + r["specific"]) / 2
        orac += max((rows[j]["sensible"] + rows[j]["specific"]) / 2 for _, j in c)
        for _, j in c:
            per[rows[j]["system"]] += (rows[j]["sensible"] + rows[j]["specific"]) / 2
    n = len(items)
    best = max(per.values()) / n
    gain.append(pick / n - best)
    print(
        f"{sh[-40:]:40s} {rows[idx[0]]['split']} aucS {auc:.2f} pick {pick / n:.2f} best {best:.2f} oracle {orac / n:.2f} n={n} k={len(per)}"
    )
print("mean gain over best system", np.mean(gain))
