"""Experiment: DPO (Rafailov et al. 2023) of the shipped pretrained demo on blind graders'
marks. Chosen = the reply graders rated higher (sensible + specific) for the same context,
rejected = the lower one. Policy and reference start at the shipped delta; the 22 frozen
blocks are cached as in the fine-tune. Pairs come from the old dev sheets (parsed into
/tmp/rank/rows.json by ../learned-ranker/parse.py) and/or graded sheet folders.

    python dpo.py OUT_BUNDLE [--beta 0.1] [--lr 5e-6] [--epochs 1] [--batch 8]
                  [--sheets DIR...] [--no-dev] [--sft 0.0] [--max-pairs N] [--threads 2]
"""

import argparse
import collections
import csv
import itertools
import json
import random
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, "/work/main")
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--beta", type=float, default=0.1)
ap.add_argument("--lr", type=float, default=5e-6)
ap.add_argument("--epochs", type=float, default=1)
ap.add_argument("--sft", type=float, default=0.0)
ap.add_argument("--max-pairs", type=int, default=0)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--sheets", nargs="*", default=[], help="more graded sheet folders (on-policy)")
ap.add_argument("--no-dev", action="store_true", help="without the pairs of the old dev sheets")
args = ap.parse_args()
SHIPPED = Path("/work/main/data/models/demo-pretrained")

from model.train.nets import setup_tensorflow  # noqa: E402 (after the TF setup, as in the fine-tune)

tf, keras = setup_tensorflow(7, args.threads)
from model.train.pretrained.finetune import Trainer, log, use_bfloat16  # noqa: E402 (after the TF setup, as in the fine-tune)

if use_bfloat16("auto"):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
from model.serve.bundle import read_bundle, write_bundle  # noqa: E402 (after the TF setup, as in the fine-tune)
from model.serve.pretrained.assemble import pack_delta, unpack_delta  # noqa: E402 (after the TF setup, as in the fine-tune)
from model.serve.pretrained.base import Base  # noqa: E402 (after the TF setup, as in the fine-tune)
from model.serve.pretrained.prompt import PromptCodec  # noqa: E402 (after the TF setup, as in the fine-tune)
from model.train.pretrained.keras_llama import LlamaParts  # noqa: E402 (after the TF setup, as in the fine-tune)

meta = json.loads((SHIPPED / "bundle.json").read_text())
base = Base.open("smollm2-135m-instruct")
codec = PromptCodec(base.tokenizer, meta["max_context_tokens"], meta["max_reply_tokens"])

# --- preference pairs from dev sheets --------------------------------------------------
rows = (
    []
    if args.no_dev
    else [r for r in json.load(open("/tmp/rank/rows.json")) if r["split"] == "dev"]
)


def parse_sheet(path):
    """sheet.md -> {item: (context turns, speakers, {label: reply})}"""
    items = {}
    for block in re.split(r"\n(?=## \d+\n)", path.read_text())[1:]:
        ctx, spk, cands = [], [], {}
        for line in block.splitlines():
            if m := re.match(r"> \*\*(.+?):\*\* (.*?)\s*$", line):
                spk.append(m.group(1))
                ctx.append(m.group(2))
            elif m := re.match(r"- \*\*([A-Z]):\*\* (.*)$", line):
                cands[m.group(1)] = m.group(2)
        items[int(block.split("\n", 1)[0][3:])] = (ctx, spk, cands)
    return items


for folder in map(Path, args.sheets):
    key = json.loads((folder / "key.json").read_text())
    sheet = parse_sheet(folder / "sheet.md")
    marks = {(int(m["item"]), m["label"]): m for m in csv.DictReader(open(folder / "grades.csv"))}
    for it in key["items"]:
        ctx, spk, cands = sheet[it["item"]]
        for label, system in it["labels"].items():
            m = marks[(it["item"], label)]
            s_ = m["sensible"].strip() in ("1", "y", "yes")
            sp = s_ and (m["specific"] or "0").strip() in ("1", "y", "yes")
            rows.append(
                dict(
                    sheet=str(folder),
                    split="dev",
                    item=it["item"],
                    persona=it["persona"],
                    context=ctx,
                    speakers=spk,
                    system=system,
                    reply=cands[label],
                    sensible=float(s_),
                    specific=float(sp),
                )
            )
items = collections.defaultdict(list)
for r in rows:
    items[(r["sheet"], r["item"])].append(r)


def text(t):
    return t.replace(" / ", " <brk> ")


seqs, index = [], {}


def example(r):
    key = (tuple(r["context"]), tuple(r["speakers"]), r["persona"], r["reply"])
    if key not in index:
        prompt = codec.prompt_ids([text(t) for t in r["context"]], r["speakers"], r["persona"])
        index[key] = len(seqs)
        seqs.append((prompt, codec.reply_ids(text(r["reply"]))))
    return index[key]


pairs = []
for rs in items.values():
    for w, lo in itertools.permutations(rs, 2):
        if (
            (w["sensible"] + w["specific"]) - (lo["sensible"] + lo["specific"]) >= 1
            and w["reply"] != lo["reply"]
            and "(no reply)" not in (w["reply"], lo["reply"])
        ):
            pairs.append((example(w), example(lo)))
pairs = sorted(set(pairs))
random.Random(7).shuffle(pairs)
if args.max_pairs:
    pairs = pairs[: args.max_pairs]
held = pairs[:300]
train = pairs[300:]
used = sorted({i for p in pairs for i in p})
log(f"{len(train)} training pairs, {len(held)} held-out pairs, {len(used)} sequences")

# --- model: base + shipped delta -------------------------------------------------------
parts = LlamaParts(base.config, meta["hyperparameters"]["train_layers"])
parts.set_gguf_weights(base.weights())
parts.set_gguf_weights(unpack_delta(SHIPPED / "delta.npz"))
variables = parts.trainable_variables()
steps = int(len(train) / args.batch * args.epochs)
schedule = keras.optimizers.schedules.CosineDecay(
    0.0, steps, warmup_target=args.lr, warmup_steps=max(steps // 20, 1)
)
optimizer = keras.optimizers.Adam(schedule, clipnorm=1.0)
optimizer.build(variables)
trainer = Trainer(tf, parts, optimizer, variables)
cache = [None] * len(seqs)
for i, h in zip(used, trainer.cache([seqs[i] for i in used], "dpo"), strict=True):
    cache[i] = h


def seq_logp(hidden, positions, mask, gather, targets, weights):
    dtype = parts.trained[0].compute_dtype
    logits = tf.cast(parts.upper(tf.cast(hidden, dtype), positions, mask, gather), tf.float32)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)  # [B, R]
    return -tf.reduce_sum(nll * weights, axis=1), tf.reduce_sum(weights, axis=1)  # [B]


spec = [
    tf.TensorSpec([None, None, base.config.hidden], tf.float32),
    tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None, None], tf.float32),
    tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None, None], tf.int32),
    tf.TensorSpec([None, None], tf.float32),
]
logp_fn = tf.function(seq_logp, input_signature=spec)


def logps(ids):
    out = np.zeros(len(ids))
    for s in range(0, len(ids), 16):
        chunk = ids[s : s + 16]
        out[s : s + 16] = logp_fn(*trainer.batch(cache, seqs, chunk))[0].numpy()
    return out


ref = np.zeros(len(seqs))
ref[used] = logps(used)
log("reference log-probs done")


@tf.function(input_signature=spec + [tf.TensorSpec([None], tf.float32)])
def step(hidden, positions, mask, gather, targets, weights, ref_margin):
    with tf.GradientTape() as tape:
        lp, n = seq_logp(hidden, positions, mask, gather, targets, weights)
        half = tf.shape(lp)[0] // 2
        margin = (lp[:half] - lp[half:]) - ref_margin
        loss = -tf.reduce_mean(tf.math.log_sigmoid(args.beta * margin))
        if args.sft:
            loss += args.sft * tf.reduce_sum(-lp[:half]) / tf.reduce_sum(n[:half])
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables, strict=True))
    return loss, tf.reduce_mean(tf.cast(margin > 0, tf.float32))


def held_accuracy():
    w = logps([a for a, _ in held]) - ref[[a for a, _ in held]]
    lo = logps([b for _, b in held]) - ref[[b for _, b in held]]
    return float(np.mean(w > lo)), float(np.mean(w - lo))


log(f"held-out preference accuracy before: {held_accuracy()}")
started = time.time()
order = []
while len(order) < steps * args.batch:
    order += random.Random(len(order)).sample(train, len(train))
for k in range(steps):
    batch = order[k * args.batch : (k + 1) * args.batch]
    ids = [a for a, _ in batch] + [b for _, b in batch]
    tensors = trainer.batch(cache, seqs, ids)
    ref_margin = (ref[[a for a, _ in batch]] - ref[[b for _, b in batch]]).astype(np.float32)
    loss, acc = step(*tensors, ref_margin)
    if k % 25 == 0 or k == steps - 1:
        log(
            f"step {k + 1}/{steps} loss {float(loss):.4f} acc {float(acc):.2f} {time.time() - started:.0f}s"
        )
    if (k + 1) % max(steps // 4, 1) == 0:
        log(f"  held-out preference accuracy, margin: {held_accuracy()}")

out = Path(args.out)
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(SHIPPED, out, ignore=shutil.ignore_patterns("eval"))
with open(out / "delta.npz", "wb") as handle:
    np.savez_compressed(handle, **pack_delta(parts.trained_gguf_weights()))
m = read_bundle(out)
m["name"] = out.name
write_bundle(out, m)
log(f"bundle written to {out} in {time.time() - started:.0f}s training")
