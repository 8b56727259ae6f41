"""A tiny llama base (random weights, real GGUF layout) and a manifest fine-tuning it:
the pretrained path's code at test size. Fixtures `tiny_base`, `tiny_bundle`: conftest."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.serve.pretrained.base import LlamaConfig, weight_shapes

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "demo" / "chitchat_sample.json"
TINY = LlamaConfig(layers=2, hidden=32, heads=4, kv_heads=2, ffn=64, vocab=0,
                   rope_base=10000.0, eps=1e-5)
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """A llama GGUF with random weights; the embedding stored Q8_0 like the real one."""
    import gguf
    from tokenizers import pre_tokenizers

    tokens = CONTROL + sorted(pre_tokenizers.ByteLevel.alphabet())
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "o u"]
    tokens += [m.replace(" ", "") for m in merges]
    config = LlamaConfig(**{**TINY.as_dict(), "vocab": len(tokens)})
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(config.layers)
    writer.add_context_length(512)
    writer.add_embedding_length(config.hidden)
    writer.add_feed_forward_length(config.ffn)
    writer.add_head_count(config.heads)
    writer.add_head_count_kv(config.kv_heads)
    writer.add_rope_freq_base(config.rope_base)
    writer.add_layer_norm_rms_eps(config.eps)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(CONTROL) + [1] * (len(tokens) - len(CONTROL)))
    writer.add_token_merges(merges)
    for name, shape in weight_shapes(config).items():
        if len(shape) == 1:
            value = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            value = (rng.standard_normal(shape) * 0.3).astype(np.float32)
        if name == "token_embd.weight":
            kind = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(value, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


MANIFEST = """\
name: tiny-pretrained
sources:
  - {{format: chitchat, path: {sample}}}
persona: Sam
rename:
  31267496-e50f-4f91-a197-c5b1bfde803b: Sam
pairs: {{context_turns: 2, extra_personas: 2}}
model: {{kind: pretrained, base: {base}, train_layers: 1, max_context_tokens: 320,
        max_reply_tokens: 40, precision: float32}}
train: {{epochs: {epochs}, batch_size: 32, lr: 0.003, seed: 7, val_fraction: 0.1, patience: 0,
        schedule: constant}}
"""


def write_manifest(folder: Path, base: str, epochs: int = 1) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(MANIFEST.format(sample=SAMPLE, base=base, epochs=epochs), encoding="utf-8")
    return path


def float_graph_copy(bundle: Path, folder: Path, head_tokens=None) -> Path:
    """The bundle with the float32 serving graph instead of the 8-bit one (its head over
    all tokens, or over `head_tokens` and each prompt's own)."""
    import json
    import shutil

    from model.serve.bundle import read_bundle, write_bundle
    from model.train.pretrained.onnx_graph import build_decoder, weight_layout

    copy = folder / "float32"
    shutil.copytree(bundle, copy)
    meta = read_bundle(copy)
    config = LlamaConfig.from_dict(meta["base"]["config"])
    (copy / "weights_layout.json").write_text(json.dumps(weight_layout(config, False)))
    graph = build_decoder(config, False, head_tokens=head_tokens)
    (copy / "decoder.onnx").write_bytes(graph.SerializeToString())
    write_bundle(copy, meta)
    return copy
