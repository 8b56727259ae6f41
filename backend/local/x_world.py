"""The X sandbox's little world (the state behind backend/local/x_sandbox.py).

The world holds users, tweets, injected faults and rate-limit windows, behind one lock;
`backend/local/x_sandbox.py` speaks X's HTTP shapes over it. With `--state FILE` the world is
saved (atomically) after every change and loaded on start. With `--accept-duplicates` the
bot may post the same text twice (X refuses that with a 403), so a test sees a double
reply instead of having it hidden by that refusal.

Sandbox credentials (what the poller uses when X_API_BASE is set and no X_* credentials
are): the app bearer token reads; the OAuth 1.0a keys (HMAC-SHA1 signatures are checked)
or the user bearer token act as the bot account.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backend.bots.x.tweet_text import MAX_WEIGHTED_LENGTH, weighted_length
from model.errors import InputError
from model.files import atomic_output

SANDBOX_USER_BEARER = "sandbox-user-bearer"  # an OAuth 2.0 user-context token for the bot
TWITTER_EPOCH_MS = 1288834974657  # snowflake ids: (ms since this) << 22, beyond 2**53
FIRST_USER_ID = 4_000_000_000
DUPLICATE_WINDOW_S = 24 * 3600
# Per-endpoint rate-limit windows (requests per 15 minutes), close to X's published ones.
RATE_LIMITS = {"me": 75, "mentions": 450, "lookup": 900, "user_tweets": 900,
               "create_tweet": 200, "delete_tweet": 50}
WINDOW_S = 15 * 60
MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
LEADING_MENTIONS = re.compile(r"^(?:@\w{1,15}\s+)+")


class SandboxError(Exception):
    """A request the world refuses; the API turns it into X's error body."""

    def __init__(self, status: int, title: str, detail: str, kind: str = "about:blank"):
        super().__init__(detail)
        self.status, self.title, self.detail, self.kind = status, title, detail, kind


@dataclass
class Fault:
    endpoint: str
    status: int | None = None  # None: only the delay
    count: int = 1  # how many calls it hits; -1 = until cleared
    reset_in: float = 60.0  # 429: x-rate-limit-reset = now + reset_in
    omit_reset_header: bool = False
    delay_s: float = 0.0  # wait before handling the request (X is slow to act on it)
    answer_delay_s: float = 0.0  # handle it, then hold the answer back (X acted, answered late)
    body: object = None  # replaces the response body (malformed responses)

    FIELDS = ("endpoint", "status", "count", "reset_in", "omit_reset_header", "delay_s",
              "answer_delay_s", "body")


def iso_time(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(when * 1000) % 1000:03d}Z"
    )


@dataclass
class World:
    bot_username: str = "doppel"
    state_path: Path | None = None
    users: dict = field(default_factory=dict)  # id -> {id, name, username}
    tweets: dict = field(default_factory=dict)  # id -> tweet (all fields), insertion = time order
    faults: list = field(default_factory=list)
    windows: dict = field(default_factory=dict)  # endpoint -> (remaining, reset epoch)
    rate_limits: dict = field(default_factory=dict)  # overrides of RATE_LIMITS
    accept_duplicates: bool = False  # the bot's duplicate posts are not refused
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self):
        if self.state_path and self.state_path.exists():
            self._load()
        self.bot = self.user_named(self.bot_username)

    # --- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        try:
            saved = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.users = {u["id"]: u for u in saved["users"]}
            self.tweets = {t["id"]: t for t in saved["tweets"]}
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"not a sandbox state file: {exc}", path=str(self.state_path)) from None

    def save(self) -> None:
        if self.state_path is None:
            return
        with atomic_output(self.state_path) as handle:
            json.dump({"users": list(self.users.values()), "tweets": list(self.tweets.values())},
                      handle, ensure_ascii=False)

    # --- people and tweets -------------------------------------------------------------
    def user_named(self, username: str) -> dict:
        """The user with this handle, created on first use."""
        if not re.fullmatch(r"\w{1,15}", username or ""):
            raise SandboxError(400, "Invalid Request", f"bad username {username!r}")
        with self.lock:
            for user in self.users.values():
                if user["username"].lower() == username.lower():
                    return user
            user_id = str(FIRST_USER_ID + len(self.users))
            user = {"id": user_id, "name": username.capitalize(), "username": username}
            self.users[user_id] = user
            self.save()
            return user

    def tweet(self, tweet_id: str) -> dict | None:
        return self.tweets.get(str(tweet_id))

    def create_tweet(self, author: dict, text: str, in_reply_to: str | None = None,
                     created_at: float | None = None, refuse_duplicates: bool = True) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise SandboxError(400, "Invalid Request", "text must be a non-empty string")
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            raise SandboxError(400, "Invalid Request",
                               f"text is {weighted_length(text)} weighted characters; the "
                               f"limit is {MAX_WEIGHTED_LENGTH}")
        with self.lock:
            parent = self.tweet(in_reply_to) if in_reply_to is not None else None
            if in_reply_to is not None and parent is None:
                raise SandboxError(
                    400, "Invalid Request",
                    "Your Tweet could not be sent: the tweet you are replying to does not exist.",
                    "https://api.twitter.com/2/problems/invalid-request",
                )
            if parent is not None:
                # X puts the replied-to author's handle in front of a reply's text.
                handle = self.users[parent["author_id"]]["username"]
                leading = LEADING_MENTIONS.match(text)
                named = MENTION.findall(leading.group()) if leading else []
                if parent["author_id"] != author["id"] and handle.lower() not in map(str.lower, named):
                    text = f"@{handle} {text}"
            now = time.time() if created_at is None else created_at
            if refuse_duplicates and any(
                t["author_id"] == author["id"] and t["text"] == text
                and now - t["created_ts"] < DUPLICATE_WINDOW_S for t in self.tweets.values()
            ):
                raise SandboxError(403, "Forbidden",
                                   "You are not allowed to create a Tweet with duplicate content.")
            tweet_id = self._next_id()
            tweet = {
                "id": tweet_id, "text": text, "author_id": author["id"],
                "conversation_id": parent["conversation_id"] if parent else tweet_id,
                "created_at": iso_time(now), "created_ts": now,
                "edit_history_tweet_ids": [tweet_id],
            }
            if parent is not None:
                tweet["in_reply_to_user_id"] = parent["author_id"]
                tweet["referenced_tweets"] = [{"type": "replied_to", "id": parent["id"]}]
            self.tweets[tweet_id] = tweet
            self.save()
            return tweet

    def _next_id(self) -> str:
        """A snowflake id: grows with time, so ids stay increasing across sandbox restarts
        (a poller's since_id from an earlier run never hides new mentions)."""
        snowflake = (int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22
        newest = max((int(i) for i in self.tweets), default=0)
        return str(max(snowflake, newest + 1))

    def delete_tweet(self, user: dict, tweet_id: str) -> bool:
        with self.lock:
            tweet = self.tweet(tweet_id)
            if tweet is None:
                return False
            if tweet["author_id"] != user["id"]:
                raise SandboxError(403, "Forbidden", "You are not allowed to delete this Tweet.")
            del self.tweets[tweet_id]
            self.save()
            return True

    def mentions_of(self, user: dict) -> list[dict]:
        """Tweets naming @user, newest first (as X's mentions timeline orders them)."""
        handle = user["username"].lower()
        with self.lock:
            found = [t for t in self.tweets.values()
                     if handle in (m.lower() for m in MENTION.findall(t["text"]))]
        return sorted(found, key=lambda t: int(t["id"]), reverse=True)

    def tweets_by(self, user: dict) -> list[dict]:
        with self.lock:
            found = [t for t in self.tweets.values() if t["author_id"] == user["id"]]
        return sorted(found, key=lambda t: int(t["id"]), reverse=True)

    # --- faults and rate limits ----------------------------------------------------------
    def add_fault(self, spec: dict) -> Fault:
        unknown = sorted(set(spec) - set(Fault.FIELDS))
        if unknown or spec.get("endpoint") not in RATE_LIMITS:
            raise SandboxError(
                400, "Invalid Request",
                f"fault needs endpoint in {sorted(RATE_LIMITS)}; unknown keys: {unknown}",
            )
        try:
            fault = Fault(**spec)
            fault.count, fault.delay_s = int(fault.count), float(fault.delay_s)
            fault.answer_delay_s = float(fault.answer_delay_s)
            fault.reset_in = float(fault.reset_in)
        except (TypeError, ValueError) as exc:
            raise SandboxError(400, "Invalid Request", f"bad fault: {exc}") from None
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.endpoint == endpoint and fault.count != 0:
                    fault.count -= 1 if fault.count > 0 else 0
                    return fault
        return None

    def spend_request(self, endpoint: str, now: float) -> tuple[int, int, int]:
        """Count a call in its 15-minute window: (limit, remaining, reset epoch)."""
        limit = self.rate_limits.get(endpoint, RATE_LIMITS[endpoint])
        with self.lock:
            remaining, reset = self.windows.get(endpoint, (limit, int(now) + WINDOW_S))
            if now >= reset:
                remaining, reset = limit, int(now) + WINDOW_S
            remaining = max(remaining - 1, -1)
            self.windows[endpoint] = (remaining, reset)
        return limit, remaining, reset

