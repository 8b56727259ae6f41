"""On-policy candidates: the shipped demo's 4 beams for contexts of chats 1,001-3,000 (past
the demo's limit, none on any evaluation sheet), half cut to their last message; one blind
sheet of them with the real reply.   python candidates.py DIR COUNT SEED"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "/work/main")
from model.data.manifest import load_manifest
from model.data.pairs import build_pairs_from_manifest, unseen_pairs_from_manifest
from model.eval import blind
from model.eval.evaluate import last_turns
from model.eval.scores import request_for
from model.pii import strip_placeholders
from model.serve import beam, decode
from model.serve.load import load_replier

out, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
MANIFEST = Path("/work/main/data/demo/manifest-pretrained.yaml")
text = MANIFEST.read_text()
tmp = MANIFEST.parent / ".m3000.yaml"
tmp.write_text(text.replace("limit: 1000", "limit: 3000"))
try:
    within3000 = {
        p["conversation"] for p in build_pairs_from_manifest(load_manifest(tmp), augment=False)
    }
finally:
    tmp.unlink()
on_sheets = set()
for k in list(Path("/tmp/dpo").glob("sheet-*/key.json")) + list(
    Path("/work/main/data/models/demo-pretrained/eval/blind-unseen").glob("*/key.json")
):
    on_sheets |= {i["conversation"] for i in json.loads(k.read_text())["items"]}
pool = [
    p
    for p in unseen_pairs_from_manifest(load_manifest(MANIFEST))
    if p["conversation"] in within3000 and p["conversation"] not in on_sheets
]
print(len(pool), "pairs in", len({p["conversation"] for p in pool}), "chats", flush=True)
personas = ["Sam", "Alex", "Jo", "Kim", "Robin", "Lee", "Nat", "Ash"]
chosen = blind.pick_contexts(pool, personas, count, seed)
chosen = [last_turns(p, 1) if i % 2 else p for i, p in enumerate(chosen)]
r = load_replier(Path("/work/main/data/models/demo-pretrained"), threads=1)
cfg = decode.Decoding.from_dict({}, base=r.decoding)
beams = []
for s in range(0, len(chosen), 4):
    part = chosen[s : s + 4]
    reqs = [request_for(p, p["persona"], {}, seed) for p in part]
    ids = [r.context_ids(q, p["persona"]) for q, p in zip(reqs, part, strict=True)]
    state = r.encode(ids, [p["persona"] for p in part])
    rows = beam.beam_search(
        r.step, state, r.rules, cfg, keep=4, contexts=[np.asarray(c, np.int64) for c in ids]
    )
    beams += [[strip_placeholders(r.tokenizer.decode(t)) for t, _ in row] for row in rows]
    if s % 40 == 0:
        print(s, flush=True)
systems = {f"beam{j + 1}": [row[j] if j < len(row) else "" for row in beams] for j in range(4)}
systems["real"] = [p["reply"] for p in chosen]
blind.write_sheet(out, chosen, systems, seed)
json.dump(chosen, open(out / "contexts.json", "w"))
print("wrote", out)
