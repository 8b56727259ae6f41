"""The frozen blocks' hidden states, on disk in the work folder, reused while they hold.

Training runs the frozen lower blocks once per example and trains the top blocks on
their output. Kept in memory, those states grow with the corpus (float16, 1.1 kB per
token at hidden 576: the demo's 2 M tokens are 2.3 GB, a few years of one person's
chats several times that), and every `--resume` or rerun with other training settings
computed them again (16 of the demo's 44 minutes). So they are appended, as they are
computed, to one float16 file per split, with a record of what it holds:

    WORK/frozen/NAME.f16    [rows, hidden] float16, examples in the order they were computed
    WORK/frozen/NAME.json   {"key", "hidden", "starts", "lengths"}: example i's rows are
                            starts[i] : starts[i] + lengths[i]; starts[i] is -1 (and
                            lengths[i] 0) while example i is not cached yet

and read back through a memory map, so the page cache, not the process, holds them. The
key hashes everything the states depend on (the base file, how many blocks are frozen,
the compute precision, every example's ids): a rerun on the same pairs reuses them, any
change recomputes them.

The record is replaced atomically, after the data it names is flushed to disk: every
RECORD_EVERY_S seconds while caching (13 ms for 20,000 examples, so 0.1% of the time)
and whenever the writing stops, done, interrupted (Ctrl-C, SIGTERM) or failed. So a run
cut short keeps what it computed (all of it; killed outright, SIGKILL or a power cut, all
but the last RECORD_EVERY_S seconds' worth), and the next run with the same key computes only the examples the
record lacks: it first cuts the data file back to the rows the record names, dropping a
torn last example. Another key, or a data file shorter than its record, starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from model.files import atomic_output, naming_write_errors

RECORD_EVERY_S = 10  # at most this much computing is lost to a kill that skips `finally`


class FrozenStates:
    """Example i's states [T_i, H] (float16, read-only) as `states[i]`."""

    def __init__(self, data: np.ndarray, starts: Sequence[int], lengths: Sequence[int]):
        self._data = data
        self._starts = np.asarray(starts, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = self._starts[index]
        return self._data[start:start + self.lengths[index]]


def cache_key(base_sha256: str, frozen_blocks: int, precision: str,
              sequences: Sequence[Sequence[int]]) -> str:
    """sha256 of what the frozen blocks' output depends on."""
    digest = hashlib.sha256(json.dumps([base_sha256, frozen_blocks, precision]).encode())
    for sequence in sequences:
        digest.update(np.asarray(sequence, dtype="<i4").tobytes() + b"\xff\xff\xff\xff")
    return digest.hexdigest()


def open_cached(folder: Path, name: str, key: str) -> FrozenStates | None:
    """The states written under `key`, or None (none yet, another key, or not all written)."""
    record = _read_record(folder / f"{name}.json", key)
    if record is None or (record.starts < 0).any():
        return None
    rows, data_path = int(record.lengths.sum()), folder / f"{name}.f16"
    if _size(data_path) != rows * record.hidden * 2:
        return None
    data = (np.memmap(data_path, dtype=np.float16, mode="r", shape=(rows, record.hidden))
            if rows else np.zeros((0, record.hidden), np.float16))  # memmap refuses 0 bytes
    return FrozenStates(data, record.starts, record.lengths)


class _Record(NamedTuple):
    hidden: int
    starts: np.ndarray  # -1: not cached yet
    lengths: np.ndarray


def _read_record(path: Path, key: str) -> _Record | None:
    """NAME.json if it was written under `key` (None: no record, another key, unreadable)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta["key"] != key:
            return None
        record = _Record(int(meta["hidden"]), np.asarray(meta["starts"], np.int64),
                         np.asarray(meta["lengths"], np.int64))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.starts.ndim != 1 or record.starts.shape != record.lengths.shape:
        return None
    return record


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class CacheWriter:
    """Appends examples' states to NAME.f16, resuming what an earlier run under the same
    key recorded; `missing` are the examples still to compute."""

    def __init__(self, folder: Path, name: str, key: str, hidden: int, count: int):
        folder.mkdir(parents=True, exist_ok=True)
        self._folder, self._name, self._key, self._hidden = folder, name, key, hidden
        self._data_path, self._record_path = folder / f"{name}.f16", folder / f"{name}.json"
        self._starts, self._lengths = np.full(count, -1, np.int64), np.zeros(count, np.int64)
        record = _read_record(self._record_path, key)
        if (record is not None and record.hidden == hidden and len(record.starts) == count
                and _size(self._data_path) >= record.lengths.sum() * hidden * 2):
            self._starts[:], self._lengths[:] = record.starts, record.lengths

    @property
    def missing(self) -> np.ndarray:
        """The indices of the examples not cached yet."""
        return np.flatnonzero(self._starts < 0)

    def write(self, batches: Iterable[tuple[Sequence[int], np.ndarray, Sequence[int]]]
              ) -> FrozenStates:
        """Append what `batches` yields, (example indices, states [B, T, H], lengths),
        examples in any order, recording progress as it goes and however it stops; then
        open the whole."""
        rows = int(self._lengths.sum())
        with naming_write_errors(self._data_path), open(self._data_path, "ab") as handle:
            handle.truncate(rows * self._hidden * 2)  # a torn example after the record's
            recorded = time.monotonic()
            try:
                for indices, states, lengths in batches:
                    for row, index in enumerate(indices):
                        length = int(lengths[row])
                        handle.write(np.ascontiguousarray(states[row, :length],
                                                          np.float16).tobytes())
                        self._starts[index], self._lengths[index] = rows, length
                        rows += length
                    if time.monotonic() - recorded > RECORD_EVERY_S:
                        self._record(handle)
                        recorded = time.monotonic()
            finally:
                self._record(handle)
        return open_cached(self._folder, self._name, self._key)

    def _record(self, data) -> None:
        """Name in NAME.json the examples now in the data file, once they are on disk."""
        data.flush()
        os.fsync(data.fileno())
        with atomic_output(self._record_path) as handle:
            json.dump({"key": self._key, "hidden": self._hidden,
                       "starts": self._starts.tolist(), "lengths": self._lengths.tolist()},
                      handle)
