"""Per-client token buckets that hold across every worker of a server.

A limit lets a client send `rate_per_s` requests a second, bursts up to `burst`. Each
bucket is kept the way GCRA (the generic cell rate algorithm) keeps it: as one number,
the time at which it will be full again. A request may go when taking its token leaves
that time at most `burst / rate_per_s` ahead of now. A bucket whose time has passed is
full, so its row can be dropped without changing any answer: the table only ever holds
clients seen within the last burst window. The rows live in SQLite, in a file every
gunicorn worker shares (`serve` sets one; otherwise each worker would grant the whole
burst again) or, for a single process, in memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from backend import sqlite_file

# Times are epoch seconds as floats, which carry ~1e-7 s of rounding per step; a request
# this close to its turn goes now, so a burst is never cut short by rounding.
SLACK_S = 1e-3


class Buckets:
    """The full-again times of every limit's buckets, in one SQLite database."""

    def __init__(self, path: str = ""):
        # One connection per process, used under a lock: the work is a few microseconds,
        # and threads queueing on a lock wait far less than on SQLite's busy retries.
        self._lock = threading.Lock()
        # synchronous OFF: a crash may forget counts, which is harmless
        self._db = sqlite_file.connect(path or ":memory:", "OFF", check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS buckets "
                         "(key TEXT PRIMARY KEY, full_at REAL NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS buckets_by_time ON buckets (full_at)")

    def update(self, key: str, now: float,
               step: Callable[[float], tuple[float | None, int]]) -> int:
        """Atomically, across processes: `step(full_at)` (`now` for an unknown key) gives
        the key's new time (None: unchanged) and the result to return."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT full_at FROM buckets WHERE key = ?",
                                       (key,)).fetchone()
                full_at, result = step(row[0] if row else now)
                if full_at is not None:
                    self._db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?)",
                                     (key, full_at))
                self._db.execute("DELETE FROM buckets WHERE full_at <= ?", (now,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result


class RateLimiter:
    """One limit over many clients; `name` keeps its buckets apart from other limits'."""

    def __init__(self, name: str, rate_per_s: float, burst: int, buckets: Buckets,
                 clock: Callable[[], float] = time.time):
        self.name = name
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._buckets = buckets
        self._clock = clock  # wall clock: several processes compare these times

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def acquire(self, client: str) -> int:
        """Take one token: 0 when allowed, else the whole seconds to wait (Retry-After)."""
        if not self.enabled:
            return 0
        now = self._clock()
        interval = 1 / self.rate_per_s

        def take(full_at: float) -> tuple[float | None, int]:
            after = max(full_at, now) + interval
            early_s = after - now - self.burst * interval
            if early_s > SLACK_S:
                return None, max(1, math.ceil(early_s))
            return after, 0

        return self._buckets.update(f"{self.name}:{client}", now, take)

    def release(self, client: str) -> None:
        """Give back the token `acquire` took: the request turned out not to count."""
        if self.enabled:
            self._buckets.update(f"{self.name}:{client}", self._clock(),
                                 lambda full_at: (full_at - 1 / self.rate_per_s, 0))
