"""A bundle's replies to N contexts of a split (the demo's default decoding).

    python gen.py BUNDLE OUT.json N SEED SPLIT      (from the repository root)
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import generate, load_split, sheet_personas
from model.serve.load import load_replier

DEMO = Path("data/models/demo-pretrained")  # whose manifest and split the contexts follow
bundle, out, count, seed, split = (Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                   int(sys.argv[4]), sys.argv[5])
replier = load_replier(bundle)
train, held = load_split(replier.meta, DEMO, None, None, split)
contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), count, seed)
replies = generate(replier, contexts, {}, seed, 8)
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"replies": replies, "contexts": [p["context"] for p in contexts]}, handle)
print(len(replies), "replies written to", out)
