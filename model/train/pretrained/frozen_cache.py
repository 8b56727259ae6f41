"""The frozen blocks' hidden states, on disk in the work folder, reused while they hold.

Training runs the frozen lower blocks once per example and trains the top blocks on
their output. Kept in memory, those states grow with the corpus (float16, 1.1 kB per
token at hidden 576: the demo's 2 M tokens are 2.3 GB, a few years of one person's
chats several times that), and every `--resume` or rerun with other training settings
computed them again (16 of the demo's 44 minutes). So they are written, as they are
computed, to one float16 file per split:

    WORK/frozen/NAME.f16    [tokens, hidden] float16, in the order they were computed
    WORK/frozen/NAME.json   {"key", "hidden", "starts", "lengths"}: example i's rows are
                            starts[i] : starts[i] + lengths[i]; written last

and read back through a memory map, so the page cache, not the process, holds them. The
key hashes everything the states depend on (the base file, how many blocks are frozen,
the compute precision, every example's ids): a rerun on the same pairs reuses them, any
change recomputes them. A run killed while writing leaves no NAME.json and is redone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from model.files import atomic_output


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
    """The states written under `key`, or None (none yet, another key, or half written)."""
    meta_path, data_path = folder / f"{name}.json", folder / f"{name}.f16"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        rows, hidden = sum(meta["lengths"]), meta["hidden"]
        if meta["key"] != key or data_path.stat().st_size != rows * hidden * 2:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    data = (np.memmap(data_path, dtype=np.float16, mode="r", shape=(rows, hidden)) if rows
            else np.zeros((0, hidden), np.float16))  # np.memmap refuses an empty file
    return FrozenStates(data, meta["starts"], meta["lengths"])


def write_cache(folder: Path, name: str, key: str, hidden: int, count: int,
                batches: Iterable[tuple[Sequence[int], np.ndarray, Sequence[int]]]
                ) -> FrozenStates:
    """Write what `batches` yields, (example indices, states [B, T, H], lengths), examples
    in any order, then open it. The data file is complete before NAME.json names it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").unlink(missing_ok=True)
    starts, lengths = [0] * count, [0] * count
    written = 0
    with atomic_output(folder / f"{name}.f16", mode="wb") as handle:
        for indices, states, batch_lengths in batches:
            for row, index in enumerate(indices):
                length = int(batch_lengths[row])
                handle.write(np.ascontiguousarray(states[row, :length], np.float16).tobytes())
                starts[index], lengths[index] = written, length
                written += length
    with atomic_output(folder / f"{name}.json") as handle:
        json.dump({"key": key, "hidden": hidden, "starts": starts, "lengths": lengths}, handle)
    return open_cached(folder, name, key)
