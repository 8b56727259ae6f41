"""Opening the SQLite files that several processes share: the bot's state, the web
sessions and the rate-limit buckets (one file each, written by every gunicorn worker)."""
from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


def connect(path: str | Path, synchronous: str, check_same_thread: bool = True,
            clock=time.monotonic, sleep=time.sleep) -> sqlite3.Connection:
    """An autocommit connection in WAL mode that waits up to BUSY_TIMEOUT_S for locks.

    `synchronous` is SQLite's setting (FULL for a ledger, NORMAL or OFF where a crash may
    forget a little)."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                         check_same_thread=check_same_thread)
    # Turning a file to WAL needs an exclusive lock, and SQLite answers "database is
    # locked" at once rather than waiting out the busy timeout when another connection
    # holds a write lock: two gunicorn workers opening a new file together lost one
    # worker that way. So wait here, with jitter so the workers do not collide again.
    deadline = clock() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or clock() > deadline:
                db.close()
                raise
            sleep(0.01 + 0.04 * random.random())
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db
