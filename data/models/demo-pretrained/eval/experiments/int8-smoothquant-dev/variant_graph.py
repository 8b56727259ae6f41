# ruff: noqa  (a record of the experiment as run, with its /tmp paths; not product code)
"""Experiment: the llama serving graph with per-linear choice of matmul and SmoothQuant.

modes per linear: "nbits" (MatMulNBits 8-bit blocks of 32, acc level 4: shipped),
"rows" (MatMulInteger, int8 weight per out column, activations per row), "float".
smooth: {weight name: s [K]}: x / s against W * s (per input channel).
calibrate=True: float graph whose extra outputs are max|x| per channel of each linear input.
Weights embedded as initializers (experiment only)."""
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, "/work/main")
from model.serve.pretrained.assemble import quantize_blocks
from model.serve.pretrained.base import layer_names

BLOCK, MAX_POSITIONS = 32, 4096


def build(c, weights, mode, smooth=None, calibrate=False, head='nbits'):
    smooth = smooth or {}
    nodes, inits, count = [], {}, [0]
    calib_outputs = []

    def op(kind, *inputs, **attrs):
        count[0] += 1
        name = f"{kind.lower()}_{count[0]}"
        nodes.append(helper.make_node(kind, list(inputs), [name], **attrs))
        return name

    def const(value, dtype=np.int64):
        count[0] += 1
        name = f"const_{count[0]}"
        inits[name] = np.asarray(value, dtype=dtype)
        return name

    kv, groups, dim = c.kv_heads, c.heads // c.kv_heads, c.head_dim
    zero = const(128, np.uint8)
    rows_of = {}
    smoothed_of = {}

    def int8_rows(x):
        if x not in rows_of:
            peak = op("ReduceMax", op("Abs", x), axes=[-1], keepdims=1)
            scale = op("Max", op("Mul", peak, const(1 / 127, np.float32)), const(1e-30, np.float32))
            shifted = op("Add", op("Round", op("Div", x, scale)), const(128.0, np.float32))
            rows_of[x] = (op("Cast", shifted, to=TensorProto.UINT8), scale)
        return rows_of[x]

    def linear(x, weight):
        W = weights[weight].astype(np.float32)  # [out, in]
        kind = mode(weight) if callable(mode) else mode
        if calibrate and x not in smoothed_of:
            smoothed_of[x] = True
            out = op("ReduceMax", op("Abs", x), axes=[0, 1], keepdims=0)
            calib_outputs.append((weight, out))
        if weight in smooth and kind != "float":
            s = smooth[weight].astype(np.float32)
            key = (x, weight.rsplit(".", 2)[0] + str(hash(s.tobytes())))
            if key not in smoothed_of:
                smoothed_of[key] = op("Mul", x, const(1.0 / s, np.float32))
            x = smoothed_of[key]
            W = W * s[None, :]
        if kind == "float":
            name = weight + "/t"
            inits[name] = W.T.copy()
            return op("MatMul", x, name)
        if kind == "nbits":
            q, scale = quantize_blocks(W, BLOCK)
            inits[weight + "/b8"], inits[weight + "/b8s"] = q, scale
            return op("MatMulNBits", x, weight + "/b8", weight + "/b8s", domain="com.microsoft",
                      K=W.shape[1], N=W.shape[0], bits=8, block_size=BLOCK, accuracy_level=4)
        # rows
        col_scale = np.abs(W).max(axis=1) / 127.0
        col_scale[col_scale == 0] = 1.0
        q = np.clip(np.round(W / col_scale[:, None]), -127, 127).astype(np.int8)
        inits[weight + "/c8"], inits[weight + "/c8s"] = q.T.copy(), col_scale.astype(np.float32)
        xq, xs = int8_rows(x)
        product = op("Cast", op("MatMulInteger", xq, weight + "/c8", zero), to=TensorProto.FLOAT)
        return op("Mul", op("Mul", product, xs), weight + "/c8s")

    def rms(x, scale):
        if scale not in inits:
            inits[scale] = weights[scale].astype(np.float32)
        mean = op("ReduceMean", op("Mul", x, x), axes=[-1], keepdims=1)
        inverse = op("Reciprocal", op("Sqrt", op("Add", mean, const(c.eps, np.float32))))
        return op("Mul", op("Mul", x, inverse), scale)

    shape_ids = op("Shape", "input_ids")
    n = op("Gather", shape_ids, const(0), axis=0)
    s = op("Gather", shape_ids, const(1), axis=0)
    p = op("Gather", op("Shape", "past_key.0"), const(2), axis=0)
    total = op("Add", p, s)
    key_index = op("Range", const(0), total, const(1))
    query_index = op("Add", op("Range", const(0), s, const(1)), p)
    causal = op("LessOrEqual", op("Unsqueeze", key_index, const([0])), op("Unsqueeze", query_index, const([1])))
    real = op("Cast", op("Unsqueeze", "key_mask", const([1, 2, 3])), to=TensorProto.BOOL)
    visible = op("And", op("Unsqueeze", causal, const([0, 1, 2])), real)
    bias = op("Where", visible, const(0.0, np.float32), const(-1e9, np.float32))
    inverse = 1.0 / c.rope_base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = np.arange(MAX_POSITIONS, dtype=np.float64)[:, None] * inverse
    cos, sin = const(np.cos(angles), np.float32), const(np.sin(angles), np.float32)

    def rotate(x, cnt):
        return op("RotaryEmbedding", x, "positions", cos, sin, domain="com.microsoft", interleaved=1, num_heads=cnt)

    n1, s1 = op("Unsqueeze", n, const([0])), op("Unsqueeze", s, const([0]))
    head_shapes = {cnt: op("Concat", n1, s1, const([cnt, dim]), axis=0) for cnt in {c.heads, kv}}
    grouped = op("Concat", n1, const([kv, groups]), s1, const([dim]), axis=0)

    def heads(x, cnt):
        return op("Transpose", op("Reshape", x, head_shapes[cnt]), perm=[0, 2, 1, 3])

    emb = weights["token_embd.weight"].astype(np.float32)
    inits["emb"] = emb if calibrate or mode == "float" else emb  # float gather (tiny cost)
    h = op("Gather", "emb", "input_ids", axis=0)
    hidden_shape = op("Shape", h)
    for layer in range(c.layers):
        w = layer_names(layer)
        x = rms(h, w["attn_norm"])
        q = heads(rotate(linear(x, w["attn_q"]), c.heads), c.heads)
        k = heads(rotate(linear(x, w["attn_k"]), kv), kv)
        v = heads(linear(x, w["attn_v"]), kv)
        for kind, new in (("key", k), ("value", v)):
            nodes.append(helper.make_node("Concat", [f"past_{kind}.{layer}", new], [f"present_{kind}.{layer}"], axis=2))
        k, v = f"present_key.{layer}", f"present_value.{layer}"
        q5 = op("Reshape", q, grouped)
        k5, v5 = op("Unsqueeze", k, const([2])), op("Unsqueeze", v, const([2]))
        scores = op("MatMul", q5, op("Transpose", k5, perm=[0, 1, 2, 4, 3]))
        scores = op("Add", op("Mul", scores, const(1 / np.sqrt(dim), np.float32)), bias)
        attended = op("MatMul", op("Softmax", scores, axis=-1), v5)
        merged = op("Reshape", op("Transpose", attended, perm=[0, 3, 1, 2, 4]), hidden_shape)
        h = op("Add", h, linear(merged, w["attn_output"]))
        x = rms(h, w["ffn_norm"])
        gate = linear(x, w["ffn_gate"])
        swish = op("Mul", gate, op("Sigmoid", gate))
        h = op("Add", h, linear(op("Mul", swish, linear(x, w["ffn_up"])), w["ffn_down"]))
    last = op("Gather", h, op("Sub", s, const(1)), axis=1)
    normed = rms(last, "output_norm.weight")
    if calibrate:
        full = rms(h, "output_norm.weight")
        calib_outputs.append(("token_embd.weight", op("ReduceMax", op("Abs", full), axes=[0, 1], keepdims=0)))
    if mode == "float" or calibrate:
        nodes.append(helper.make_node("Gemm", [normed, "emb"], ["logits"], transB=1))
    elif head == "rows":
        x = normed
        Wh = emb
        if "token_embd.weight" in smooth:
            sh = smooth["token_embd.weight"].astype(np.float32)
            x = op("Mul", x, const(1.0 / sh, np.float32)); Wh = emb * sh[None, :]
        col_scale = np.abs(Wh).max(axis=1) / 127.0
        q = np.clip(np.round(Wh / col_scale[:, None]), -127, 127).astype(np.int8)
        inits["head/c8"], inits["head/c8s"] = q.T.copy(), col_scale.astype(np.float32)
        xq, xs = int8_rows(x)
        product = op("Cast", op("MatMulInteger", xq, "head/c8", zero), to=TensorProto.FLOAT)
        nodes.append(helper.make_node("Mul", [op("Mul", product, xs), "head/c8s"], ["logits"]))
    else:
        q8, sc = quantize_blocks(emb, BLOCK)
        inits["emb/b8"], inits["emb/b8s"] = q8, sc
        nodes.append(helper.make_node("MatMulNBits", [normed, "emb/b8", "emb/b8s"], ["logits"],
                                      domain="com.microsoft", K=c.hidden, N=c.vocab, bits=8,
                                      block_size=BLOCK, accuracy_level=4))

    def cache(prefix, length):
        return [helper.make_tensor_value_info(f"{prefix}_{kind}.{layer}", TensorProto.FLOAT, ["N", kv, length, dim])
                for layer in range(c.layers) for kind in ("key", "value")]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("positions", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("key_mask", TensorProto.FLOAT, ["N", "T"]), *cache("past", "P")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c.vocab]), *cache("present", "T")]
    for weight, name in calib_outputs:
        nodes.append(helper.make_node("Identity", [name], [f"calib/{weight}"]))
        outputs.append(helper.make_tensor_value_info(f"calib/{weight}", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "x", inputs, outputs,
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model
