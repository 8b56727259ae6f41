"""Training throughput: our bucketed tf.data trainer vs the keras-io padded baseline.

    python bench/train.py [MANIFEST] [--pairs 12000] [--epochs 3] [--max-context 96]
                          [--max-reply 48]

Same pairs, same model (the manifest's, built twice from one seed), one process:
  - ours: `model.train.training_data.make_dataset` (length buckets, each batch padded only to
    its own longest example, a fresh shuffle per epoch);
  - baseline (keras-io `lstm_seq2seq` style): every example padded to the longest
    context / reply of the whole data set, one shuffled NumPy array fed to `fit`.
Both count only real (non-pad) tokens: context + reply + </s>. A short warm-up fit per
engine (tracing) is not timed; the figure is the median epoch over --epochs, the two
engines' epochs interleaved, as wall time and as process CPU time (steadier on a shared
machine). Target: >= 2x.

Default: the demo manifest's model (LSTM 64/128, vocab 2000) on the first --pairs 12000
training pairs of the chitchat corpus (a year or two of one busy chat), length caps
96 / 48 (the demo's own 48 / 24 cut most examples to the cap, leaving little padding to
remove; try 192 / 96 as well). Bucketing removes more padding the more pairs it has to
sort: --pairs 4000 gives less, the whole corpus (--pairs 0) more.
Wall-clock ratios move between runs on 2 shared cores (how much of the second core each
engine gets varies); the CPU-time ratio is the steadier measure of work saved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


WARMUP_BATCHES = 10  # untimed: enough batches of different shapes to trace fit()'s step


def timed_epochs(engines: dict, epochs: int, warmup_pairs: int) -> dict:
    """Median (wall, CPU) seconds per epoch of each engine, epochs interleaved.

    Interleaving (A B A B …, after an untimed warm-up fit each for tracing) spreads any
    load from other processes on a shared machine over both engines alike.
    """
    for model, fit_one_epoch in engines.values():
        fit_one_epoch(model, -1, warmup_pairs)
    times = {name: ([], []) for name in engines}
    for epoch in range(epochs):
        for name, (model, fit_one_epoch) in engines.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fit_one_epoch(model, epoch)
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return {name: (statistics.median(walls), statistics.median(cpus))
            for name, (walls, cpus) in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", nargs="?", default=str(ROOT / "data/demo/manifest.yaml"))
    parser.add_argument("--pairs", type=int, default=12000,
                        help="train on the first N training pairs (0: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-context", type=int, default=96)
    parser.add_argument("--max-reply", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from model.data.manifest import load_manifest
    from model.train.nets import build_model, setup_tensorflow
    from model.train.training_data import make_dataset, prepare

    manifest = load_manifest(args.manifest)
    manifest.model.update(max_context_tokens=args.max_context, max_reply_tokens=args.max_reply)
    data = prepare(manifest)
    seed, batch = manifest.train["seed"], manifest.train["batch_size"]
    _, keras = setup_tensorflow(seed, args.threads)
    from model.train.layers import masked_token_loss

    examples = data.train[:args.pairs] if args.pairs else data.train
    real_tokens = sum(len(context) + len(reply) + 1 for context, reply, _ in examples)
    longest_context = max(len(context) for context, _, _ in examples)
    longest_reply = max(len(reply) for _, reply, _ in examples) + 1

    def compiled_model():
        keras.utils.set_random_seed(seed)
        model = build_model(data.hp, data.tokenizer.vocab_size, len(data.personas))
        model.compile(optimizer=keras.optimizers.Adam(manifest.train["lr"]),
                      loss=masked_token_loss, jit_compile=False)
        return model

    def ours(model, epoch, count=None):
        model.fit(make_dataset(examples[:count], batch, seed=seed + epoch), verbose=0)

    padded = {"context_ids": np.zeros((len(examples), longest_context), np.int32),
              "reply_in": np.zeros((len(examples), longest_reply), np.int32),
              "persona": np.array([persona for _, _, persona in examples], np.int32)}
    targets = np.zeros((len(examples), longest_reply), np.int32)
    for row, (context, reply, _) in enumerate(examples):
        padded["context_ids"][row, : len(context)] = context
        padded["reply_in"][row, : len(reply) + 1] = [1, *reply]
        targets[row, : len(reply) + 1] = [*reply, 2]

    def baseline(model, epoch, count=None):
        model.fit({name: array[:count] for name, array in padded.items()}, targets[:count],
                  batch_size=batch, shuffle=True, verbose=0)

    slots_ours = 0
    for inputs, reply_out in make_dataset(examples, batch, seed=seed):
        slots_ours += int(np.prod(inputs["context_ids"].shape) + np.prod(reply_out.shape))
    slots_baseline = len(examples) * (longest_context + longest_reply)
    print(f"{len(examples)} training pairs, {real_tokens} real tokens per epoch; model "
          f"{data.hp['kind']} embed {data.hp['embed']} units {data.hp['units']} vocab "
          f"{data.tokenizer.vocab_size}; batch {batch}; {args.threads} threads")
    print(f"padding share: ours {1 - real_tokens / slots_ours:.1%}, "
          f"baseline {1 - real_tokens / slots_baseline:.1%} "
          f"(longest context {longest_context}, reply {longest_reply})")
    engines = {"baseline (padded)": (compiled_model(), baseline), "ours": (compiled_model(), ours)}
    # one example past whole batches: the smaller last batch is traced too
    timings = timed_epochs(engines, args.epochs, WARMUP_BATCHES * batch + 1)
    base_wall, base_cpu = timings["baseline (padded)"]
    for name, (wall, cpu) in timings.items():
        print(f"{name:18s} {real_tokens / wall:9.0f} real tokens/s wall "
              f"({wall:.2f} s/epoch), {real_tokens / cpu:9.0f} per CPU-second; "
              f"{base_wall / wall:.2f}x wall, {base_cpu / cpu:.2f}x CPU")
    print(f"target: ours >= 2x the baseline; load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
