"""The ledger in one SQLite file (the default; see records.py for what it holds).

One file in WAL mode; every change is one immediate transaction, so several processes
can share it.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from backend import sqlite_file
from backend.bots.ledger.records import (
    CLAIMED,
    DONE,
    REPLY_HISTORY_S,
    SKIPPED,
    MentionRecord,
    newer_id,
)


class SqliteState:
    """State in one SQLite file; safe across processes (WAL + immediate transactions)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS mentions (
        mention_id TEXT PRIMARY KEY, author_id TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, reply_id TEXT, owner TEXT, claimed_at REAL, updated_at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS mentions_status ON mentions (status, claimed_at);
    CREATE TABLE IF NOT EXISTS opt_outs (user_id TEXT PRIMARY KEY, at REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS user_replies (user_id TEXT NOT NULL, at REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS user_replies_user ON user_replies (user_id, at);
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite_file.connect(self.path, "FULL", check_same_thread=False)
        self._db.executescript(self.SCHEMA)

    @contextlib.contextmanager
    def _transaction(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        """A query outside any transaction of another thread sharing this connection."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        self._db.close()

    # --- poll position and rate limits ---------------------------------------------------
    def _get(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _put(self, db, key: str, value: str) -> None:
        db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    def initialized(self) -> bool:
        return self._get("initialized") is not None

    def initialize(self, since_id: str | None) -> None:
        """Mark the first start done; `since_id` is the newest mention seen (or None)."""
        with self._transaction() as db:
            self._put(db, "initialized", "1")
            if since_id is not None:
                self._put(db, "since_id", since_id)

    def since_id(self) -> str | None:
        return self._get("since_id")

    def advance_since_id(self, mention_id: str) -> None:
        """Move the poll position forward to `mention_id` (never backwards)."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM kv WHERE key = 'since_id'").fetchone()
            self._put(db, "since_id", newer_id(row[0] if row else None, mention_id))

    def reset_time(self) -> float:
        value = self._get("reset_time")
        return float(value) if value else 0.0

    def set_reset_time(self, when: float) -> None:
        with self._transaction() as db:
            self._put(db, "reset_time", repr(float(when)))

    # --- mentions -----------------------------------------------------------------------
    def mention(self, mention_id: str) -> MentionRecord | None:
        rows = self._read(
            "SELECT mention_id, author_id, status, reason, reply_id, owner, claimed_at"
            " FROM mentions WHERE mention_id = ?", (mention_id,)
        )
        return MentionRecord(*rows[0]) if rows else None

    def claim(self, mention_id: str, author_id: str, owner: str, now: float) -> bool:
        """Conditional insert: True if this caller now holds the claim."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO mentions (mention_id, author_id, status, owner,"
                " claimed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (mention_id, author_id, CLAIMED, owner, now, now),
            )
            return cursor.rowcount == 1

    def take_over(self, record: MentionRecord, owner: str, now: float) -> bool:
        """Take a stale claim, only if nobody changed it since `record` was read."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE mentions SET owner = ?, claimed_at = ?, updated_at = ?"
                " WHERE mention_id = ? AND status = ? AND owner = ? AND claimed_at = ?",
                (owner, now, now, record.mention_id, CLAIMED, record.owner, record.claimed_at),
            )
            return cursor.rowcount == 1

    def confirm(self, mention_id: str, reply_id: str | None, now: float,
                reason: str | None = None) -> bool:
        """claimed -> done, and count the reply against its author's hourly cap."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE mentions SET status = ?, reply_id = ?, reason = ?, updated_at = ?"
                " WHERE mention_id = ? AND status = ?",
                (DONE, reply_id, reason, now, mention_id, CLAIMED),
            )
            if cursor.rowcount != 1:
                return False
            (author_id,) = db.execute(
                "SELECT author_id FROM mentions WHERE mention_id = ?", (mention_id,)
            ).fetchone()
            db.execute("INSERT INTO user_replies (user_id, at) VALUES (?, ?)", (author_id, now))
            db.execute("DELETE FROM user_replies WHERE user_id = ? AND at < ?",
                       (author_id, now - REPLY_HISTORY_S))  # only the last hour is ever asked
            return True

    def skip(self, mention_id: str, author_id: str, reason: str, now: float) -> bool:
        """Record a skip for a new mention, or turn our claim into a skip."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO mentions (mention_id, author_id, status, reason,"
                " updated_at) VALUES (?, ?, ?, ?, ?)",
                (mention_id, author_id, SKIPPED, reason, now),
            )
            if cursor.rowcount == 1:
                return True
            cursor = db.execute(
                "UPDATE mentions SET status = ?, reason = ?, updated_at = ?"
                " WHERE mention_id = ? AND status = ?",
                (SKIPPED, reason, now, mention_id, CLAIMED),
            )
            return cursor.rowcount == 1

    def stale_claims(self, claimed_before: float) -> list[MentionRecord]:
        rows = self._read(
            "SELECT mention_id, author_id, status, reason, reply_id, owner, claimed_at"
            " FROM mentions WHERE status = ? AND claimed_at < ? ORDER BY claimed_at",
            (CLAIMED, claimed_before),
        )
        return [MentionRecord(*row) for row in rows]

    def all_mentions(self) -> list[MentionRecord]:
        rows = self._read(
            "SELECT mention_id, author_id, status, reason, reply_id, owner, claimed_at"
            " FROM mentions"
        )
        return [MentionRecord(*row) for row in rows]

    # --- people ------------------------------------------------------------------------
    def set_opted_out(self, user_id: str, opted_out: bool, now: float) -> None:
        with self._transaction() as db:
            if opted_out:
                db.execute("INSERT OR REPLACE INTO opt_outs VALUES (?, ?)", (user_id, now))
            else:
                db.execute("DELETE FROM opt_outs WHERE user_id = ?", (user_id,))

    def opted_out(self, user_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM opt_outs WHERE user_id = ?", (user_id,)))

    def replies_since(self, user_id: str, since: float) -> int:
        return self._read(
            "SELECT COUNT(*) FROM user_replies WHERE user_id = ? AND at >= ?", (user_id, since)
        )[0][0]
