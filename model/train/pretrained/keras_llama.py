"""The llama architecture in Keras 3, for fine-tuning a pretrained base (TensorFlow side).

    ids [B, T] -> TokenEmbedding -> hidden [B, T, H]
    hidden -> LlamaBlock x L (RMSNorm, GQA attention with interleaved RoPE, RMSNorm,
              SwiGLU) -> RMSNorm -> TokenEmbedding.logits (tied) -> logits [B, T, V]

Blocks take `positions` [B, T] (RoPE) and `mask` [B, T] (1 = real token; keys that are
padding are never attended to). Kernels are stored [in, out]; GGUF's are [out, in], so
`set_gguf_weights` transposes. Every layer is registered and has `get_config`, so
save -> load gives identical outputs.

LoRA (Hu et al. 2021): a block built with `lora_rank` r keeps its kernels frozen and
trains a low-rank update of each, W + down @ up (down [in, r], up [r, out], up starting
at zero, so training starts from the base). Its weights in GGUF names are the kernel's
name + LORA_UP ([out, r]) and + LORA_DOWN ([r, in]): up @ down is the update in GGUF's
[out, in] layout, which serving adds to the base's matrix (assemble.apply_delta).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from model.serve.pretrained.base import LORA_DOWN, LORA_UP, LlamaConfig, layer_names

PACKAGE = "doppel_llama"
KERNELS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@keras.saving.register_keras_serializable(package=PACKAGE)
class RMSNorm(keras.layers.Layer):
    def __init__(self, eps: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.eps = eps

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        x32 = ops.cast(x, "float32")
        normed = x32 * ops.rsqrt(ops.mean(ops.square(x32), axis=-1, keepdims=True) + self.eps)
        return ops.cast(normed, self.compute_dtype) * ops.cast(self.scale, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "eps": self.eps}


def rope(x, positions, base: float):
    """Interleaved rotary embedding: features (2i, 2i+1) rotate by pos * base^(-2i/D).

    x [B, T, h, D], positions [B, T] -> [B, T, h, D]
    """
    dim = x.shape[-1]
    inverse = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))  # [D/2]
    angles = ops.cast(positions, "float32")[:, :, None] * inverse  # [B, T, D/2]
    cos = ops.cast(ops.cos(angles)[:, :, None, :], x.dtype)  # [B, T, 1, D/2]
    sin = ops.cast(ops.sin(angles)[:, :, None, :], x.dtype)
    pairs = ops.reshape(x, (*ops.shape(x)[:3], dim // 2, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = ops.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1)
    return ops.reshape(rotated, ops.shape(x))


@keras.saving.register_keras_serializable(package=PACKAGE)
class LlamaBlock(keras.layers.Layer):
    """One decoder block: h + attn(norm(h)), then + SwiGLU(norm(h))."""

    def __init__(self, hidden: int, heads: int, kv_heads: int, ffn: int,
                 rope_base: float = 10000.0, eps: float = 1e-5, lora_rank: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.heads, self.kv_heads, self.ffn = hidden, heads, kv_heads, ffn
        self.rope_base, self.eps, self.lora_rank = rope_base, eps, lora_rank
        self.head_dim = hidden // heads
        self.attn_norm = RMSNorm(eps, name="attn_norm")
        self.ffn_norm = RMSNorm(eps, name="ffn_norm")

    def build(self, input_shape):
        kv = self.kv_heads * self.head_dim
        shapes = {"attn_q": (self.hidden, self.hidden), "attn_k": (self.hidden, kv),
                  "attn_v": (self.hidden, kv), "attn_output": (self.hidden, self.hidden),
                  "ffn_gate": (self.hidden, self.ffn), "ffn_up": (self.hidden, self.ffn),
                  "ffn_down": (self.ffn, self.hidden)}
        self.kernels = {name: self.add_weight(name=name, shape=shape,
                                              initializer=keras.initializers.RandomNormal(
                                                  stddev=0.02),
                                              trainable=not self.lora_rank)
                        for name, shape in shapes.items()}
        self.lora = {}  # name -> (down [in, r], up [r, out])
        if self.lora_rank:
            rank = self.lora_rank
            self.lora = {name: (self.add_weight(name=f"{name}_lora_down", shape=(fan_in, rank),
                                                initializer=keras.initializers.HeUniform()),
                                self.add_weight(name=f"{name}_lora_up", shape=(rank, fan_out),
                                                initializer="zeros"))
                         for name, (fan_in, fan_out) in shapes.items()}
        self.attn_norm.build(input_shape)
        self.ffn_norm.build(input_shape)

    def call(self, h, positions, mask):
        """h [B, T, H], positions [B, T] int, mask [B, T] (1 real) -> [B, T, H]"""
        k_ = {name: ops.cast(self.kernel(name), self.compute_dtype) for name in self.kernels}
        batch, steps = ops.shape(h)[0], ops.shape(h)[1]
        x = self.attn_norm(h)
        q = ops.reshape(x @ k_["attn_q"], (batch, steps, self.heads, self.head_dim))
        k = ops.reshape(x @ k_["attn_k"], (batch, steps, self.kv_heads, self.head_dim))
        v = ops.reshape(x @ k_["attn_v"], (batch, steps, self.kv_heads, self.head_dim))
        q, k = rope(q, positions, self.rope_base), rope(k, positions, self.rope_base)
        groups = self.heads // self.kv_heads
        k, v = ops.repeat(k, groups, axis=2), ops.repeat(v, groups, axis=2)  # [B, T, h, D]
        scores = ops.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(self.head_dim)
        causal = ops.tril(ops.ones((steps, steps), dtype="bool"))  # [T, T]
        allowed = ops.logical_and(causal[None, None], ops.cast(mask, "bool")[:, None, None, :])
        scores = ops.where(allowed, ops.cast(scores, "float32"), -1e9)
        weights = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)  # [B, h, T, T]
        attended = ops.einsum("bhqk,bkhd->bqhd", weights, v)
        h = h + ops.reshape(attended, (batch, steps, self.hidden)) @ k_["attn_output"]
        x = self.ffn_norm(h)
        gated = ops.silu(x @ k_["ffn_gate"]) * (x @ k_["ffn_up"])
        return h + gated @ k_["ffn_down"]

    def kernel(self, name: str):
        """The kernel [in, out] as the block uses it: with LoRA, W + down @ up."""
        if name not in self.lora:
            return self.kernels[name]
        down, up = self.lora[name]
        return self.kernels[name] + ops.matmul(down, up)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "heads": self.heads,
                "kv_heads": self.kv_heads, "ffn": self.ffn, "rope_base": self.rope_base,
                "eps": self.eps, "lora_rank": self.lora_rank}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenEmbedding(keras.layers.Layer):
    """The tied table: ids -> vectors, and vectors -> logits with the same matrix."""

    def __init__(self, vocab: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab, self.hidden = vocab, hidden

    def build(self, input_shape=None):
        self.table = self.add_weight(name="table", shape=(self.vocab, self.hidden),
                                     initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, ids):
        return ops.cast(ops.take(self.table, ids, axis=0), self.compute_dtype)

    def logits(self, hidden):
        """hidden [..., H] -> float32 logits [..., V]"""
        table = ops.cast(self.table, hidden.dtype)
        return ops.cast(ops.matmul(hidden, ops.transpose(table)), "float32")

    def get_config(self):
        return {**super().get_config(), "vocab": self.vocab, "hidden": self.hidden}


def block_for(config: LlamaConfig, index: int, lora_rank: int = 0) -> LlamaBlock:
    return LlamaBlock(config.hidden, config.heads, config.kv_heads, config.ffn,
                      config.rope_base, config.eps, lora_rank, name=f"blk_{index}")


class LlamaParts:
    """The net as parts a fine-tune runs separately: embedding, blocks, final norm.

    `frozen` blocks (the bottom ones) run once per example; `trained` blocks, the final
    norm (and, with the embedding kept frozen, the tied output) run every step. With
    `lora_rank`, a trained block trains its norms and LoRA factors, not its kernels.
    """

    def __init__(self, config: LlamaConfig, train_layers: int, lora_rank: int = 0):
        self.config = config
        self.train_layers = min(train_layers, config.layers)
        self.lora_rank = lora_rank
        self.embedding = TokenEmbedding(config.vocab, config.hidden, name="token_embd")
        self.embedding.build()
        self.blocks = [block_for(config, i, lora_rank if i >= self.split else 0)
                       for i in range(config.layers)]
        for block in self.blocks:
            block.build((None, None, config.hidden))
        self.norm = RMSNorm(config.eps, name="output_norm")
        self.norm.build((None, None, config.hidden))
        self.embedding.trainable = False
        for block in self.frozen:
            block.trainable = False

    @property
    def split(self) -> int:
        return self.config.layers - self.train_layers

    @property
    def frozen(self) -> list[LlamaBlock]:
        return self.blocks[:self.split]

    @property
    def trained(self) -> list[LlamaBlock]:
        return self.blocks[self.split:]

    def trainable_variables(self) -> list:
        return [v for layer in (*self.trained, self.norm) for v in layer.trainable_variables]

    def lower(self, ids, positions, mask):
        """ids [B, T] -> hidden after the frozen blocks [B, T, H]"""
        h = self.embedding(ids)
        for block in self.frozen:
            h = block(h, positions, mask)
        return h

    def upper(self, h, positions, mask, gather=None):
        """hidden [B, T, H] -> logits [B, T, V], or [B, R, V] at `gather` [B, R] only."""
        for block in self.trained:
            h = block(h, positions, mask)
        if gather is not None:
            h = ops.take_along_axis(h, ops.cast(gather, "int32")[:, :, None], axis=1)
        return self.embedding.logits(self.norm(h))

    def logits(self, ids, positions, mask):
        return self.upper(self.lower(ids, positions, mask), positions, mask)

    # --- weights in GGUF names ------------------------------------------------------

    def variables_by_gguf_name(self) -> dict:
        out = {"token_embd.weight": self.embedding.table,
               "output_norm.weight": self.norm.scale}
        for index, block in enumerate(self.blocks):
            for part, name in layer_names(index).items():
                out[name] = (block.attn_norm.scale if part == "attn_norm" else
                             block.ffn_norm.scale if part == "ffn_norm" else block.kernels[part])
            for part, (down, up) in block.lora.items():
                name = layer_names(index)[part]
                out[name + LORA_DOWN], out[name + LORA_UP] = down, up
        return out

    def set_gguf_weights(self, weights: dict[str, np.ndarray]) -> None:
        for name, variable in self.variables_by_gguf_name().items():
            if name in weights:
                value = weights[name]
                variable.assign(value if value.ndim == 1 or name == "token_embd.weight"
                                else value.T)

    def trained_gguf_weights(self) -> dict[str, np.ndarray]:
        """What the fine-tune changed, GGUF names and layout ([out, in]; LoRA factors
        [out, r] and [r, in])."""
        names = {"output_norm.weight"}
        for index in range(self.split, self.config.layers):
            for part, name in layer_names(index).items():
                lora = self.lora_rank and part in KERNELS
                names.update((name + LORA_UP, name + LORA_DOWN) if lora else (name,))
        out = {}
        for name, variable in self.variables_by_gguf_name().items():
            if name in names:
                value = keras.ops.convert_to_numpy(variable).astype(np.float32)
                out[name] = value if value.ndim == 1 else value.T
        return out
