"""A blind sheet of only the contexts where the two graphs' replies differ, with the real
reply beside them.

    python sheet.py SHEET_DIR SEED NEW_dev.json OLD_dev.json DEV_SEED NEW_unseen.json
                    OLD_unseen.json UNSEEN_SEED                  (from the repository root)
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import load_split, sheet_personas
from model.serve.load import load_replier

DEMO = Path("data/models/demo-pretrained")
folder, seed, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
replier = load_replier(DEMO)
pairs, new, old = [], [], []
for split, (new_path, old_path, run_seed) in zip(("dev", "unseen"), (runs[:3], runs[3:]),
                                                 strict=True):
    a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (new_path, old_path))
    train, held = load_split(replier.meta, DEMO, None, None, split)
    contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]),
                                   len(a["replies"]), int(run_seed))
    assert [p["context"] for p in contexts] == a["contexts"] == b["contexts"]
    for pair, x, y in zip(contexts, a["replies"], b["replies"], strict=True):
        if x != y:
            pairs.append(pair), new.append(x), old.append(y)
print(len(pairs), "contexts where the replies differ")
blind.write_sheet(folder, pairs, {"head token list": new, "whole-vocabulary head": old,
                                  "real": [p["reply"] for p in pairs]}, seed)
