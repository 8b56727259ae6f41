"""Housekeeping of the pretrained serving cache (cache.tidy_cache): each assembly removes
its bundle name's graphs unused beyond $DOPPEL_CACHE_KEEP and leftovers of cut-short ones."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from model.errors import InputError
from model.serve.load import load_replier
from model.serve.pretrained.cache import RECORD_FILE, folder_lock, kept_per_bundle, tidy_cache

HOUR = 3600
MB = 1_000_000


def graph(root: Path, name: str, hours_ago: float, size: int = MB) -> Path:
    """A cache folder shaped as serving_graph makes it, last used `hours_ago`."""
    folder = root / f"{name}-{hours_ago * 1000:024.0f}"
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\0" * size)
    (folder / RECORD_FILE).write_text("{}")
    age(folder, hours_ago)
    return folder


def age(path: Path, hours_ago: float) -> None:
    when = time.time() - hours_ago * HOUR
    os.utime(path, (when, when))


def test_graphs_of_the_same_bundle_beyond_the_limit_go_the_most_recently_used_stay(
        tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="doppel")
    new = graph(tmp_path, "mara", 0)
    kept = [graph(tmp_path, "mara", hours) for hours in (2, 3)]
    doomed = [graph(tmp_path, "mara", hours, size=3 * MB) for hours in (4, 50)]
    others = [graph(tmp_path, "mara-ci", 70), graph(tmp_path, "bob", 80)]
    (tmp_path / "bases" / "abc").mkdir(parents=True)  # the bases the cache also holds
    not_ours = [tmp_path / "notes.txt", tmp_path / f"mara-{'f' * 24}", tmp_path / "bases"]
    not_ours[0].write_text("mine")
    not_ours[1].mkdir()  # shaped like a graph, but without its record
    age(not_ours[1], 90)
    tidy_cache(new, kept=2)

    assert all(path.exists() for path in [new, *kept, *others, *not_ours])
    assert not any(path.exists() for path in doomed)
    assert not any(tmp_path.glob(f".{doomed[0].name}*"))  # their lock files go too
    assert f"removed {doomed[0].name} from the cache (3 MB; last used" in caplog.text
    assert "6 MB freed" in caplog.text


def test_a_graph_used_within_the_hour_or_locked_by_another_process_stays(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="doppel")
    new = graph(tmp_path, "mara", 0)
    in_use = graph(tmp_path, "mara", 0.5)  # a load elsewhere may be opening its files
    locked = graph(tmp_path, "mara", 5)
    with open(tmp_path / f".{locked.name}.lock", "w") as lock:  # as serving_graph holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        tidy_cache(new, kept=0)
        assert locked.is_dir() and in_use.is_dir()
        assert f"kept {locked.name}, which another process holds" in caplog.text
    tidy_cache(new, kept=0)
    assert in_use.is_dir() and not locked.exists()


def test_a_load_waiting_on_a_lock_file_that_is_deleted_locks_the_one_there_now(tmp_path):
    folder = tmp_path / f"mara-{'0' * 24}"
    locked, done = threading.Event(), threading.Event()

    def load():
        with folder_lock(folder):
            locked.set()
            done.wait(10)

    waiter = threading.Thread(target=load)
    with folder_lock(folder):  # as tidy_cache holds it while removing the graph
        waiter.start()
        time.sleep(0.2)  # the waiter opens the lock file and waits (late, it opens the next)
        (tmp_path / f".{folder.name}.lock").unlink()
    assert locked.wait(10)
    with folder_lock(folder, wait=False) as held:
        assert not held  # the waiter holds the file at the path, not the deleted one
    done.set()
    waiter.join()


def test_leftovers_of_cut_short_assemblies_go_after_an_hour(tmp_path):
    new = graph(tmp_path, "mara", 0)
    stale = tmp_path / ".bob-0123456789abcdef01234567.k2_x9q0a"  # tempfile.mkdtemp's shape
    fresh = tmp_path / ".bob-0123456789abcdef01234567.a8bd3z1y"  # an assembly under way
    for staging, hours in ((stale, 2), (fresh, 0.2)):
        staging.mkdir()
        (staging / "weights.bin").write_bytes(b"\0" * 100)
        age(staging, hours)
    orphan_lock = tmp_path / ".bob-fedcba9876543210fedcba98.lock"  # its graph never made
    orphan_lock.touch()
    kept_lock = tmp_path / f".{new.name}.lock"
    kept_lock.touch()
    tidy_cache(new, kept=2)

    assert not stale.exists() and fresh.is_dir()
    assert not orphan_lock.exists() and kept_lock.exists()


def test_doppel_cache_keep_sets_the_limit_or_switches_tidying_off(monkeypatch):
    assert kept_per_bundle() == 2
    for text, kept in (("0", 0), (" 5 ", 5), ("ALL", None)):
        monkeypatch.setenv("DOPPEL_CACHE_KEEP", text)
        assert kept_per_bundle() == kept
    for text in ("-1", "two", "1.5"):
        monkeypatch.setenv("DOPPEL_CACHE_KEEP", text)
        with pytest.raises(InputError, match=r"^DOPPEL_CACHE_KEEP: expected a whole number"):
            kept_per_bundle()


def test_an_assembly_tidies_unless_switched_off_and_a_load_marks_its_graph_used(
        tiny_bundle, cache, monkeypatch):
    name = json.loads((tiny_bundle / "bundle.json").read_text())["name"]
    old = [graph(cache, name, hours) for hours in (2, 3, 4)]
    monkeypatch.setenv("DOPPEL_CACHE_KEEP", "all")
    load_replier(tiny_bundle)  # assembles, removing nothing
    assert all(path.is_dir() for path in old)
    [new] = set(cache.glob(f"{name}-*")) - set(old)

    monkeypatch.delenv("DOPPEL_CACHE_KEEP")
    (new / RECORD_FILE).unlink()  # so assembled again
    load_replier(tiny_bundle)  # keeps the 2 most recently used others
    assert [path.exists() for path in old] == [True, True, False]

    age(new, 5)
    load_replier(tiny_bundle)  # reuses it: used now
    assert time.time() - new.stat().st_mtime < 60
