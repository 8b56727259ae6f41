# ruff: noqa  (a record of the experiment as run, with its /tmp paths; not product code)
"""python run.py calib|nats|replies|speed ..."""
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, "/work/main"); sys.path.insert(0, "/tmp/sq")
import sqgraph

from model.eval import blind
from model.eval.evaluate import generate, load_split, request_for, sheet_personas
from model.serve.load import load_replier
from model.serve.pretrained.assemble import open_base, unpack_delta
from model.serve.pretrained.base import LlamaConfig, layer_names
from model.serve.pretrained.replier import LMReplier

BUNDLE = Path("/work/main/data/models/demo-pretrained")
shipped = load_replier(BUNDLE)
meta, codec = shipped.meta, shipped.codec
config = LlamaConfig.from_dict(meta["base"]["config"])
W = open_base(BUNDLE, meta["base"]).weights()
W.update(unpack_delta(BUNDLE / "delta.npz"))
train, dev = load_split(meta, BUNDLE, None, None, "dev")
GROUPS = {"attn_q": ("attn_q", "attn_k", "attn_v"), "attn_output": ("attn_output",),
          "ffn_gate": ("ffn_gate", "ffn_up"), "ffn_down": ("ffn_down",)}


def session(model, threads=1):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
    o.enable_mem_reuse = False
    return ort.InferenceSession(model.SerializeToString(), o, providers=["CPUExecutionProvider"])


def replier_for(sess):
    r = LMReplier(BUNDLE, meta, codec, sess); r.guard = shipped.guard
    return r


def calibrate(count=128, seed=0):
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(train), count, replace=False)
    sess = session(sqgraph.build(config, W, "float", calibrate=True))
    names = [o.name for o in sess.get_outputs() if o.name.startswith("calib/")]
    peak = {}
    kvh, d = config.kv_heads, config.head_dim
    for i in picks:
        p = train[i]
        ids = shipped.context_ids(request_for(p, p["persona"], {}, 0), p["persona"]) + codec.reply_ids(p["reply"])
        feeds = {"input_ids": np.array([ids]), "positions": np.arange(len(ids))[None],
                 "key_mask": np.ones((1, len(ids)), np.float32)}
        feeds.update({f"past_{k}.{l}": np.zeros((1, kvh, 0, d), np.float32)
                      for l in range(config.layers) for k in ("key", "value")})
        outs = sess.run(names, feeds)
        for n, v in zip(names, outs):
            peak[n[6:]] = np.maximum(peak.get(n[6:], 0), v)
    return peak


def smoothing(peak, alpha):
    s = {}
    for layer in range(config.layers):
        names = layer_names(layer)
        for first, members in GROUPS.items():
            act = peak[names[first]]
            wmax = np.max([np.abs(W[names[m]]).max(axis=0) for m in members], axis=0)
            scale = np.power(np.maximum(act, 1e-5), alpha) / np.power(np.maximum(wmax, 1e-5), 1 - alpha)
            for m in members:
                s[names[m]] = scale
    act = peak["token_embd.weight"]; wmax = np.abs(W["token_embd.weight"]).max(axis=0)
    s["token_embd.weight"] = np.power(np.maximum(act, 1e-5), alpha) / np.power(np.maximum(wmax, 1e-5), 1 - alpha)
    return s


def variant(name, peak=None):
    if name == "float": return sqgraph.build(config, W, "float")
    if name == "nbits": return sqgraph.build(config, W, "nbits")
    if name == "rows": return sqgraph.build(config, W, "rows")
    if name.startswith("sq"):  # sq0.5
        return sqgraph.build(config, W, "rows", smooth=smoothing(peak, float(name[2:])))
    if name.startswith("hsq"):  # everything rows + sq, head too
        return sqgraph.build(config, W, "rows", smooth=smoothing(peak, float(name[3:])), head="rows")
    if name.startswith("mixsq"):  # rows+sq except ffn_down nbits
        return sqgraph.build(config, W, lambda w: "nbits" if "ffn_down" in w else "rows",
                             smooth=smoothing(peak, float(name[5:])))
    raise SystemExit(name)


def nats(r, pairs, batch=16):
    total, tokens = 0.0, 0
    for start in range(0, len(pairs), batch):
        chunk = pairs[start:start + batch]
        ids = [r.context_ids(request_for(p, p["persona"], {}, 0), p["persona"]) for p in chunk]
        targets = [codec.reply_ids(p["reply"]) for p in chunk]
        state = r.encode(ids, [p["persona"] for p in chunk])
        feed = np.array([i[-1] for i in ids])
        for t in range(max(map(len, targets))):
            logits, state = r.step(feed, state)
            lp = logits - logits.max(-1, keepdims=True)
            lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
            nxt = []
            for row, tg in enumerate(targets):
                if t < len(tg):
                    total -= lp[row, tg[t]]; tokens += 1; nxt.append(tg[t])
                else:
                    nxt.append(codec.end_id)
            feed = np.array(nxt)
    return total / tokens


if __name__ == "__main__":
    what = sys.argv[1]
    peak_file = Path("/tmp/sq/peak.pkl")
    if what == "calib":
        t = time.time(); peak = calibrate(); pickle.dump(peak, open(peak_file, "wb"))
        print("calibrated", len(peak), f"{time.time()-t:.0f}s")
        for k in list(peak)[:8]:
            v = peak[k]; print(k, v.shape, f"max {v.max():.1f} median {np.median(v):.2f}")
        sys.exit()
    peak = pickle.load(open(peak_file, "rb")) if peak_file.exists() else None
    names = sys.argv[2].split(",")
    if what == "nats":
        pairs = dev[:int(sys.argv[3]) if len(sys.argv) > 3 else 200]
        for n in names:
            r = load_replier(n[7:]) if n.startswith("bundle:") else replier_for(session(variant(n, peak)))
            t = time.time(); print(n, f"{nats(r, pairs):.4f} nats/token", f"({time.time()-t:.0f}s)", flush=True)
    if what == "replies":
        seed = int(sys.argv[3]); count = int(sys.argv[4])
        contexts = blind.pick_contexts(dev, sheet_personas(shipped, ["all"]), count, seed)
        for n in names:
            r = shipped if n == "shipped" else load_replier(n[7:]) if n.startswith("bundle:") else replier_for(session(variant(n, peak)))
            t = time.time(); out = generate(r, contexts, {}, seed, 8)
            json.dump({"replies": out, "contexts": [p["context"] for p in contexts]}, open(f"/tmp/sq/replies-{n.replace('/', '_')}-{seed}.json", "w"))
            print(n, f"{time.time()-t:.0f}s", flush=True)
    if what == "speed":
        toks = {}
        sys.path.insert(0, "/work/main/bench"); from serve import MESSAGES
        from model.serve.runtime import ReplyRequest
        reqs = [ReplyRequest(message=m) for m in MESSAGES[:64]]
        rs = {n: (shipped if n == "shipped" else load_replier(n[7:]) if n.startswith("bundle:") else replier_for(session(variant(n, peak)))) for n in names}
        for r in rs.values(): r.reply_batch(reqs[:4])
        times = {n: [] for n in names}
        for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 3):
            for n, r in rs.items():
                t = time.perf_counter(); out = r.reply_batch(reqs); times[n].append(time.perf_counter() - t)
                toks[n] = sum(len(codec.encode(x.text.replace(" <brk> ", chr(10)))) + 1 for x in out)
        for n in names:
            print(n, "replies/s", " ".join(f"{64/x:.1f}" for x in times[n]), "median", f"{64/np.median(times[n]):.2f}", "tokens", toks[n], f"ms/token {1000*np.median(times[n])/toks[n]:.1f}")
