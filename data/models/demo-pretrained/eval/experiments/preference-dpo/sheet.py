"""A blind sheet on chats no model or sheet has seen: chitchat chats after the first 3,000.

python sheet.py DIR SEED COUNT [--context-turns N] BUNDLE...
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "/work/main")
from model.data.manifest import load_manifest
from model.data.pairs import build_pairs_from_manifest
from model.eval import blind
from model.eval.evaluate import baselines, generate, last_turns, load_split
from model.serve.load import load_replier

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("seed", type=int)
ap.add_argument("count", type=int)
ap.add_argument("--context-turns", type=int)
ap.add_argument("bundles", nargs="+")
args = ap.parse_args()
MANIFEST = Path("/work/main/data/demo/manifest-pretrained.yaml")
text = MANIFEST.read_text()


def pairs_with(limit):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=MANIFEST.parent, delete=False) as f:
        f.write(text.replace("limit: 1000", f"limit: {limit}"))
        name = f.name
    try:
        return build_pairs_from_manifest(load_manifest(Path(name)), augment=False)
    finally:
        Path(name).unlink()


seen = {p["conversation"] for p in pairs_with(3000)}
fresh = [p for p in pairs_with(100000) if p["conversation"] not in seen]
personas = ["Sam", "Alex", "Jo", "Kim", "Robin", "Lee", "Nat", "Ash"]
print(len(fresh), "pairs in", len({p["conversation"] for p in fresh}), "unseen chats", flush=True)
contexts = [
    last_turns(p, args.context_turns)
    for p in blind.pick_contexts(fresh, personas, args.count, args.seed)
]
systems = {}
for b in args.bundles:
    r = load_replier(Path(b), threads=1)
    systems[Path(b).name] = generate(r, contexts, {}, args.seed, 8)
    print(b, "done", flush=True)
meta = json.loads(Path("/work/main/data/models/demo-pretrained/bundle.json").read_text())
train, _ = load_split(meta, Path("/work/main/data/models/demo-pretrained"), MANIFEST, None, "test")
systems["retrieval"] = baselines(train, contexts)["retrieval"]
systems["real"] = [p["reply"] for p in contexts]
blind.write_sheet(args.dir, contexts, systems, args.seed)
json.dump(contexts, open(Path(args.dir) / "contexts.json", "w"))
print("wrote", args.dir)
