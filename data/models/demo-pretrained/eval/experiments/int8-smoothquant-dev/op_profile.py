# ruff: noqa  (a record of the experiment as run, with its /tmp paths; not product code)
import collections
import json
import sys

import numpy as np

sys.argv = ["run.py", "none"]; sys.path.insert(0, "/tmp/sq")
import onnxruntime as ort
from run import *

peak = pickle.load(open("/tmp/sq/peak.pkl", "rb"))
name = sys.argv_name if False else "sq0.75"
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1; o.enable_mem_reuse = False
o.enable_profiling = True; o.profile_file_prefix = "/tmp/sq/prof"
s = ort.InferenceSession(variant(name, peak).SerializeToString(), o, providers=["CPUExecutionProvider"])
kvh, d = config.kv_heads, config.head_dim
rng = np.random.default_rng(0)
N, S, P = 16, 1, 60
f = {"input_ids": rng.integers(100, 30000, (N, S)), "positions": np.tile(np.arange(P, P+S), (N, 1)), "key_mask": np.ones((N, P+S), np.float32)}
f.update({f"past_{k}.{l}": rng.standard_normal((N, kvh, P, d)).astype(np.float32) for l in range(config.layers) for k in ("key","value")})
for _ in range(10): s.run(["logits"], f)
path = s.end_profiling()
ev = json.load(open(path))
by = collections.Counter()
for e in ev:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        by[e["args"]["op_name"]] += e["dur"]
tot = sum(by.values())
for k, v in by.most_common(14): print(f"{k:22s} {v/10/1000:.2f} ms/step  {100*v/tot:.0f}%")
print("total", tot/10/1000)
