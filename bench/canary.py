"""Memorisation: how much a trained bundle gives away of secrets planted in its training chats.

    python bench/canary.py [MANIFEST] [--out DIR] [--insertions 1,4,16] [--samples 10000]
                           [--candidates 1000] [--ordinary 500] [--limit N] [--epochs N]
                           [--scrub] [--decoding JSON] [--skip-training]

After Carlini et al., "The Secret Sharer" (2019); the method is model/eval/canary.py:
  1. the manifest's messages (first --limit conversations of each source) get canaries
     appended to training conversations of the persona: a locker code, a street address
     and a wifi password, each with its own random secret, planted 1, 4 and 16 times;
  2. `python -m model train` on them, as the manifest says (--epochs overrides), with
     `pairs.scrub_pii` off unless --scrub: the canaries stand for the secrets that
     scrubbing misses (with --scrub, none of these formats reaches the model);
  3. exposure of each canary among --candidates random secrets of its format;
  4. --samples replies (sampling, --decoding) to each canary's question and to its
     prefix alone: verbatim leaks per 10,000 replies, without and with the memorisation
     guard; plus one reply per prompt with the bundle's own decoding;
  5. the guard's cost: the share of --ordinary replies to held-out chats it withholds.

Writes DIR/report.json (default runs/canary-<manifest name>). Defaults are the demo
settings (data/demo/manifest.yaml, 10,000 replies); the pretrained demo is
data/demo/manifest-pretrained.yaml (45 min of training and ~3 h of sampling on 2 CPU
cores: use --limit, --epochs and --samples there, or a GPU). Target: 0 leaks in 10,000.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLING = {"strategy": "sample", "temperature": 1.0, "top_p": 1.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("manifest", nargs="?", default=str(ROOT / "data/demo/manifest.yaml"))
    parser.add_argument("--out", type=Path, help="work folder (default runs/canary-<name>)")
    parser.add_argument("--insertions", default="1,4,16",
                        help="times each canary is planted, one canary per count and format")
    parser.add_argument("--samples", type=int, default=10_000, help="sampled replies in all")
    parser.add_argument("--candidates", type=int, default=1000,
                        help="random secrets each canary is ranked against")
    parser.add_argument("--ordinary", type=int, default=500,
                        help="held-out chats answered to measure how often the guard refuses")
    parser.add_argument("--limit", type=int, help="keep at most N conversations per source")
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--scrub", action="store_true",
                        help="train with the manifest's pairs.scrub_pii (default: off)")
    parser.add_argument("--decoding", type=json.loads, default=SAMPLING,
                        help=f"decoding of the sampled replies (default {json.dumps(SAMPLING)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="training and ONNX threads")
    parser.add_argument("--skip-training", action="store_true",
                        help="measure the bundle already in DIR/bundle")
    return parser.parse_args(argv)


def plant_manifest(args, out: Path) -> list:
    """Planted messages and a manifest that trains on them, written into `out`."""
    import yaml

    from model.data.manifest import kind_hyperparameters, load_manifest
    from model.data.messages import write_jsonl
    from model.data.pairs import (
        messages_from_manifest,
        options_from_manifest,
        resolve_personas,
        speaker_counts,
        split_of,
    )
    from model.eval.canary import make_canaries, plant
    from model.files import atomic_output

    manifest = load_manifest(args.manifest)
    for source in manifest.sources:
        if args.limit:
            source.limit = min(source.limit or args.limit, args.limit)
    messages = messages_from_manifest(manifest)
    canonical, labels = resolve_personas(options_from_manifest(manifest),
                                         speaker_counts(messages))
    canaries = make_canaries([int(n) for n in args.insertions.split(",")], args.seed)
    fraction = manifest.train["val_fraction"]
    planted = plant(messages, {s for s, label in labels.items() if label == canonical},
                    canaries, lambda conversation: split_of(conversation, fraction) == "train",
                    args.seed)
    with atomic_output(out / "messages.jsonl") as handle:
        write_jsonl(planted, handle)
    described = {
        "name": f"{manifest.name}-canary", "sources": [{"format": "jsonl",
                                                       "path": "messages.jsonl"}],
        "persona": manifest.persona, "me": manifest.me,
        "pairs": {**manifest.pairs, "scrub_pii": args.scrub and manifest.pairs["scrub_pii"]},
        "model": kind_hyperparameters(manifest.model), "train": manifest.train,
        **({"base": str(manifest.base)} if manifest.base else {}),
    }
    with atomic_output(out / "manifest.yaml") as handle:
        yaml.safe_dump(described, handle, sort_keys=False, allow_unicode=True)
    with atomic_output(out / "canaries.json") as handle:
        json.dump([vars(c) for c in canaries], handle, indent=1)
    print(f"planted {len(canaries)} canaries ({sum(c.insertions for c in canaries)} "
          f"insertions) into {len(messages)} messages; persona {canonical}", flush=True)
    return canaries


def train(args, out: Path) -> None:
    command = [sys.executable, "-m", "model", "train", str(out / "manifest.yaml"),
               "--out", str(out / "bundle"), "--work", str(out / "work"),
               "--threads", str(args.threads)]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    started = time.perf_counter()
    if subprocess.run(command, cwd=ROOT).returncode:
        sys.exit("training failed")
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)


def ordinary_refusals(replier, guard, out: Path, count: int, batch_size: int) -> dict:
    """Share of replies (bundle's decoding) to held-out chats of the persona the guard
    withholds: what the guard costs when nobody is fishing for secrets."""
    from model.data.manifest import load_manifest
    from model.data.pairs import build_pairs_from_manifest, is_heldout
    from model.eval.canary import withheld
    from model.eval.evaluate import generate

    manifest = load_manifest(out / "manifest.yaml")
    fraction = manifest.train["val_fraction"]
    test = [p for p in build_pairs_from_manifest(manifest)
            if is_heldout(p["conversation"], fraction)
            and p["persona"] == replier.default_persona][:count]
    replies = generate(replier, test, {}, 0, batch_size)
    refused = [text for text in replies if withheld(replier, guard, text)]
    return {"replies": len(replies), "withheld": len(refused), "examples": refused[:5]}


def measure(args, out: Path, canaries: list) -> dict:
    from model.eval.canary import exposure, extract, extraction_prompts, summarise
    from model.pii import scrub_pii
    from model.serve.load import load_replier
    from model.serve.memorisation import MemorisationGuard

    bundle = out / "bundle"
    replier = load_replier(bundle, threads=max(args.threads, 1), guard=False)
    guard = MemorisationGuard.load(bundle)
    batch = 16 if replier.meta["kind"] == "pretrained" else 256
    started = time.perf_counter()
    exposures = [exposure(replier, c, args.candidates, args.seed, batch) for c in canaries]
    print(f"exposure of {len(canaries)} canaries in {time.perf_counter() - started:.0f} s",
          flush=True)
    started = time.perf_counter()
    rows = extract(replier, guard, canaries, args.samples, args.decoding, args.seed, batch)
    print(f"{len(rows)} sampled replies in {time.perf_counter() - started:.0f} s", flush=True)
    prompts = sum(len(extraction_prompts(c)) for c in canaries)
    default_rows = extract(replier, guard, canaries, prompts, {}, args.seed, batch)
    report = {
        "bundle": str(bundle), "kind": replier.meta["kind"], "scrub_pii": args.scrub,
        "decoding": args.decoding, "guard": None if guard is None else
        {"ngram": guard.n, "digit_ngram": guard.digit_n, "max_replies": guard.max_replies,
         "stretches": len(guard.hashes)},
        **summarise(canaries, exposures, rows),
        "leaking_replies": [row for row in rows if row["holds"]][:20],
        "default_decoding": [{k: row[k] for k in ("message", "reply", "holds", "withheld")}
                             for row in default_rows],
        "scrubbed": {c.reply: scrub_pii(c.reply) for c in canaries},
        "ordinary": ordinary_refusals(replier, guard, out, args.ordinary, batch),
    }
    return report


def show(report: dict) -> None:
    print(f"\n{report['kind']} bundle, scrub_pii {report['scrub_pii']}, guard {report['guard']}")
    print(f"{'canary':<44} {'ins':>4} {'rank':>8} {'exposure':>8} {'leaks':>6} {'guarded':>7}")
    for row in report["canaries"]:
        print(f"{row['reply']:<44} {row['insertions']:>4} {row['rank']:>8g} "
              f"{row['exposure']:>8.2f} {row['leaks']:>6} {row['leaks_with_guard']:>7}")
    ranked = report["canaries"][0]["candidates"]
    print(f"exposure is at most log2({ranked}) = {math.log2(ranked):.2f} bits (the secret "
          f"ranked first), about 1.44 by chance; {report['replies']} sampled replies "
          f"({json.dumps(report['decoding'])}):")
    print(f"  verbatim leaks per 10,000 replies: {report['leaks_per_10k']:.1f} without the "
          f"guard, {report['leaks_per_10k_with_guard']:.1f} with it "
          f"(it withholds {report['withheld_share']:.1%} of these replies)")
    default = report["default_decoding"]
    print(f"  the bundle's own decoding, one reply per prompt: "
          f"{sum(bool(r['holds']) for r in default)} of {len(default)} leak, "
          f"{sum(bool(r['holds']) and not r['withheld'] for r in default)} with the guard")
    ordinary = report["ordinary"]
    print(f"  held-out chats: the guard withholds {ordinary['withheld']} of "
          f"{ordinary['replies']} ordinary replies")
    for reply, scrubbed in report["scrubbed"].items():
        print(f"  scrub_pii: {reply!r} -> {scrubbed!r}")


def main(argv=None) -> int:
    args = parse_args(argv)
    from model.data.manifest import load_manifest

    out = args.out or ROOT / "runs" / f"canary-{load_manifest(args.manifest).name}"
    out.mkdir(parents=True, exist_ok=True)
    if args.skip_training:
        from model.eval.canary import Canary

        canaries = [Canary(**row) for row in
                    json.loads((out / "canaries.json").read_text(encoding="utf-8"))]
    else:
        canaries = plant_manifest(args, out)
        train(args, out)
    report = measure(args, out, canaries)
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    show(report)
    print(f"\nreport: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
