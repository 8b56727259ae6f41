"""The demo's replies to the A/B sheet's contexts, with this checkout's code and graph.

    python ab_gen.py OUT.json SEED     (from the repository root of each checkout)
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import generate, load_split, sheet_personas
from model.serve.load import load_replier

BUNDLE, CONTEXTS = Path("data/models/demo-pretrained"), 120
out, seed = sys.argv[1], int(sys.argv[2])
replier = load_replier(BUNDLE)
train, dev = load_split(replier.meta, BUNDLE, None, None, "dev")
contexts = blind.pick_contexts(dev, sheet_personas(replier, ["all"]), CONTEXTS, seed)
replies = generate(replier, contexts, {}, seed, 8)
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"replies": replies, "contexts": [p["context"] for p in contexts]}, handle)
print(len(replies), "replies written to", out)
