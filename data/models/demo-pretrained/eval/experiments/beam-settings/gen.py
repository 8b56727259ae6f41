"""The demo's replies to N contexts of a split with its decoding changed by SETTINGS (JSON).

    python gen.py OUT.json N SEED SPLIT '{"beam_width": 3}'      (from the repository root)
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import generate, load_split, sheet_personas
from model.serve.load import load_replier

DEMO = Path("data/models/demo-pretrained")
out, count, seed, split, settings = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                     sys.argv[4], json.loads(sys.argv[5]))
replier = load_replier(DEMO)
train, held = load_split(replier.meta, DEMO, None, None, split)
contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), count, seed)
replies = generate(replier, contexts, settings, seed, 8)
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"replies": replies, "contexts": [p["context"] for p in contexts],
               "settings": settings}, handle)
print(len(replies), "replies written to", out)
