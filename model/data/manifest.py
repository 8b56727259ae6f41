"""The training manifest (docs/architecture.md): load, fill defaults, validate with errors naming the key.

    name: ana
    sources:
      - {format: whatsapp, path: exports/WhatsApp Chat with Bo.txt}
      - {format: chitchat}                 # no path: the installed chitchat-dataset corpus
    persona: Ana          # a name, a list of aliases (first is canonical), or "auto"
    rename: {"+44 7700 900123": Bo}   # optional: display names for senders
    pairs: {context_turns: 5, session_gap_hours: 6, min_reply_chars: 1, scrub_pii: true}
    model: {kind: lstm, embed: 128, units: 256, attention: luong, vocab: 8000}
    # or: model: {kind: pretrained, base: smollm2-135m-instruct, train_layers: 8}
    train: {epochs: 10, batch_size: 128, lr: 0.001, seed: 7, val_fraction: 0.05}
    base: data/models/demo   # optional (lstm, transformer): fine-tune a trained bundle

Relative paths resolve against the manifest's folder, so a manifest travels with its data.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from model.data.formats import FORMATS
from model.errors import InputError

# section -> key -> (accepted types, default). bool is checked before int on purpose:
# YAML `yes` must not pass as a number, and `1` must not pass as a flag.
PAIRS_KEYS = {
    "context_turns": (int, 5),
    "session_gap_hours": ((int, float), 6),
    "min_reply_chars": (int, 1),
    "scrub_pii": (bool, True),
    "extra_personas": (int, 0),  # also learn the N most active other senders
    "augment": (bool, False),  # also emit shorter-context variants
}
MODEL_KEYS = {
    "kind": (str, "lstm"),
    "embed": (int, 128),
    "units": (int, 256),
    "attention": (str, "luong"),
    "vocab": (int, 8000),
    "layers": (int, 2),  # transformer blocks (the LSTM has one encoder + one decoder layer)
    "heads": (int, 4),
    "dropout": ((int, float), 0.2),
    "persona_embedding": (bool, True),
    "tie_embeddings": (bool, True),
    "max_context_tokens": (int, 64),
    "max_reply_tokens": (int, 32),
    # kind: pretrained (model/pretrained): a known base name or a .gguf path, how many of
    # its top blocks train (the rest stay frozen), whether they train whole (lora_rank 0)
    # or a low-rank update of each matrix (LoRA of that rank), and the training precision
    "base": (str, "smollm2-135m-instruct"),
    "train_layers": (int, 8),
    "lora_rank": (int, 0),
    "precision": (str, "auto"),
}
# The model keys each kind reads. A manifest that sets another one is told so (a user
# who writes `layers: 4` for an LSTM expects a deeper model), and a bundle's
# hyperparameters list only these (kind_hyperparameters).
KIND_KEYS = {
    "lstm": ("kind", "embed", "units", "attention", "vocab", "dropout", "persona_embedding",
             "tie_embeddings", "max_context_tokens", "max_reply_tokens"),
    "transformer": ("kind", "embed", "units", "vocab", "layers", "heads", "dropout",
                    "persona_embedding", "tie_embeddings", "max_context_tokens",
                    "max_reply_tokens"),
    "pretrained": ("kind", "base", "train_layers", "lora_rank", "precision",
                   "max_context_tokens", "max_reply_tokens"),
}
TRAIN_KEYS = {
    "epochs": (int, 10),
    "batch_size": (int, 128),
    "lr": ((int, float), 0.001),
    "seed": (int, 7),
    "val_fraction": ((int, float), 0.05),
    "patience": (int, 3),
    # constant, or cosine: warm up over the first 5% of the steps, then decay to 10%
    "schedule": (str, "constant"),
}
# What a kind changes of the defaults above. A pretrained base fine-tunes, it does not
# learn from nothing: its prompt frame alone takes 40-70 tokens, and a few hundred small
# steps at a low rate adapt it where the LSTM's 10 epochs of batches of 128 at 0.001 undo
# it (one user's chat gave one step an epoch, and validation loss rose from 6.63 to 8.57).
# These are the pretrained demo's settings.
KIND_DEFAULTS = {
    "pretrained": {
        "model": {"max_context_tokens": 160, "max_reply_tokens": 48},
        "train": {"epochs": 1, "batch_size": 16, "lr": 0.0002, "schedule": "cosine"},
    },
}
SOURCE_KEYS = {"format", "path", "limit", "me"}
TOP_KEYS = {"name", "sources", "persona", "me", "rename", "pairs", "model", "train", "base"}
MODEL_KINDS = ("lstm", "transformer", "pretrained")
PRECISIONS = ("auto", "float32", "bfloat16")
SCHEDULES = ("constant", "cosine")
ATTENTIONS = ("luong",)


@dataclass
class Source:
    format: str  # a model.data.formats name, or "auto"
    path: Path | None  # None only for formats with an installed default (chitchat)
    limit: int | None = None  # keep at most this many conversations from the source
    me: str | None = None  # the owner's name for "me" messages of this source


@dataclass
class Manifest:
    name: str
    path: Path
    sources: list[Source]
    persona: list[str]  # aliases; persona[0] is canonical; ["auto"] = most active sender
    me: str = "Me"
    rename: dict[str, str] = field(default_factory=dict)  # sender as exported -> display name
    pairs: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    base: Path | None = None


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error: YAML lets the last
    one win silently, so `persona:` written twice trained whoever came second."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:  # else SafeLoader's own error
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), where) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"invalid YAML ({getattr(exc, 'problem', exc)})", where,
                         None if line is None else line + 1) from None
    return parse_manifest(data, path)


def parse_manifest(data, path: Path) -> Manifest:
    """Validate a decoded manifest; every error names the offending key and the file."""
    where = str(path)

    def fail(key: str, message: str):
        raise InputError(f"{key}: {message}", where)

    if not isinstance(data, dict):
        fail("(top level)", "expected a mapping of keys such as name, sources, persona")
    for key in data:
        if key not in TOP_KEYS:
            fail(str(key), f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    for key in ("name", "sources", "persona"):
        if key not in data:
            fail(key, "missing (required)")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        fail("name", "must be a non-empty string")
    if "/" in name or "\\" in name or name.startswith((".", "_")):
        # it names the bundle's folder and its S3 keys (deploy.artifacts reserves "_bases")
        fail("name", f"{name!r} must not contain a slash or start with '.' or '_'")
    folder = path.parent

    sources_data = data["sources"]
    if not isinstance(sources_data, list) or not sources_data:
        fail("sources", "must be a non-empty list of {format, path}")
    sources = [_parse_source(item, f"sources[{i}]", folder, fail) for i, item in enumerate(sources_data)]

    persona = data["persona"]
    if isinstance(persona, str):
        persona = [persona]
    if (
        not isinstance(persona, list)
        or not persona
        or not all(isinstance(p, str) and p.strip() for p in persona)
    ):
        fail("persona", "must be a name, a list of names (aliases), or 'auto'")

    me = data.get("me", "Me")
    if not isinstance(me, str) or not me.strip():
        fail("me", "must be a non-empty string")

    rename = data.get("rename", {})
    if not isinstance(rename, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in rename.items()
    ):
        fail("rename", "must map sender names (as exported) to display names")

    sections = {
        "pairs": _section(data.get("pairs"), "pairs", PAIRS_KEYS, fail),
        "model": _section(data.get("model"), "model", MODEL_KEYS, fail),
        "train": _section(data.get("train"), "train", TRAIN_KEYS, fail),
    }
    _check_ranges(sections, fail)
    kind = sections["model"]["kind"]
    for section, defaults in KIND_DEFAULTS.get(kind, {}).items():
        given = data.get(section) or {}
        sections[section].update({k: v for k, v in defaults.items() if k not in given})
    for key in data.get("model") or {}:
        if key not in KIND_KEYS[kind]:
            fail(f"model.{key}", f"not a setting of kind {kind} (its settings: "
                 f"{', '.join(KIND_KEYS[kind][1:])})")

    base = data.get("base")
    if base is not None:
        if kind == "pretrained":  # its training starts from model.base and reads no bundle
            fail("base", "a bundle to start from is for kinds lstm and transformer; kind "
                 "pretrained fine-tunes model.base (a known base or a .gguf file)")
        if not isinstance(base, str):
            fail("base", "must be a path to a model bundle folder")
        base = (folder / base).resolve()
        if not (base / "bundle.json").is_file():
            fail("base", f"no model bundle at {base} (bundle.json missing)")

    return Manifest(name.strip(), path, sources, persona, me, rename, base=base, **sections)


def _parse_source(item, key: str, folder: Path, fail) -> Source:
    if not isinstance(item, dict):
        fail(key, "must be a mapping like {format: whatsapp, path: chat.txt}")
    for sub in item:
        if sub not in SOURCE_KEYS:
            fail(f"{key}.{sub}", f"unknown key (known: {', '.join(sorted(SOURCE_KEYS))})")
    fmt = item.get("format", "auto")
    if fmt != "auto" and fmt not in FORMATS:
        fail(f"{key}.format", f"unknown format {fmt!r} (known: auto, {', '.join(FORMATS)})")
    raw_path = item.get("path")
    if raw_path is None:
        if fmt != "chitchat":
            fail(f"{key}.path", "missing (only format chitchat may omit it)")
        path = None
    elif not isinstance(raw_path, str):
        fail(f"{key}.path", "must be a string")
    else:
        path = (folder / raw_path).resolve()
        if not path.exists():
            fail(f"{key}.path", f"no such file or folder: {path}")
    limit = item.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        fail(f"{key}.limit", "must be a positive integer (conversations to keep)")
    me = item.get("me")
    if me is not None and (not isinstance(me, str) or not me.strip()):
        fail(f"{key}.me", "must be a non-empty string")
    return Source(fmt, path, limit, me)


def _section(data, name: str, schema: dict, fail) -> dict:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fail(name, "must be a mapping")
    values = {}
    for key, value in data.items():
        if key not in schema:
            fail(f"{name}.{key}", f"unknown key (known: {', '.join(schema)})")
        types, _ = schema[key]
        types = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            fail(f"{name}.{key}", f"must be {wanted}, got {type(value).__name__} {value!r}")
        values[key] = value
    return {key: values.get(key, default) for key, (_, default) in schema.items()}


def _check_ranges(sections: dict, fail) -> None:
    pairs, model, train = sections["pairs"], sections["model"], sections["train"]
    positive = [
        ("pairs.context_turns", pairs["context_turns"]),
        ("pairs.session_gap_hours", pairs["session_gap_hours"]),
        ("model.embed", model["embed"]),
        ("model.units", model["units"]),
        ("model.layers", model["layers"]),
        ("model.heads", model["heads"]),
        ("model.max_context_tokens", model["max_context_tokens"]),
        ("model.max_reply_tokens", model["max_reply_tokens"]),
        ("model.train_layers", model["train_layers"]),
        ("train.epochs", train["epochs"]),
        ("train.batch_size", train["batch_size"]),
        ("train.lr", train["lr"]),
    ]
    for key, value in positive:
        if not value > 0 or not math.isfinite(value):  # YAML's .nan and .inf are floats
            fail(key, f"must be positive, got {value}")
    if pairs["min_reply_chars"] < 0 or pairs["extra_personas"] < 0 or train["patience"] < 0:
        fail("pairs/train", "min_reply_chars, extra_personas and patience must be >= 0")
    if model["kind"] not in MODEL_KINDS:
        fail("model.kind", f"unknown model kind {model['kind']!r} (known: {', '.join(MODEL_KINDS)})")
    if model["lora_rank"] < 0:
        fail("model.lora_rank", f"must be >= 0 (0: the blocks train whole), got {model['lora_rank']}")
    if model["attention"] not in ATTENTIONS:
        fail("model.attention", f"unknown attention {model['attention']!r} (known: {', '.join(ATTENTIONS)})")
    if model["vocab"] < 300:
        fail("model.vocab", f"too small ({model['vocab']}): a byte-level BPE needs at least 300")
    if not 0 <= model["dropout"] < 1:
        fail("model.dropout", f"must be in [0, 1), got {model['dropout']}")
    if not 0 < train["val_fraction"] < 0.5:
        # that share of conversations is the test split, and as many again validation
        fail("train.val_fraction", f"must be in (0, 0.5), got {train['val_fraction']}")
    if train["schedule"] not in SCHEDULES:
        fail("train.schedule", f"unknown schedule {train['schedule']!r} (known: "
             f"{', '.join(SCHEDULES)})")
    if model["precision"] not in PRECISIONS:
        fail("model.precision", f"unknown precision {model['precision']!r} (known: "
             f"{', '.join(PRECISIONS)})")
    if model["kind"] == "transformer" and model["embed"] % model["heads"]:
        fail("model.heads", f"must divide model.embed ({model['embed']})")


def kind_hyperparameters(hp: dict) -> dict:
    """`hp` without the model keys its kind does not read (derived entries stay)."""
    unused = set(MODEL_KEYS) - set(KIND_KEYS[hp["kind"]])
    return {key: value for key, value in hp.items() if key not in unused}
