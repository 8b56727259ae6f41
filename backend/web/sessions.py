"""Per-session conversation history kept on the server, so two users never share context.

Bounded three ways: at most `max_sessions` sessions (least recently used evicted), a
session idle for `ttl_s` is forgotten, and only its last `max_turns` turns are kept.
Two stores with one interface: `SessionStore` in this process's memory, and
`SqliteSessionStore` in one SQLite file that every gunicorn worker shares (a session's
next request may land on another worker). A turn is (text, speaker): the speaker is the persona for the bot's own replies and None
for the user, so the model sees which earlier turns were its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from backend import sqlite_file

Turn = tuple[str, str | None]  # (text, speaker or None)


class SessionStore:
    def __init__(self, max_sessions: int, ttl_s: float, max_turns: int,
                 clock: Callable[[], float] = time.monotonic):
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.max_turns = max_turns
        self._clock = clock
        self._lock = threading.Lock()
        # session id -> (last seen, turns oldest first); ordered least recently seen first
        self._sessions: OrderedDict[str, tuple[float, list[Turn]]] = OrderedDict()

    def history(self, session_id: str) -> list[Turn]:
        """The session's recent turns, oldest first; [] for a new or expired session."""
        with self._lock:
            self._expire(self._clock())
            entry = self._sessions.get(session_id)
            return list(entry[1]) if entry else []

    def record(self, session_id: str, turns: list[Turn]) -> None:
        """Append turns (the user's, then the bot's) and mark the session as just used."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            _, old = self._sessions.pop(session_id, (now, []))
            kept = (old + list(turns))[-self.max_turns:] if self.max_turns > 0 else []
            self._sessions[session_id] = (now, kept)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def forget(self, session_id: str) -> None:
        """Drop a session's history (Telegram's /forget)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        # Least recently seen first, so expired sessions are all at the front.
        while self._sessions:
            session_id, (last_seen, _) = next(iter(self._sessions.items()))
            if now - last_seen < self.ttl_s:
                break
            del self._sessions[session_id]


class SqliteSessionStore:
    """The same bounds in one SQLite file (WAL), safe across processes and threads."""

    def __init__(self, path: str | Path, max_sessions: int, ttl_s: float, max_turns: int,
                 clock: Callable[[], float] = time.time):
        self.path = str(path)
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.max_turns = max_turns
        self._clock = clock  # wall clock: several processes compare these times
        self._local = threading.local()
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, "
                       "last_seen REAL NOT NULL, turns TEXT NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS sessions_by_age ON sessions (last_seen)")

    def history(self, session_id: str) -> list[Turn]:
        row = self._connection().execute(
            "SELECT turns FROM sessions WHERE id = ? AND last_seen > ?",
            (session_id, self._clock() - self.ttl_s)).fetchone()
        return [tuple(turn) for turn in json.loads(row[0])] if row else []

    def record(self, session_id: str, turns: list[Turn]) -> None:
        now = self._clock()
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE last_seen <= ?", (now - self.ttl_s,))
            row = db.execute("SELECT turns FROM sessions WHERE id = ?",
                             (session_id,)).fetchone()
            old = [tuple(turn) for turn in json.loads(row[0])] if row else []
            kept = (old + list(turns))[-self.max_turns:] if self.max_turns > 0 else []
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                       (session_id, now, json.dumps(kept, ensure_ascii=False)))
            db.execute("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
                       "ORDER BY last_seen DESC LIMIT -1 OFFSET ?)", (self.max_sessions,))

    def forget(self, session_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def __len__(self) -> int:
        return self._connection().execute(
            "SELECT COUNT(*) FROM sessions WHERE last_seen > ?",
            (self._clock() - self.ttl_s,)).fetchone()[0]

    def _connection(self) -> sqlite3.Connection:
        # one connection per thread; autocommit, with explicit write transactions
        db = getattr(self._local, "db", None)
        if db is None:
            # synchronous NORMAL: history is a convenience, not a ledger
            db = sqlite_file.connect(self.path, "NORMAL")
            self._local.db = db
        return db

    def _transaction(self):
        return _Immediate(self._connection())


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): one writer at a time, no upgrades."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def open_sessions(path: str, max_sessions: int, ttl_s: float,
                  max_turns: int) -> SessionStore | SqliteSessionStore:
    """A file-backed store shared by processes when `path` is set, else one in memory."""
    if path:
        return SqliteSessionStore(path, max_sessions, ttl_s, max_turns)
    return SessionStore(max_sessions, ttl_s, max_turns)
