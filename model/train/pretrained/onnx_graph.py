"""The serving graph of a llama base, written with onnx.helper (export time only).

One graph serves both the prefill and each decode step (S = 1):

    input_ids   int64 [N, S]          new tokens
    positions   int64 [N, S]          their RoPE positions
    key_mask    float [N, P+S]        1 = a real key (past and new); 0 = left padding
    past_key.l, past_value.l          float [N, KV, P, D], one pair per block l
 -> logits      float [N, V]          at the last new position
    present_key.l, present_value.l    float [N, KV, P+S, D]

Batch is axis 0 everywhere, so the decoder's take_rows works on the cache as on the
LSTM's state. One input and output per block, not one [N, L, KV, P, D] tensor: a step
then copies the cache once (each block's Concat), where slicing the blocks out of one
tensor and stacking them back copied it twice more (half a decode step's time at N=16).

The weights are not in the file: every initializer is external data in `weights.bin`,
which serving assembles from the installed base and the bundle's delta
(model/serve/pretrained/assemble.py) with the layout this module returns. So the bundle
ships a small graph, and serving never needs the `onnx` package.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from model.serve.pretrained.base import LlamaConfig, layer_names, weight_shapes

OPSET = 17
WEIGHTS_FILE = "weights.bin"
ALIGN = 64
BLOCK = 32  # inputs per quantization block
MAX_POSITIONS = 4096  # RoPE table length: far above any prompt + reply we build


def weight_layout(config: LlamaConfig, quantized: bool = True) -> list[dict]:
    """Initializers in file order: graph name, GGUF source, kind, shape, dtype, offset.

    Kinds (how assemble.py derives each tensor from the GGUF [out, in] matrix W):
      copy        W as it is (the norms' scales, and the float embedding)
      transposed  W.T as float32, [in, out] for MatMul
      block8      W in blocks of 32 inputs, each block int8 with its own scale, stored
                  as q + 128 (uint8) [out, in/32, 32]: MatMulNBits' 8-bit layout
      block8_scale  the blocks' scales [out * in/32]
    """
    def blocks(name: str, out_dim: int, in_dim: int) -> list[tuple]:
        return [(f"{name}/block8", name, "block8", (out_dim, in_dim // BLOCK, BLOCK)),
                (f"{name}/block8_scale", name, "block8_scale", (out_dim * in_dim // BLOCK,))]

    entries = []
    for name, shape in weight_shapes(config).items():  # file order: GGUF's tensor order
        if len(shape) == 1 or (name == "token_embd.weight" and not quantized):
            entries.append((name, name, "copy", shape))  # norms; the float embedding
        elif quantized:
            entries += blocks(name, *shape)
        else:  # MatMul wants [in, out]: the transpose of GGUF's [out, in]
            entries.append((name, name, "transposed", shape[::-1]))
    layout, offset = [], 0
    for name, source, kind, shape in entries:
        dtype = "uint8" if kind == "block8" else "float32"
        size = int(np.prod(shape)) * (1 if dtype == "uint8" else 4)
        layout.append({"name": name, "source": source, "kind": kind, "shape": list(shape),
                       "dtype": dtype, "offset": offset, "length": size})
        offset += -(-size // ALIGN) * ALIGN
    return layout


class _Graph:
    """A tiny builder: each call adds one node and returns its output name."""

    def __init__(self):
        self.nodes, self.constants, self.count = [], [], 0

    def op(self, kind: str, *inputs: str, outputs: int = 1, **attrs):
        self.count += 1
        names = [f"{kind.lower()}_{self.count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(kind, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names

    def const(self, value, dtype=np.int64) -> str:
        self.count += 1
        name = f"const_{self.count}"
        self.constants.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name


def build_decoder(config: LlamaConfig, quantized: bool = True) -> onnx.ModelProto:
    """The graph. `quantized`: 8-bit weights in blocks of 32 (MatMulNBits, accuracy level
    4: activations quantized per block too, int8 dot products). A quarter of float32's
    memory traffic per token, which is what batch-1 decoding waits on.

    Tried and not kept (2026-12-01): MatMulInteger, int8 weights per output column
    against activations quantized per row in the graph. onnxruntime's int8 GEMM runs it
    at 1,360 GFLOP/s on one core at a 16-prompt prefill's shape, where MatMulNBits does
    44 (K = 576) to 110 (K = 1,536): the prefill took 1.6 s instead of 4.7 s. It cost only
    +0.014 nats/token teacher-forced, but beam search then picked other, longer replies
    (64 of 120 validation contexts, 6.4 words against 5.0), and a blind reading marked
    them sensible less often: 56% against 69% (17 contexts worse, 1 better;
    data/models/demo-pretrained/eval/experiments/int8-gemm-dev/). A scale per tensor
    (DynamicQuantizeMatMul) cost +0.048 nats/token and made replies depend on the batch.
    """
    c = config
    g = _Graph()
    kv, groups, dim = c.kv_heads, c.heads // c.kv_heads, c.head_dim
    layout = weight_layout(config, quantized)
    shapes = {name: shape for name, shape in weight_shapes(config).items()}

    def linear(x: str, weight: str) -> str:
        if not quantized:
            return g.op("MatMul", x, weight)
        out_dim, in_dim = shapes[weight]
        return g.op("MatMulNBits", x, f"{weight}/block8", f"{weight}/block8_scale",
                    domain="com.microsoft", K=in_dim, N=out_dim, bits=8, block_size=BLOCK,
                    accuracy_level=4)

    def rms(x: str, scale: str) -> str:
        square = g.op("Mul", x, x)
        mean = g.op("ReduceMean", square, axes=[-1], keepdims=1)  # (opset 17: an attribute)
        inverse = g.op("Reciprocal", g.op("Sqrt", g.op("Add", mean, g.const(c.eps, np.float32))))
        return g.op("Mul", g.op("Mul", x, inverse), scale)

    # shapes: N, S (new), P (past)
    shape_ids = g.op("Shape", "input_ids")
    n = g.op("Gather", shape_ids, g.const(0), axis=0)
    s = g.op("Gather", shape_ids, g.const(1), axis=0)
    p = g.op("Gather", g.op("Shape", "past_key.0"), g.const(2), axis=0)
    total = g.op("Add", p, s)

    # attention bias [N, 1, 1, S, P+S]: key j visible to new query i iff j <= P + i and real
    key_index = g.op("Range", g.const(0), total, g.const(1))  # [P+S]
    query_index = g.op("Add", g.op("Range", g.const(0), s, g.const(1)), p)  # [S]
    causal = g.op("LessOrEqual", g.op("Unsqueeze", key_index, g.const([0])),
                  g.op("Unsqueeze", query_index, g.const([1])))  # [S, P+S]
    real = g.op("Cast", g.op("Unsqueeze", "key_mask", g.const([1, 2, 3])), to=TensorProto.BOOL)
    visible = g.op("And", g.op("Unsqueeze", causal, g.const([0, 1, 2])), real)
    bias = g.op("Where", visible, g.const(0.0, np.float32), g.const(-1e9, np.float32))

    # RoPE: onnxruntime's RotaryEmbedding (interleaved pairs, as GGUF stores q and k), one
    # node per projection; cos/sin tables for MAX_POSITIONS positions
    inverse = 1.0 / c.rope_base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = np.arange(MAX_POSITIONS, dtype=np.float64)[:, None] * inverse  # [P, D/2]
    cos, sin = g.const(np.cos(angles), np.float32), g.const(np.sin(angles), np.float32)

    def rotate(x: str, count: int) -> str:
        """Interleaved RoPE on [N, S, count*D]: features (2i, 2i+1) rotate together."""
        return g.op("RotaryEmbedding", x, "positions", cos, sin, domain="com.microsoft",
                    interleaved=1, num_heads=count)

    n1, s1 = g.op("Unsqueeze", n, g.const([0])), g.op("Unsqueeze", s, g.const([0]))
    head_shapes = {count: g.op("Concat", n1, s1, g.const([count, dim]), axis=0)
                   for count in {c.heads, kv}}  # computed once, not per block
    grouped = g.op("Concat", n1, g.const([kv, groups]), s1, g.const([dim]), axis=0)

    def heads(x: str, count: int) -> str:
        """[N, S, count*D] -> [N, count, S, D]"""
        return g.op("Transpose", g.op("Reshape", x, head_shapes[count]), perm=[0, 2, 1, 3])

    embedding = "token_embd.weight"
    if quantized:  # the rows' blocks [N, S, H/32, 32], minus 128, times their scales
        rows = g.op("Cast", g.op("Gather", f"{embedding}/block8", "input_ids", axis=0),
                    to=TensorProto.FLOAT)
        scales = g.op("Gather", g.op("Reshape", f"{embedding}/block8_scale",
                                     g.const([c.vocab, c.hidden // BLOCK, 1])),
                      "input_ids", axis=0)  # [N, S, H/32, 1]
        values = g.op("Mul", g.op("Sub", rows, g.const(128.0, np.float32)), scales)
        h = g.op("Reshape", values, g.op("Concat", g.op("Shape", "input_ids"),
                                         g.const([c.hidden]), axis=0))
    else:
        h = g.op("Gather", embedding, "input_ids", axis=0)  # [N, S, H]
    hidden_shape = g.op("Shape", h)
    for layer in range(c.layers):
        w = layer_names(layer)
        x = rms(h, w["attn_norm"])
        q = heads(rotate(linear(x, w["attn_q"]), c.heads), c.heads)
        k = heads(rotate(linear(x, w["attn_k"]), kv), kv)
        v = heads(linear(x, w["attn_v"]), kv)
        for kind, new in (("key", k), ("value", v)):  # -> [N, KV, P+S, D]
            g.nodes.append(helper.make_node("Concat", [f"past_{kind}.{layer}", new],
                                            [f"present_{kind}.{layer}"], axis=2))
        k, v = f"present_key.{layer}", f"present_value.{layer}"
        # grouped-query attention by broadcasting: q [N, KV, G, S, D], k [N, KV, 1, P+S, D]
        q5 = g.op("Reshape", q, grouped)
        k5, v5 = g.op("Unsqueeze", k, g.const([2])), g.op("Unsqueeze", v, g.const([2]))
        scores = g.op("MatMul", q5, g.op("Transpose", k5, perm=[0, 1, 2, 4, 3]))
        scores = g.op("Add", g.op("Mul", scores, g.const(1 / np.sqrt(dim), np.float32)), bias)
        attended = g.op("MatMul", g.op("Softmax", scores, axis=-1), v5)  # [N, KV, G, S, D]
        merged = g.op("Reshape", g.op("Transpose", attended, perm=[0, 3, 1, 2, 4]),
                      hidden_shape)  # [N, S, H]
        h = g.op("Add", h, linear(merged, w["attn_output"]))
        x = rms(h, w["ffn_norm"])
        gate = linear(x, w["ffn_gate"])
        swish = g.op("Mul", gate, g.op("Sigmoid", gate))
        h = g.op("Add", h, linear(g.op("Mul", swish, linear(x, w["ffn_up"])), w["ffn_down"]))
    last = g.op("Gather", h, g.op("Sub", s, g.const(1)), axis=1)  # [N, H]
    normed = rms(last, "output_norm.weight")
    if quantized:  # the head is the embedding (tied)
        g.nodes.append(helper.make_node(
            "MatMulNBits", [normed, f"{embedding}/block8", f"{embedding}/block8_scale"],
            ["logits"], domain="com.microsoft", K=c.hidden, N=c.vocab, bits=8,
            block_size=BLOCK, accuracy_level=4))
    else:
        g.nodes.append(helper.make_node("Gemm", [normed, embedding], ["logits"], transB=1))

    def cache(prefix: str, length: str) -> list:
        return [helper.make_tensor_value_info(f"{prefix}_{kind}.{layer}", TensorProto.FLOAT,
                                              ["N", kv, length, dim])
                for layer in range(c.layers) for kind in ("key", "value")]

    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("positions", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("key_mask", TensorProto.FLOAT, ["N", "T"]),
              *cache("past", "P")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c.vocab]),
               *cache("present", "T")]
    initializers = [_external(entry) for entry in layout]
    graph = helper.make_graph(g.nodes, "doppel_llama_decoder", inputs, outputs,
                              initializer=initializers + g.constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="doppel")
    model.ir_version = 8
    return model


def _external(entry: dict) -> TensorProto:
    tensor = TensorProto()
    tensor.name = entry["name"]
    tensor.data_type = TensorProto.UINT8 if entry["dtype"] == "uint8" else TensorProto.FLOAT
    tensor.dims.extend(entry["shape"])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", WEIGHTS_FILE), ("offset", str(entry["offset"])),
                       ("length", str(entry["length"]))):
        item = tensor.external_data.add()
        item.key, item.value = key, value
    return tensor
