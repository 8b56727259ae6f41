"""One blind sheet of both graphs' replies (ab_gen.py outputs), retrieval and the real ones.

    python ab_sheet.py NEW.json OLD.json SEED SHEET_DIR [NEW_LABEL]  (from the repository root)

NEW_LABEL names the new graph in the key (int8-smoothquant-dev: "smoothed int8-gemm graph").
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import baselines, load_split, sheet_personas
from model.serve.load import load_replier

BUNDLE, CONTEXTS = Path("data/models/demo-pretrained"), 120
new_path, old_path, seed, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
new_label = sys.argv[5] if len(sys.argv) > 5 else "int8-gemm graph"
new, old = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (new_path, old_path))
replier = load_replier(BUNDLE)
train, dev = load_split(replier.meta, BUNDLE, None, None, "dev")
contexts = blind.pick_contexts(dev, sheet_personas(replier, ["all"]), CONTEXTS, seed)
assert [p["context"] for p in contexts] == new["contexts"] == old["contexts"]
systems = {new_label: new["replies"], "previous graph": old["replies"],
           "retrieval": baselines(train, contexts)["retrieval"],
           "real": [p["reply"] for p in contexts]}
blind.write_sheet(folder, contexts, systems, seed)
