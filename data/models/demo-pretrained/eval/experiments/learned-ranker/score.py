"""Features of every graded (context, reply) under the shipped demo: mean-pooled and last
final hidden states of the reply tokens, and the reply's token log-probs."""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, "/work/main")
from model.serve.pretrained.assemble import unpack_delta
from model.serve.pretrained.base import Base
from model.serve.pretrained.replier import LMReplier

SRC = Path("/tmp/dcache/demo-pretrained-42ebfd3ea4bf001a2e319409")
G = Path("/tmp/rank/graph")
if not (G / "decoder.onnx").exists():
    m = onnx.load(str(SRC / "decoder.onnx"), load_external_data=False)
    m.graph.output.append(
        onnx.helper.make_tensor_value_info("add_1556_0", onnx.TensorProto.FLOAT, None)
    )
    onnx.save(m, str(G / "decoder.onnx"))
    for f in ("weights.bin", "tokenizer.json"):
        os.symlink(SRC / f, G / f)
os.environ["DOPPEL_CACHE"] = "/tmp/dcache"
rep = LMReplier.load("data/models/demo-pretrained", threads=int(os.environ.get("THREADS", "2")))
opts = ort.SessionOptions()
opts.intra_op_num_threads = int(os.environ.get("THREADS", "2"))
sess = ort.InferenceSession(str(G / "decoder.onnx"), opts, providers=["CPUExecutionProvider"])
names = rep._cache_names
delta = unpack_delta(Path("data/models/demo-pretrained/delta.npz"))
base = Base.open("smollm2-135m-instruct")
w = base.weights()
emb = w["token_embd.weight"].astype(np.float32)  # [V, H]
norm_w = delta["output_norm.weight"].astype(np.float32)
eps = 1e-5
rows = json.load(open("/tmp/rank/rows.json"))
groups = {}
for i, r in enumerate(rows):
    groups.setdefault((r["sheet"], r["item"]), []).append(i)
codec = rep.codec
H = 576
pooled = np.zeros((len(rows), H), np.float32)
last = np.zeros((len(rows), H), np.float32)
lp = np.zeros((len(rows), 4), np.float32)
t0 = time.time()
for gi, (_key, idx) in enumerate(groups.items()):
    r0 = rows[idx[0]]
    turns = [t.replace(" / ", " <brk> ") for t in r0["context"]]
    prompt = codec.prompt_ids(turns, r0["speakers"], r0["persona"])
    state = rep.encode([prompt], [r0["persona"]])
    seqs = [
        [rep.rules.bos]
        + codec.reply_ids(
            rows[i]["reply"].replace(" / ", " <brk> ") if rows[i]["reply"] != "(no reply)" else ""
        )
        for i in idx
    ]
    W = max(map(len, seqs))
    n = len(seqs)
    P = state["key_mask"].shape[1]
    toks = np.zeros((n, W), np.int64)
    pos = np.zeros((n, W), np.int64)
    mask = np.concatenate([np.repeat(state["key_mask"], n, 0), np.zeros((n, W), np.float32)], 1)
    for j, s in enumerate(seqs):
        toks[j, W - len(s) :] = s
        pos[j, W - len(s) :] = state["position"][0] + np.arange(len(s))
        mask[j, P + W - len(s) :] = 1
    feeds = {f"past_{k}": np.repeat(state[k], n, 0) for k in names}
    hid = sess.run(
        ["add_1556_0"], {"input_ids": toks, "positions": pos, "key_mask": mask, **feeds}
    )[0]  # [n, W, H]
    normed = hid / np.sqrt((hid**2).mean(-1, keepdims=True) + eps) * norm_w
    for j, s in enumerate(seqs):
        hs = normed[j, W - len(s) :]  # [len, H]: hidden after each fed token
        logits = hs[:-1] @ emb.T  # predicts s[1:]
        logits -= logits.max(-1, keepdims=True)
        logp = logits[np.arange(len(s) - 1), s[1:]] - np.log(np.exp(logits).sum(-1))
        i = idx[j]
        pooled[i] = hs.mean(0)
        last[i] = hs[-1]
        lp[i] = [logp.mean(), logp.sum(), logp.min(), len(s) - 1]
    if gi % 100 == 0:
        print(gi, len(groups), f"{time.time() - t0:.0f}s", flush=True)
np.save("/tmp/rank/X_pool.npy", pooled)
np.save("/tmp/rank/X_last.npy", last)
np.save("/tmp/rank/X_lp.npy", lp)
print("done", time.time() - t0)
