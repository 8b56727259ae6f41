# ruff: noqa  (a record of the experiment as run, with its /tmp paths; not product code)
import sys, tempfile
from pathlib import Path
import numpy as np, onnx, onnxruntime as ort
sys.path.insert(0, "/work/main")
from onnx import helper, TensorProto
from model.eval.evaluate import load_split, request_for
from model.serve.load import load_replier
from model.serve.pretrained.assemble import fine_tuned_weights, write_weights, WEIGHTS_FILE
from model.serve.pretrained.base import LlamaConfig
from model.train.pretrained.onnx_graph import build_decoder, weight_layout
from model.train.pretrained.calibrate import smoothing_vectors
B = Path("/work/main/data/models/demo-pretrained")
r = load_replier(B); meta, codec = r.meta, r.codec
config = LlamaConfig.from_dict(meta["base"]["config"])
_, W = fine_tuned_weights(B, meta)
_, dev = load_split(meta, B, None, None, "dev")
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as d:
    write_weights(Path(d) / WEIGHTS_FILE, weight_layout(config, quantized=False), W, {}, "x")
    m = build_decoder(config, quantized=False)
    gemm = [n for n in m.graph.node if n.op_type == "Gemm"][0]
    m.graph.output.append(helper.make_tensor_value_info(gemm.input[0], TensorProto.FLOAT, None))
    (Path(d) / "g.onnx").write_bytes(m.SerializeToString())
    s = ort.InferenceSession(str(Path(d) / "g.onnx"), providers=["CPUExecutionProvider"])
    empty = np.zeros((1, config.kv_heads, 0, config.head_dim), np.float32)
    past = {f"past_{k}.{l}": empty for l in range(config.layers) for k in ("key", "value")}
    X = []
    for p in dev[:150]:
        ids = r.context_ids(request_for(p, p["persona"], {}, 0), p["persona"]) + codec.reply_ids(p["reply"])
        cut = int(rng.integers(len(ids) - len(codec.reply_ids(p["reply"])), len(ids)))
        ids = ids[:cut]
        out = s.run([gemm.input[0]], {"input_ids": np.array([ids]), "positions": np.arange(len(ids))[None], "key_mask": np.ones((1, len(ids)), np.float32), **past})
        X.append(out[0][0])
X = np.array(X)  # [n, H]
E = W["token_embd.weight"]  # [V, H]
sv = np.ones(X.shape[1], np.float32)
def lsm(z): z = z - z.max(-1, keepdims=True); return z - np.log(np.exp(z).sum(-1, keepdims=True))
ref = lsm(X @ E.T)
P = np.exp(ref)
def kl(z): return float((P * (ref - lsm(z))).sum(-1).mean())
def q_rows(x):
    sc = np.abs(x).max(-1, keepdims=True) / 127; return np.round(x / sc) * sc
def q_cols(w):  # per row of [V, H] (a token)
    sc = np.abs(w).max(-1, keepdims=True) / 127; return np.round(w / sc) * sc
def q_blocks(w, b=32):
    v = w.reshape(w.shape[0], -1, b); sc = np.abs(v).max(-1, keepdims=True) / 127; return (np.round(v / sc) * sc).reshape(w.shape)
for name, svec in (("plain", np.ones_like(sv)), ("smoothed", sv)):
    xs, ws = X / svec, E * svec
    print(name, "act rows int8 only", kl(q_rows(xs) @ ws.T))
    print(name, "weight cols int8 only", kl(xs @ q_cols(ws).T))
    print(name, "both", kl(q_rows(xs) @ q_cols(ws).T))
    r1 = q_rows(xs); r2 = q_rows(xs - r1)
    print(name, "two-pass act + cols", kl((r1 + r2) @ q_cols(ws).T))
print("blocks32 both (MatMulNBits-like)", kl(q_blocks(X) @ q_blocks(E).T))
print("blocks32 weight, float act", kl(X @ q_blocks(E).T))
wpeak = np.maximum(np.abs(E).max(0), 1e-5)
peak = (sv * wpeak ** 0.25) ** (1 / 0.75)
for a in (0.1, 0.2, 0.3, 0.4, 0.5):
    svec = np.maximum(peak, 1e-5) ** a / wpeak ** (1 - a)
    xs, ws = X / svec, E * svec
    r1 = q_rows(xs); r2 = q_rows(xs - r1)
    print("alpha", a, "both", round(kl(q_rows(xs) @ q_cols(ws).T), 5), "two-pass", round(kl((r1 + r2) @ q_cols(ws).T), 5))
z1 = q_rows(X) @ q_cols(E).T
exact = X @ E.T
for top in (16, 64, 256):
    z = z1.copy()
    idx = np.argpartition(-z, top, axis=-1)[:, :top]
    np.put_along_axis(z, idx, np.take_along_axis(exact, idx, axis=-1), axis=-1)
    print("single-pass + exact top", top, round(kl(z), 5))
