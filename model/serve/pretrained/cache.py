"""The pretrained serving cache: where assembled graphs live, their locks, their upkeep.

$DOPPEL_CACHE, else ~/.cache/doppel (on Lambda: /tmp/doppel-cache), holds one folder per
assembled graph, `<bundle name>-<24 hex>` (assemble.serving_graph keys it by the sha256s
of everything it is built from), with RECORD_FILE naming its files' sha256s. A file lock
beside each folder serialises the processes that want it (gunicorn workers start
together: the first assembles, the others wait and reuse it).

Each retrain or re-export makes another folder (about 140 MB for the demo; on Lambda's
small /tmp it matters most), so each assembly tidies the cache (tidy_cache): of the bundle
name's other folders it keeps the $DOPPEL_CACHE_KEEP (default 2) most recently used, and
it removes what assemblies cut short left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import tempfile
import time
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from model.errors import InputError
from model.files import sha256_file

RECORD_FILE = "sha256.json"

logger = logging.getLogger("doppel.model")
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


def reusable(folder: Path) -> bool:
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
def folder_lock(folder: Path, wait: bool = True):
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
    with folder_lock(owner, wait=False) as held:
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


