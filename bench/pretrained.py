"""Serving cost of a pretrained bundle beside the LSTM demo, measured in one run.

    .venv/bin/python bench/pretrained.py [BUNDLE ...] [--runs 5]

Defaults: data/models/demo-pretrained against data/models/demo (the baseline). Every
figure comes from a fresh process per bundle and run, limited to one thread (one core):
  - warm start: import + load_replier with the serving cache present (the first load
    assembles the graph; that cold figure is printed once per bundle);
  - RSS after loading and answering;
  - one reply at batch 1 with the bundle's default decoding, over 12 chat messages with
    two turns of context (wall and CPU ms per reply, ms per generated token);
  - replies/s at batch 16 (default decoding).
Medians over --runs; the ratio column is pretrained / LSTM. Targets (issue #14): <= 0.5 s
per reply, warm start <= 3 s, RSS <= 1.2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHATS = [
    (["hey!", "hi, how are you?"], "good thanks! what are you up to this weekend?"),
    (["do you like sports?", "not really, i prefer reading"], "oh nice, what are you reading?"),
    (["i just moved to a new city", "oh wow, where?"], "denver! it's cold here lol"),
    (["what's your favorite food?", "pizza for sure"], "same!! what toppings do you get?"),
    (["i have a job interview tomorrow", "good luck!"], "thanks, i'm so nervous"),
    (["did you watch the game?", "yes, what a finish"], "i can't believe they won"),
    (["hello", "hello! how's your day going?"], "pretty good, just finished work. you?"),
    (["do you have any pets?", "i have a dog"], "what breed is it?"),
    (["i'm learning to cook", "that's great"], "yesterday i made pasta from scratch"),
    (["where did you grow up?", "in a small town"], "do you miss it?"),
    (["any plans for the summer?", "maybe a trip to italy"], "that sounds amazing!"),
    (["i love hiking", "me too!"], "what's the best trail you've done?"),
]
CHILD = """
import json, os, resource, statistics, sys, time
started = time.perf_counter()
from model.serve.load import load_replier
from model.serve.runtime import Replier, ReplyRequest
replier = load_replier(sys.argv[1], threads=1)
load_s = time.perf_counter() - started
chats = json.loads(sys.argv[2])
requests = [ReplyRequest(message, context, decoding={"seed": i})
            for i, (context, message) in enumerate(chats)]
replier.reply_batch(requests[:1])  # first-call allocations
wall, cpu, tokens = [], [], []
for request in requests:
    w, c = time.perf_counter(), time.process_time()
    reply = replier.reply_batch([request])[0]
    wall.append(time.perf_counter() - w)
    cpu.append(time.process_time() - c)
    tokens.append(max(len(replier.tokenizer.encode_text(reply.text)), 1))
batch = (requests * 2)[:16]
w = time.perf_counter()
replier.reply_batch(batch)
batch_rate = len(batch) / (time.perf_counter() - w)
print(json.dumps({"load_s": load_s, "reply_ms": 1000 * statistics.median(wall),
                  "reply_cpu_ms": 1000 * statistics.median(cpu),
                  "ms_per_token": 1000 * sum(wall) / sum(tokens),
                  "tokens": statistics.median(tokens), "batch16_per_s": batch_rate,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
FIELDS = [("load_s", "warm start (s)"), ("rss_mb", "RSS (MB)"), ("reply_ms", "reply, batch 1 (ms)"),
          ("reply_cpu_ms", "reply CPU (ms)"), ("tokens", "tokens/reply"),
          ("ms_per_token", "ms/token"), ("batch16_per_s", "replies/s at batch 16")]


def measure(bundle: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", CHILD, str(bundle), json.dumps(CHATS)],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{bundle}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundles", nargs="*", type=Path,
                        default=[ROOT / "data/models/demo-pretrained", ROOT / "data/models/demo"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; one thread each")
    for bundle in args.bundles:  # the first load of a pretrained bundle assembles its graph
        print(f"{bundle.name}: first load {measure(bundle)['load_s']:.1f} s")
    runs = {bundle: [] for bundle in args.bundles}
    for _ in range(args.runs):  # interleaved, so both see the same machine
        for bundle in args.bundles:
            runs[bundle].append(measure(bundle))
    names = [bundle.name for bundle in args.bundles]
    print("| figure | " + " | ".join(names) + (" | ratio |" if len(names) == 2 else " |"))
    print("|---" * (len(names) + 1 + (len(names) == 2)) + "|")
    for key, label in FIELDS:
        values = [statistics.median(r[key] for r in runs[bundle]) for bundle in args.bundles]
        ratio = f" {values[0] / values[1]:.1f}x |" if len(values) == 2 and values[1] else ""
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in values) + " |" + ratio)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
