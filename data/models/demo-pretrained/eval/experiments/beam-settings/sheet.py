"""A blind sheet of up to 120 contexts where other beam settings and the default (beam 4)
reply differently (a seeded draw among them), with the real reply beside them.

    python sheet.py SHEET_DIR SEED OTHER.json BEAM4.json GEN_SEED SPLIT  (repository root)

Each reply file is gen.py's output; its settings name the system ("beam 3",
"length_penalty 1.2").
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
folder, seed, other_path, four_path, gen_seed, split = sys.argv[1:7]
other, four = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (other_path, four_path))
replier = load_replier(DEMO)
train, held = load_split(replier.meta, DEMO, None, None, split)
contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), len(four["replies"]),
                               int(gen_seed))
assert [p["context"] for p in contexts] == other["contexts"] == four["contexts"]
differ = [i for i, (a, b) in enumerate(zip(other["replies"], four["replies"], strict=True))
          if a != b]
picked = sorted(np.random.default_rng(int(seed)).permutation(differ)[:ITEMS].tolist())
print(f"{len(differ)} of {len(contexts)} contexts differ; {len(picked)} on the sheet")
def label(run: dict) -> str:
    settings = run["settings"]
    return (f"beam {settings['beam_width']}" if set(settings) == {"beam_width"} else
            ", ".join(f"{key} {value}" for key, value in settings.items()))


systems = {label(run): [run["replies"][i] for i in picked] for run in (other, four)}
blind.write_sheet(folder, [contexts[i] for i in picked],
                  {**systems, "real": [contexts[i]["reply"] for i in picked]}, int(seed))
