"""Serving side of a pretrained bundle: base + delta -> the graph's weights file, cached.

TF-free and onnx-free. A bundle ships `decoder.onnx` (the graph, weights external),
`weights_layout.json` (where each tensor goes in `weights.bin`) and `delta.npz` (the
fine-tuned tensors, int8 rows with a float scale each). The first load assembles
`weights.bin` from the installed base and the delta into a cache folder keyed by the
sha256s of all three inputs, and records the file's own sha256; later loads check that
sha256 and open the cached graph (a warm start).

The cache folder is $DOPPEL_CACHE, else ~/.cache/doppel (on Lambda: /tmp/doppel-cache).
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

from model.bundle import BundleError
from model.files import atomic_output, sha256_file

DELTA_FILE = "delta.npz"
GRAPH_FILE = "decoder.onnx"
LAYOUT_FILE = "weights_layout.json"
WEIGHTS_FILE = "weights.bin"
SCALE_SUFFIX = ":scale"

logger = logging.getLogger("doppel.model")


# --- the delta: what a fine-tune changed ------------------------------------------------


def pack_delta(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Matrices -> int8 rows + one float32 scale per row; vectors stay float32.

    Per-row int8 keeps the error (<0.4% of a row's largest weight) far below that of
    the 4-bit base it sits on, at a quarter of float32's size.
    """
    packed = {}
    for name, value in weights.items():
        value = np.asarray(value, np.float32)
        if value.ndim == 1:
            packed[name] = value
            continue
        scale = np.abs(value).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        packed[name] = np.clip(np.round(value / scale), -127, 127).astype(np.int8)
        packed[name + SCALE_SUFFIX] = scale.astype(np.float32)
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
        out[name] = value.astype(np.float32) * scale if scale is not None else value
    return out


# --- assembling the weights file --------------------------------------------------------


def cache_root() -> Path:
    configured = os.environ.get("DOPPEL_CACHE")
    if configured:
        return Path(configured)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return Path(tempfile.gettempdir()) / "doppel-cache"
    return Path.home() / ".cache" / "doppel"


def serving_graph(bundle_dir: Path, meta: dict) -> Path:
    """The path of a ready decoder.onnx with its weights.bin beside it (built if needed)."""
    files = meta["files"]
    key = hashlib.sha256("".join(
        [meta["base"]["sha256"], files[DELTA_FILE], files[GRAPH_FILE], files[LAYOUT_FILE]]
    ).encode()).hexdigest()[:24]
    folder = cache_root() / f"{meta['name']}-{key}"
    record = folder / "weights.sha256"
    if record.is_file() and (folder / WEIGHTS_FILE).is_file() and (folder / GRAPH_FILE).is_file():
        if sha256_file(folder / WEIGHTS_FILE) == record.read_text().strip():
            logger.info("serving graph from cache %s", folder)
            return folder / GRAPH_FILE
        logger.warning("cached weights in %s are damaged; assembling them again", folder)
    logger.info("assembling the serving graph (base %s + %s) into %s", meta["base"]["name"],
                DELTA_FILE, folder)
    build(bundle_dir, meta, folder)
    return folder / GRAPH_FILE


def build(bundle_dir: Path, meta: dict, folder: Path) -> None:
    """Write weights.bin, decoder.onnx and the sha256 record into `folder` atomically."""
    base_meta = meta["base"]
    weights = open_base(bundle_dir, base_meta).weights()
    delta = unpack_delta(bundle_dir / DELTA_FILE)
    unknown = sorted(set(delta) - set(weights))
    if unknown:
        raise BundleError(f"delta tensors {unknown[:3]} are not in the base "
                          f"{base_meta['name']} (does this bundle fit this base?)",
                          str(bundle_dir / DELTA_FILE))
    for name, value in delta.items():
        if value.shape != weights[name].shape:
            raise BundleError(f"delta tensor {name} has shape {value.shape}, the base has "
                              f"{weights[name].shape} (does this bundle fit this base?)",
                              str(bundle_dir / DELTA_FILE))
        weights[name] = value
    layout = json.loads((bundle_dir / LAYOUT_FILE).read_text(encoding="utf-8"))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        digest = hashlib.sha256()
        with open(staging / WEIGHTS_FILE, "wb") as handle:
            for entry in layout:
                value = weights[entry["name"]]
                value = np.ascontiguousarray(value.T if entry["transposed"] else value,
                                             np.float32)
                if list(value.shape) != entry["shape"] or handle.tell() > entry["offset"]:
                    raise BundleError(f"{LAYOUT_FILE}: {entry['name']} does not fit the base",
                                      str(bundle_dir / LAYOUT_FILE))
                padding = b"\0" * (entry["offset"] - handle.tell())
                handle.write(padding)
                digest.update(padding)
                data = value.tobytes()
                handle.write(data)
                digest.update(data)
        shutil.copyfile(bundle_dir / GRAPH_FILE, staging / GRAPH_FILE)
        with atomic_output(staging / "weights.sha256") as handle:
            handle.write(digest.hexdigest() + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def open_base(bundle_dir: Path, base_meta: dict):
    """The base a bundle was trained on: a known name, or the GGUF path training used;
    either way checked against the sha256 the bundle recorded."""
    from model.errors import InputError
    from model.pretrained.base import KNOWN_BASES, Base

    name = base_meta["name"] if base_meta["name"] in KNOWN_BASES else base_meta["path"]
    try:
        return Base.open(name, bundle_dir, sha256=base_meta["sha256"])
    except InputError as exc:
        raise BundleError(f"pretrained base: {exc}", str(bundle_dir / "bundle.json")) from None
