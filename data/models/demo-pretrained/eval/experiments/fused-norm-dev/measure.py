# ruff: noqa  (a record of the experiment as run, with its /tmp paths; not product code)
"""python measure.py build|speed|nats  — the fused-norm graph against the shipped one."""
import json, shutil, statistics, sys, time
from pathlib import Path
import numpy as np, onnxruntime as ort
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/bench")
from model.eval.evaluate import load_split, request_for
from model.serve.load import load_replier
from model.serve.bundle import verify_bundle
from model.serve.pretrained.assemble import (fine_tuned_weights, load_smoothing, write_weights,
                                             serving_graph, GRAPH_FILE)
from model.serve.pretrained.base import LlamaConfig
from model.serve.pretrained.replier import LMReplier
from model.serve.decode import take_rows
from model.serve.runtime import ReplyRequest
from serve import MESSAGES

BUNDLE = Path("/work/main/data/models/demo-pretrained")
NEW = Path(sys.argv[-1]) if sys.argv[-1].startswith("/tmp") else Path("/tmp/fused/new")
shipped = load_replier(BUNDLE)
meta, codec = shipped.meta, shipped.codec
OLD = serving_graph(BUNDLE, verify_bundle(BUNDLE))

def build():
    from model.train.pretrained.onnx_graph import build_decoder, weight_layout
    config = LlamaConfig.from_dict(meta["base"]["config"])
    _, weights = fine_tuned_weights(BUNDLE, meta)
    NEW.mkdir(parents=True, exist_ok=True)
    from model.train.pretrained.calibrate import smoothing_vectors
    vectors = smoothing_vectors(BUNDLE, meta)
    old = load_smoothing(BUNDLE / "smoothing.npz")
    print("max vector change", max(float(np.abs(old[k] - vectors[k]).max()) for k in old))
    write_weights(NEW / "weights.bin", weight_layout(config), weights, vectors, "layout")
    (NEW / GRAPH_FILE).write_bytes(build_decoder(config).SerializeToString())

def replier(folder):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
    o.enable_mem_reuse = False
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    s = ort.InferenceSession(str(folder / GRAPH_FILE), o, providers=["CPUExecutionProvider"])
    r = LMReplier(BUNDLE, meta, codec, s); r.guard = shipped.guard
    return r

def speed(r, rows):
    persona = r.default_persona
    ids = [r.context_ids(ReplyRequest(m, []), persona) for m in MESSAGES[:rows // 4]]
    for _ in range(2): st = r.encode(ids, [persona] * len(ids))
    t = time.perf_counter(); st = r.encode(ids, [persona] * len(ids)); pre = time.perf_counter() - t
    st = take_rows(st, np.repeat(np.arange(len(ids)), 4))
    tok = np.full(len(ids) * 4, r.rules.bos, np.int32)
    steps = []
    for _ in range(12):
        t = time.perf_counter(); _, st = r.step(tok, st); steps.append(time.perf_counter() - t)
    return pre * 1000, statistics.median(steps[2:]) * 1000

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
    if what == "build":
        build()
    if what == "speed":
        rs = {"old": replier(OLD), "new": replier(NEW)}
        for rows in (16, 32):
            res = {k: [] for k in rs}
            for _ in range(3):
                for k, r in rs.items(): res[k].append(speed(r, rows))
            for k, v in res.items():
                print(rows, k, "prefill ms %.0f" % statistics.median(p for p, _ in v),
                      "step ms %.1f" % statistics.median(s for _, s in v), flush=True)
    if what == "nats":
        _, dev = load_split(meta, BUNDLE, None, None, "dev")
        for k, folder in (("old", OLD), ("new", NEW)):
            t = time.time(); print(k, f"{nats(replier(folder), dev[int(sys.argv[2]):int(sys.argv[2]) + 300]):.4f}", f"{time.time()-t:.0f}s", flush=True)
