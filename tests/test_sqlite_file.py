"""Opening a shared SQLite file while another process holds its write lock."""
import sqlite3
import threading

from backend import sqlite_file
from backend.bots.ledger.sqlite import SqliteState
from backend.web.ratelimit import Buckets
from backend.web.sessions import SqliteSessionStore


def hold_write_lock(path, seconds):
    """A connection that is mid-write on a rollback-journal file for `seconds`: what a
    gunicorn worker that got there first looks like to the next one."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS first (k)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO first VALUES (1)")
    release = threading.Timer(seconds, lambda: (holder.execute("COMMIT"), holder.close()))
    release.start()
    return release


def test_plain_sqlite_gives_up_at_once_which_is_why_connect_waits(tmp_path):
    path = tmp_path / "shared.db"
    release = hold_write_lock(path, 0.3)
    try:
        raw = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            raise AssertionError("SQLite waited: connect()'s retry may be unneeded now")
        except sqlite3.OperationalError as error:
            assert "locked" in str(error)
    finally:
        release.join()


def test_every_shared_store_opens_while_another_process_writes(tmp_path):
    for open_store in (lambda p: Buckets(str(p)), lambda p: SqliteState(p),
                       lambda p: SqliteSessionStore(p, 10, 60, 4)._connection()):
        path = tmp_path / f"{id(open_store)}.db"
        release = hold_write_lock(path, 0.2)
        open_store(path)
        release.join()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT COUNT(*) FROM first").fetchone() == (1,)


def test_connect_gives_up_after_the_busy_timeout_and_closes(tmp_path, monkeypatch):
    path = tmp_path / "stuck.db"
    release = hold_write_lock(path, 0.3)
    now = [0.0]
    monkeypatch.setattr(sqlite_file, "BUSY_TIMEOUT_S", 0.0)

    def sleep(seconds):
        now[0] += seconds

    try:
        sqlite_file.connect(path, "FULL", clock=lambda: now[0], sleep=sleep)
        raise AssertionError("connect() should have given up")
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
    finally:
        release.join()
