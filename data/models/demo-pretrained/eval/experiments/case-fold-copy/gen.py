"""The demo's replies to N contexts of a split, its no_copy_ngram comparing tokens with or
without case (MODE: fold, the default since 2026-12-02, or exact, the rule before).

    python gen.py OUT.json N SEED SPLIT MODE                 (from the repository root)
"""
import dataclasses
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import generate, load_split, sheet_personas
from model.serve.load import load_replier

DEMO = Path("data/models/demo-pretrained")
out, count, seed, split, mode = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                 sys.argv[4], sys.argv[5])
replier = load_replier(DEMO)
if mode == "exact":
    replier.rules = dataclasses.replace(replier.rules, fold=None)
train, held = load_split(replier.meta, DEMO, None, None, split)
contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), count, seed)
replies = generate(replier, contexts, {}, seed, 8)
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"replies": replies, "contexts": [p["context"] for p in contexts],
               "settings": {"no_copy_ngram case": mode}}, handle)
print(len(replies), "replies written to", out)
