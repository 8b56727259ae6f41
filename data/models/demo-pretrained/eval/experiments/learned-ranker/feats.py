"""Text features of every parsed row -> /tmp/rank/X_text.npy (run parse.py first)."""

import collections
import json
import math
import re

import numpy as np

rows = json.load(open("/tmp/rank/rows.json"))
ret = json.load(open("data/models/demo-pretrained/retrieval.json"))
WORD = re.compile(r"[a-z0-9']+")


def words(t):
    return WORD.findall(t.lower().replace("<brk>", " "))


train = list(dict.fromkeys(ret["replies"]))
df = collections.Counter()
whole = collections.Counter()
for r in train:
    df.update(set(words(r)))
    whole[" ".join(words(r))] += 1
N = len(train)


def idf(w):
    return math.log((N + 1) / (df.get(w, 0) + 1))


STOP = {w for w, c in df.items() if c > N * 0.03}


def feats(r):
    rw = words(r["reply"])
    ctx = r["context"]
    last = words(ctx[-1]) if ctx else []
    allc = set(w for t in ctx for w in words(t))
    content = [w for w in rw if w not in STOP]
    ov_last = len(set(content) & set(last))
    ov_all = len(set(content) & allc)
    idfs = [idf(w) for w in set(rw)] or [0]
    n = len(rw)
    bigr = set(zip(rw, rw[1:], strict=False))
    cb = set()
    for t in ctx:
        cw = words(t)
        cb |= set(zip(cw, cw[1:], strict=False))
    copy = len(bigr & cb) / max(1, len(bigr))
    return [
        math.log1p(n),
        n > 12,
        n > 25,
        r["reply"].count(" / "),
        "?" in r["reply"],
        math.log1p(whole.get(" ".join(rw), 0)),
        sum(idfs) / 10,
        max(idfs) / 5,
        len(content) / 5,
        ov_last,
        ov_all,
        ov_all / max(1, len(set(content))),
        copy,
        len(set(rw)) / max(1, n),
        n == 0,
        len(ctx),
        math.log1p(len(last)),
    ]


X = np.array([feats(r) for r in rows], float)
np.save("/tmp/rank/X_text.npy", X)
print(X.shape)
