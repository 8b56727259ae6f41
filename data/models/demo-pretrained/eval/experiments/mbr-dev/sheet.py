"""A blind sheet of up to 120 contexts where an MBR pick and the default reply differ (a
seeded draw among them): the default, mbr-beams, mbr-all and the real reply.

    python sheet.py SHEET_DIR SEED GEN.json      (from the repository root)
"""
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())
from model.eval import blind
from model.eval.evaluate import load_split, sheet_personas
from model.serve.load import load_replier

DEMO, ITEMS = Path("data/models/demo-pretrained"), 120
folder, seed, gen_path = sys.argv[1:4]
run = json.loads(Path(gen_path).read_text(encoding="utf-8"))
replier = load_replier(DEMO)
train, held = load_split(replier.meta, DEMO, None, None, run["split"])
contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), len(run["rows"]),
                               run["seed"])
assert [p["context"] for p in contexts] == run["contexts"]
rows = run["rows"]
differ = [i for i, row in enumerate(rows)
          if row["mbr-all"] != row["default"] or row["mbr-beams"] != row["default"]]
picked = sorted(np.random.default_rng(int(seed)).permutation(differ)[:ITEMS].tolist())
print(f"{len(differ)} of {len(rows)} contexts differ; {len(picked)} on the sheet")
systems = {name: [rows[i][name] for i in picked] for name in ("default", "mbr-beams", "mbr-all")}
systems["real"] = [contexts[i]["reply"] for i in picked]
blind.write_sheet(folder, [contexts[i] for i in picked], systems, int(seed))
