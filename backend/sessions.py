"""Per-session conversation history kept on the server, so two users never share context.

Bounded three ways: at most `max_sessions` sessions (least recently used evicted), a
session idle for `ttl_s` is forgotten, and only its last `max_turns` turns are kept.
Per worker process: a session's history lives in the worker that served it.
A turn is (text, speaker): the speaker is the persona for the bot's own replies and None
for the user, so the model sees which earlier turns were its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

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
