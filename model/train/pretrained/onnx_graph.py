"""The serving graph of a llama base, written with onnx.helper (export time only).

One graph serves both the prefill and each decode step (S = 1):

    input_ids   int64 [N, S]          new tokens
    positions   int64 [N, S]          their RoPE positions
    key_mask    float [N, P+S]        1 = a real key (past and new); 0 = padding
    past_key.l, past_value.l          float [N, KV, P, D], one pair per block l
    prefix_mask float [B, Q]          the same for the prefix keys
    prefix_key.l, prefix_value.l      float [B, KV, Q, D]: keys and values before the past,
                                      shared: row i of N reads prefix row i // (N / B)
    extra_ids   int64 [B, E]          with a head token list only: tokens the head also
                                      scores for the rows of prompt b (its own tokens)
 -> logits      float [N, V]          at the last new position (-1e9: a token not scored)
    present_key.l, present_value.l    float [N, KV, P+S, D]

The prefix is a prompt's cache, the past what the decoder wrote since. A beam search's k
rows of one request share their prompt, and the rows are reordered at every step: with
the prompt in each row's cache, every step copied it twice (the graph's Concat, then the
reordering), a third of a 32-row step. Shared, it is read in place, and only the replies'
few positions are copied. A prefill runs with B = N (each row its own prefix, the
persona's cached system block) and an empty past.

Batch is axis 0 everywhere, so the decoder's take_rows works on the cache as on the
LSTM's state. One input and output per block, not one [N, L, KV, P, D] tensor: slicing
the blocks out of one tensor and stacking them back copied the cache twice more.

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

OPSET = 21  # QuantizeLinear's blocked scales: one per row
WEIGHTS_FILE = "weights.bin"
ALIGN = 64
BLOCK = 32  # inputs per quantization block
EMBEDDING = "token_embd.weight"  # tied: the tokens' vectors and the head
MAX_POSITIONS = 4096  # RoPE table length: far above any prompt + reply we build


def input_groups(config: LlamaConfig) -> dict[str, tuple[str, ...]]:
    """The block matmuls that read one input, by group name: q, k and v read the attention
    norm's output, gate and up the FFN norm's. A group shares one smoothing vector."""
    groups = {}
    for layer in range(config.layers):
        w = layer_names(layer)
        groups.update({f"blk.{layer}.attn": (w["attn_q"], w["attn_k"], w["attn_v"]),
                       f"blk.{layer}.attn_output": (w["attn_output"],),
                       f"blk.{layer}.ffn": (w["ffn_gate"], w["ffn_up"]),
                       f"blk.{layer}.ffn_down": (w["ffn_down"],)})
    return groups


def folded_smoothing(config: LlamaConfig) -> dict[str, str]:
    """{tensor: input group} where the group's 1/s is folded into the tensor that writes
    that input, not applied by a Mul in the graph: the norms before q/k/v and gate/up
    (their scale times 1/s), and the up projection before the down projection (the
    channel is swish(gate) * up, so its up row divided by s). The attention output's
    input is a sum over value heads shared by three query heads: its Mul stays."""
    folded = {}
    for layer in range(config.layers):
        w = layer_names(layer)
        folded.update({w["attn_norm"]: f"blk.{layer}.attn", w["ffn_norm"]: f"blk.{layer}.ffn",
                       w["ffn_up"]: f"blk.{layer}.ffn_down"})
    return folded


def weight_layout(config: LlamaConfig, quantized: bool = True) -> list[dict]:
    """Initializers in file order: graph name, GGUF source, kind, shape, dtype, offset,
    for int8 matmuls the input group whose smoothing vector s applies, and for the
    tensors of `folded_smoothing` (quantized only) the group whose s divides their rows.

    Kinds (how assemble.py derives each tensor from the GGUF [out, in] matrix W):
      copy        W as it is (the norms' scales, and the float embedding)
      transposed  W.T as float32, [in, out] for MatMul
      col8        (W * s).T as int8 [in, out], each output column with its own scale:
                  MatMulInteger's weight (every matmul of the blocks)
      col8_scale  those columns' scales [out]
      smooth      1 / s [in] for the group's input (s from the bundle's smoothing.npz),
                  where it is not folded
      block8      W in blocks of 32 inputs, each block int8 with its own scale, stored
                  as q + 128 (uint8) [out, in/32, 32]: MatMulNBits' 8-bit layout (the
                  tied embedding: its rows are the tokens' vectors and it is the head)
      block8_scale  the blocks' scales [out * in/32]
    """
    group_of = {weight: group for group, members in input_groups(config).items()
                for weight in members}
    folded = folded_smoothing(config) if quantized else {}
    smoothed = set(folded.values())  # groups whose 1/s needs no initializer
    entries = []
    for name, shape in weight_shapes(config).items():  # file order: GGUF's tensor order
        if len(shape) == 1 or (name == EMBEDDING and not quantized):
            entries.append((name, name, "copy", shape, None))  # norms; the float embedding
        elif name == EMBEDDING:
            blocks = shape[1] // BLOCK
            entries += [(f"{name}/block8", name, "block8", (shape[0], blocks, BLOCK), None),
                        (f"{name}/block8_scale", name, "block8_scale", (shape[0] * blocks,),
                         None)]
        elif quantized:
            group = group_of[name]
            if group not in smoothed:
                smoothed.add(group)
                entries.append((f"{group}/smooth", group, "smooth", shape[1:], None))
            entries += [(f"{name}/col8", name, "col8", shape[::-1], group),
                        (f"{name}/col8_scale", name, "col8_scale", shape[:1], group)]
        else:  # MatMul wants [in, out]: the transpose of GGUF's [out, in]
            entries.append((name, name, "transposed", shape[::-1], None))
    layout, offset = [], 0
    for name, source, kind, shape, group in entries:
        dtype = {"block8": "uint8", "col8": "int8"}.get(kind, "float32")
        size = int(np.prod(shape)) * (4 if dtype == "float32" else 1)
        entry = {"name": name, "source": source, "kind": kind, "shape": list(shape),
                 "dtype": dtype, "offset": offset, "length": size}
        if group:
            entry["group"] = group
        if source in folded:
            entry["divide"] = folded[source]
        layout.append(entry)
        offset += -(-size // ALIGN) * ALIGN
    return layout


class _Graph:
    """A tiny builder: each call adds one node and returns its output name."""

    def __init__(self):
        self.nodes, self.constants, self.count = [], [], 0

    def op(self, kind: str, *inputs: str, outputs: int = 1, unused: tuple = (), **attrs):
        """`unused`: indices of optional outputs left unnamed (not computed)."""
        self.count += 1
        names = ["" if i in unused else f"{kind.lower()}_{self.count}_{i}"
                 for i in range(outputs)]
        self.nodes.append(helper.make_node(kind, list(inputs), names, **attrs))
        named = [name for name in names if name]
        return named[0] if len(named) == 1 else named

    def rename(self, old: str, new: str) -> None:
        """Give a node's output a graph output's name."""
        for node in self.nodes:
            node.output[:] = [new if name == old else name for name in node.output]

    def const(self, value, dtype=np.int64) -> str:
        self.count += 1
        name = f"const_{self.count}"
        self.constants.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name


def build_decoder(config: LlamaConfig, quantized: bool = True, peaks: bool = False,
                  head_tokens: np.ndarray | None = None) -> onnx.ModelProto:
    """The graph. `quantized`: every matmul of the blocks on onnxruntime's int8 GEMM
    (MatMulInteger), the head on 8-bit blocks of 32 (MatMulNBits); else float32.
    `peaks` (float only): one more output per input group, `peak/<group>` [in], the
    largest |x| of each input channel over the batch (calibrate.py's measurement).

    A block matmul: its input x [N, S, in] is divided by the group's smoothing vector s
    (SmoothQuant: activations' outlier channels would otherwise take all of a row's
    int8 range; the weight rows grow by s instead, and int8 per output column takes
    that well), then quantized per row (`int8_rows`), multiplied as uint8 x int8 and
    scaled back. The int8 GEMM runs a 16-prompt prefill's matmuls at 1,360 GFLOP/s on one
    core here, where MatMulNBits (blocks of 32, activations quantized per block) did 44
    (in = 576) to 110 (in = 1,536). Teacher-forced on 300 validation replies of the demo
    (2026-12-01): float32 3.618 nats/token, MatMulNBits 3.622, int8 GEMM 3.640 without
    smoothing (a blind reading found its replies sensible less often: 56% against 69%,
    data/models/demo-pretrained/eval/experiments/int8-gemm-dev/), with s = peak^0.75 /
    weight peak^0.25 3.618 (the demo as exported: 3.619; exponent 0.5: 3.627, 0.9: 3.627).
    A scale per tensor (DynamicQuantizeMatMul) cost +0.048 and made replies depend on
    the batch.

    `head_tokens` (sorted ids): the head scores only those tokens and each prompt's
    `extra_ids` (its own tokens, so a reply can take up a word of the chat), and every
    other logit is -1e9. The demo's list (the tokens of its training chats and the base's
    first 8,192) is a third of the vocabulary, and the head over all 49,152 tokens had
    been a third of a 32-row decode step (14 ms, MatMulNBits).
    """
    c = config
    g = _Graph()
    kv, groups, dim = c.kv_heads, c.heads // c.kv_heads, c.head_dim
    layout = weight_layout(config, quantized)
    shapes = weight_shapes(config)
    group_of = {weight: group for group, members in input_groups(config).items()
                for weight in members}
    folded = set(folded_smoothing(config).values())
    zero = g.const(128, np.uint8)
    quantized_inputs: dict[str, tuple[str, str]] = {}  # group -> (x as uint8, row scales)
    peak_outputs: list[str] = []

    def linear(x: str, weight: str) -> str:
        """A block matmul: x [N, S, in] -> [N, S, out]."""
        group, width = group_of[weight], shapes[weight][1]
        if peaks and f"peak/{group}" not in peak_outputs:
            g.nodes.append(helper.make_node("ReduceMax", [g.op("Abs", x), g.const([0, 1])],
                                            [f"peak/{group}"], keepdims=0))
            peak_outputs.append(f"peak/{group}")
        if not quantized:
            return g.op("MatMul", x, weight)
        if group not in quantized_inputs:  # x / s: folded into what wrote x, or a Mul
            quantized_inputs[group] = int8_rows(x if group in folded else
                                                g.op("Mul", x, f"{group}/smooth"),
                                                width)
        q, scale = quantized_inputs[group]
        product = g.op("Cast", g.op("MatMulInteger", q, f"{weight}/col8", zero),
                       to=TensorProto.FLOAT)  # [N, S, out]
        return g.op("Mul", g.op("Mul", product, scale), f"{weight}/col8_scale")

    def int8_rows(x: str, width: int) -> tuple[str, str]:
        """x [N, S, K] -> (round(x / scale) + 128 as uint8, scale [N, S, 1]), one symmetric
        scale per row: a row's product does not depend on the other rows of the batch (a
        scale per tensor made replies depend on the micro-batch). uint8 with zero point
        128 against int8 weights is the fast int8 GEMM (int8 x int8 ran 13x slower)."""
        peak = g.op("ReduceMax", g.op("Abs", x), g.const([-1]), keepdims=1)
        scale = g.op("Max", g.op("Mul", peak, g.const(1 / 127, np.float32)),
                     g.const(1e-30, np.float32))  # a row of zeros (padding)
        return g.op("QuantizeLinear", x, scale, row_zero, axis=-1, block_size=width), scale

    def norm(x: str, scale: str, residual: str | None = None) -> tuple[str, str]:
        """RMSNorm of x (+ residual, when given): (normed, the sum it normed). One fused
        node, where seven elementwise ones cost 4-18 us each per step."""
        if residual is None:
            return g.op("SimplifiedLayerNormalization", x, scale, axis=-1, epsilon=c.eps), x
        normed, total = g.op("SkipSimplifiedLayerNormalization", x, residual, scale,
                             outputs=4, unused=(1, 2), domain="com.microsoft", epsilon=c.eps)
        return normed, total

    # shapes: N, S (new), P (past), B and Q (prefix), K = N / B (rows per prefix)
    shape_ids = g.op("Shape", "input_ids")
    n = g.op("Gather", shape_ids, g.const(0), axis=0)
    s = g.op("Gather", shape_ids, g.const(1), axis=0)
    p = g.op("Gather", g.op("Shape", "past_key.0"), g.const(2), axis=0)
    total = g.op("Add", p, s)
    prefix_shape = g.op("Shape", "prefix_key.0")
    b1, q1 = (g.op("Slice", prefix_shape, g.const([i]), g.const([i + 1])) for i in (0, 2))
    k1 = g.op("Div", g.op("Unsqueeze", n, g.const([0])), b1)
    prefix_bias = g.op("Where", g.op("Cast", g.op("Unsqueeze", "prefix_mask", g.const([1, 2])),
                                     to=TensorProto.BOOL),
                       g.const(0.0, np.float32), g.const(-1e9, np.float32))  # [B, 1, 1, Q]

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
    row_zero = g.op("ConstantOfShape", g.op("Concat", n1, s1, g.const([1]), axis=0),
                    value=onnx.numpy_helper.from_array(np.array([128], np.uint8)))  # [N, S, 1]
    head_shapes = {count: g.op("Concat", n1, s1, g.const([count, dim]), axis=0)
                   for count in {c.heads, kv}}  # computed once, not per block
    grouped = g.op("Concat", n1, g.const([kv, groups]), s1, g.const([dim]), axis=0)

    def shape(*parts) -> str:  # a shape from 1-element tensors and constant dims
        return g.op("Concat", *(part if isinstance(part, str) else g.const(part)
                                for part in parts), axis=0)

    # the prefix's side of attention: the K rows of a prefix as one query block per KV head
    rows_by_prefix = shape(b1, k1, s1, [kv, groups, dim])  # q [N, S, H] -> [B, K, S, KV, G, D]
    block = g.op("Mul", g.op("Mul", k1, g.const([groups])), s1)  # K*G*S
    prefix_queries = shape(b1, [kv], block, [dim])  # [B, KV, K*G*S, D]
    prefix_blocks = {name: shape(b1, [kv], k1, [groups], s1, width)  # [B, KV, K, G, S, .]
                     for name, width in (("scores", q1), ("values", [dim]))}
    per_row_scores = shape(n1, [kv, groups], s1, q1)  # [N, KV, G, S, Q]
    row_blocks = shape(b1, k1, [kv, groups], s1, q1)  # [B, K, KV, G, S, Q]
    prefix_probs = shape(b1, [kv], block, q1)  # [B, KV, K*G*S, Q]
    score_split = shape(q1, g.op("Unsqueeze", total, g.const([0])))  # prefix Q | past + new
    query_scale = g.const(1 / np.sqrt(dim), np.float32)

    def attend(q: str, k: str, v: str, layer: int) -> str:
        """Grouped-query attention of q [N, S, H] over the prefix and k, v [N, KV, P+S, D]
        -> [N, KV, G, S, D]. One softmax over both: the prefix's scores are computed per
        prefix (its K rows' queries together), moved to per-row order (small tensors:
        scores, not keys), concatenated with the past's, and the probabilities split back.
        (Reshape with allowzero: an empty prefix, Q = 0, is a shape, not "keep this dim".)"""
        def reshape(x: str, to: str) -> str:
            return g.op("Reshape", x, to, allowzero=1)

        q = g.op("Mul", q, query_scale)
        prefix_q = reshape(g.op("Transpose", reshape(q, rows_by_prefix),
                                perm=[0, 3, 1, 4, 2, 5]), prefix_queries)
        prefix_scores = g.op("MatMul", prefix_q, g.op("Transpose", f"prefix_key.{layer}",
                                                      perm=[0, 1, 3, 2]))
        prefix_scores = g.op("Add", prefix_scores, prefix_bias)  # [B, KV, K*G*S, Q]
        prefix_scores = reshape(g.op("Transpose", reshape(prefix_scores, prefix_blocks["scores"]),
                                     perm=[0, 2, 1, 3, 4, 5]), per_row_scores)  # [N, KV, G, S, Q]
        # the past by broadcasting: q [N, KV, G, S, D], k [N, KV, 1, P+S, D]
        q5 = reshape(heads(q, c.heads), grouped)
        k5, v5 = g.op("Unsqueeze", k, g.const([2])), g.op("Unsqueeze", v, g.const([2]))
        scores = g.op("Add", g.op("MatMul", q5, g.op("Transpose", k5, perm=[0, 1, 2, 4, 3])),
                      bias)  # [N, KV, G, S, P+S]
        probs = g.op("Softmax", g.op("Concat", prefix_scores, scores, axis=-1), axis=-1)
        to_prefix, to_past = g.op("Split", probs, score_split, axis=-1, outputs=2)
        to_prefix = reshape(g.op("Transpose", reshape(to_prefix, row_blocks),
                                 perm=[0, 2, 1, 3, 4, 5]), prefix_probs)
        from_prefix = g.op("MatMul", to_prefix, f"prefix_value.{layer}")  # [B, KV, K*G*S, D]
        from_prefix = reshape(g.op("Transpose", reshape(from_prefix, prefix_blocks["values"]),
                                   perm=[0, 2, 1, 3, 4, 5]), grouped)
        return g.op("Add", from_prefix, g.op("MatMul", to_past, v5))

    def heads(x: str, count: int) -> str:
        """[N, S, count*D] -> [N, count, S, D]"""
        return g.op("Transpose", g.op("Reshape", x, head_shapes[count]), perm=[0, 2, 1, 3])

    def embed(ids: str) -> str:
        """Token vectors: ids [...] -> [..., H] (the input's, and the extra tokens' head rows)."""
        if not quantized:
            return g.op("Gather", EMBEDDING, ids, axis=0)
        # the rows' blocks [..., H/32, 32], minus 128, times their scales
        rows = g.op("Cast", g.op("Gather", f"{EMBEDDING}/block8", ids, axis=0),
                    to=TensorProto.FLOAT)
        scales = g.op("Gather", g.op("Reshape", f"{EMBEDDING}/block8_scale",
                                     g.const([c.vocab, c.hidden // BLOCK, 1])), ids, axis=0)
        values = g.op("Mul", g.op("Sub", rows, g.const(128.0, np.float32)), scales)
        return g.op("Reshape", values, g.op("Concat", g.op("Shape", ids), g.const([c.hidden]),
                                            axis=0), allowzero=1)

    def scores(x: str, tokens: str | None, count: int) -> str:
        """The head: x [N, H] -> logits [N, count] of `tokens` (all when None). The tied
        embedding on MatMulNBits (x in int8 per block of 32): mean KL from float32 logits
        over 150 demo positions 0.0010. On the blocks' int8 GEMM (x in int8 per row) a
        16-row step was 4 ms faster, but KL 0.0083 (+0.017 nats per reply token), with
        SmoothQuant 0.0047 at best; x in int8 twice: 0.0010, and no faster. A token list's
        rows are gathered from the embedding's constants, which onnxruntime folds at load."""
        def rows(table: str) -> str:
            return table if tokens is None else g.op("Gather", table, tokens, axis=0)

        if not quantized:
            return g.op("Gemm", x, rows(EMBEDDING), transB=1)
        block_scales = g.op("Reshape", rows(g.op("Reshape", f"{EMBEDDING}/block8_scale",
                                                 g.const([c.vocab, c.hidden // BLOCK]))),
                            g.const([-1]))
        return g.op("MatMulNBits", x, rows(f"{EMBEDDING}/block8"), block_scales,
                    domain="com.microsoft", K=c.hidden, N=count, bits=8, block_size=BLOCK,
                    accuracy_level=4)

    h = embed("input_ids")  # [N, S, H]
    hidden_shape = g.op("Shape", h)
    x, h = norm(h, layer_names(0)["attn_norm"])  # each norm also adds the last residual
    for layer in range(c.layers):
        w = layer_names(layer)
        q = rotate(linear(x, w["attn_q"]), c.heads)  # [N, S, H]
        k = heads(rotate(linear(x, w["attn_k"]), kv), kv)
        v = heads(linear(x, w["attn_v"]), kv)
        for kind, new in (("key", k), ("value", v)):  # -> [N, KV, P+S, D]
            g.nodes.append(helper.make_node("Concat", [f"past_{kind}.{layer}", new],
                                            [f"present_{kind}.{layer}"], axis=2))
        attended = attend(q, f"present_key.{layer}", f"present_value.{layer}", layer)
        merged = g.op("Reshape", g.op("Transpose", attended, perm=[0, 3, 1, 2, 4]),
                      hidden_shape)  # [N, S, H]
        x, h = norm(linear(merged, w["attn_output"]), w["ffn_norm"], h)
        gate = linear(x, w["ffn_gate"])
        swish = g.op("Mul", gate, g.op("Sigmoid", gate))
        ffn = linear(g.op("Mul", swish, linear(x, w["ffn_up"])), w["ffn_down"])
        if layer + 1 < c.layers:
            x, h = norm(ffn, layer_names(layer + 1)["attn_norm"], h)
    newest = g.op("Sub", s, g.const(1))  # the head reads the last new position: [N, H]
    normed, _ = norm(g.op("Gather", ffn, newest, axis=1), "output_norm.weight",
                     g.op("Gather", h, newest, axis=1))
    if head_tokens is None:
        logits = scores(normed, None, c.vocab)
    else:  # [N, V]: the listed tokens' and each prompt's extra tokens' logits, the rest -1e9
        listed = g.const(np.asarray(head_tokens, np.int64))
        listed_logits = scores(normed, listed, len(head_tokens))  # [N, V']
        by_prompt = g.op("Reshape", normed, shape(b1, k1, [c.hidden]))  # [B, K, H]
        extra_logits = g.op("Reshape", g.op("MatMul", by_prompt, g.op(
            "Transpose", embed("extra_ids"), perm=[0, 2, 1])), shape(n1, [-1]))  # [N, E]
        extra_index = g.op("Reshape", g.op("Expand", g.op("Unsqueeze", "extra_ids",
                                                          g.const([1])), shape(b1, k1, [1])),
                           shape(n1, [-1]))  # [N, E]
        canvas = g.op("Expand", g.const([-1e9], np.float32), shape(n1, [c.vocab]))
        # the listed tokens last: a token in both keeps the head's logit
        logits = g.op("ScatterElements", g.op("ScatterElements", canvas, extra_index,
                                              extra_logits, axis=1),
                      g.op("Expand", listed, g.op("Shape", listed_logits)), listed_logits,
                      axis=1)
    g.rename(logits, "logits")

    def cache(prefix: str, length: str, rows: str = "N") -> list:
        return [helper.make_tensor_value_info(f"{prefix}_{kind}.{layer}", TensorProto.FLOAT,
                                              [rows, kv, length, dim])
                for layer in range(c.layers) for kind in ("key", "value")]

    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("positions", TensorProto.INT64, ["N", "S"]),
              helper.make_tensor_value_info("key_mask", TensorProto.FLOAT, ["N", "T"]),
              *cache("past", "P"),
              helper.make_tensor_value_info("prefix_mask", TensorProto.FLOAT, ["B", "Q"]),
              *cache("prefix", "Q", "B")]
    if head_tokens is not None:
        inputs.append(helper.make_tensor_value_info("extra_ids", TensorProto.INT64, ["B", "E"]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c.vocab]),
               *cache("present", "T")]
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["K"])
                for name in peak_outputs]
    initializers = [_external(entry) for entry in layout]
    graph = helper.make_graph(g.nodes, "doppel_llama_decoder", inputs, outputs,
                              initializer=initializers + g.constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="doppel")
    model.ir_version = 10  # opset 21
    return model


def _external(entry: dict) -> TensorProto:
    tensor = TensorProto()
    tensor.name = entry["name"]
    tensor.data_type = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8,
                        "float32": TensorProto.FLOAT}[entry["dtype"]]
    tensor.dims.extend(entry["shape"])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", WEIGHTS_FILE), ("offset", str(entry["offset"])),
                       ("length", str(entry["length"]))):
        item = tensor.external_data.add()
        item.key, item.value = key, value
    return tensor
