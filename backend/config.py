"""Every setting of the serving side, in one place, with its default and meaning.

Values come from (in order of precedence) the `overrides` mapping given to
`load_config` (tests, `create_app(config)`), then environment variables, then the
defaults below. The README's configuration table lists exactly these rows.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
# The pretrained demo: its blind sense grading beats the LSTM demo's (README, "The demo
# models"). The LSTM demo (data/models/demo) stays for the fast path, Lambda and tests.
DEMO_BUNDLE = ROOT / "data" / "models" / "demo-pretrained"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _json_object(text: str) -> dict:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text!r}")
    return value


@dataclass(frozen=True)
class Setting:
    env: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = str
    # numbers are finite and never negative; these must also be above 0 (a poll interval
    # of 0 spun the poller, a batch of 0 never answers)
    positive: bool = False

    def check(self, value: Any) -> Any:
        """`value` if it is in range, else ValueError."""
        if isinstance(value, int | float) and not isinstance(value, bool) and (
                not math.isfinite(value) or value < 0 or (self.positive and value == 0)):
            raise ValueError(f"expected a number {'above 0' if self.positive else '>= 0'}, "
                             f"got {value!r}")
        return value


SETTINGS: dict[str, Setting] = {
    # --- reply service (issue 5) -------------------------------------------------------
    "bundle": Setting("DOPPEL_BUNDLE", str(DEMO_BUNDLE), "model bundle directory to serve"),
    "api_key": Setting(
        "DOPPEL_API_KEY", "", "if set, POST /api/reply needs it (Bearer or X-API-Key header)"
    ),
    "api_key_for_reads": Setting(
        "DOPPEL_API_KEY_FOR_READS", False, "with DOPPEL_API_KEY set, GET /api/personas, "
        "/openapi.json and /metrics need the key too", _bool,
    ),
    "rate_limit_per_s": Setting(
        "DOPPEL_RATE_LIMIT_PER_S", 5.0, "replies per second per client IP address; 0 = off",
        float,
    ),
    "rate_limit_burst": Setting(
        "DOPPEL_RATE_LIMIT_BURST", 20, "requests a client may send at once before limiting", int
    ),
    "auth_fail_per_s": Setting(
        "DOPPEL_AUTH_FAIL_PER_S", 0.1,
        "wrong or missing API keys per second per client IP, after the burst; 0 = off", float,
    ),
    "auth_fail_burst": Setting(
        "DOPPEL_AUTH_FAIL_BURST", 10, "wrong or missing API keys a client IP may send before "
        "its key checks are refused (429)", int,
    ),
    "rate_limit_db": Setting(
        "DOPPEL_RATE_LIMIT_DB", "", "SQLite file for rate-limit buckets shared by workers "
        "(`serve` sets one); empty = each process counts alone, in memory"
    ),
    "trusted_proxies": Setting(
        "DOPPEL_TRUSTED_PROXIES", 0, "X-Forwarded-For hops to trust for the client IP", int
    ),
    "batching": Setting(
        "DOPPEL_BATCHING", True, "decode concurrent requests together (micro-batching)", _bool
    ),
    "continuous_batching": Setting(
        "DOPPEL_CONTINUOUS_BATCHING", True, "a bundle whose default decoding is a beam search "
        "(the pretrained kind) runs one search that takes requests as its rows free up and "
        "answers each when done; false: micro-batches that answer together", _bool
    ),
    "batch_wait_ms": Setting(
        "DOPPEL_BATCH_WAIT_MS", 5.0, "how long a micro-batch waits for more requests", float
    ),
    "batch_max": Setting("DOPPEL_BATCH_MAX", 64, "largest micro-batch (64 measured best on 2 "
                         "cores); a pretrained bundle's running beam search takes as many as "
                         "its 32 rows hold", int, positive=True),
    "session_max": Setting(
        "DOPPEL_SESSION_MAX", 10000, "sessions kept per worker (least recently used go)", int,
        positive=True,
    ),
    "session_ttl_s": Setting(
        "DOPPEL_SESSION_TTL_S", 3600.0, "a session idle this long is forgotten", float,
        positive=True,
    ),
    "sessions_db": Setting(
        "DOPPEL_SESSIONS_DB", "", "SQLite file for session history shared by workers "
        "(`serve` sets one); empty = each process keeps its own in memory"
    ),
    "session_turns": Setting(
        "DOPPEL_SESSION_TURNS", 6, "turns of a session's history fed back as context", int
    ),
    "log_text": Setting(
        "DOPPEL_LOG_TEXT", False, "include message and reply text in request logs", _bool
    ),
    "memorisation_guard": Setting(
        "DOPPEL_MEMORISATION_GUARD", True, "withhold replies that copy a rare stretch of a "
        "training reply (bundles with memorisation.npz; model/serve/memorisation.py)", _bool
    ),
    "burst_pause_ms": Setting(
        "DOPPEL_BURST_PAUSE_MS", 1500, "chat page: pause that ends a burst of messages", int
    ),
    # --- X bot (issue 6) ----------------------------------------------------------------
    "x_api_base": Setting("X_API_BASE", "", "X API base URL override (the local sandbox); "
                          "with no X_* credentials the sandbox's keys are used"),
    "x_bearer_token": Setting("X_BEARER_TOKEN", "", "X app bearer token (reads)"),
    "x_api_key": Setting("X_API_KEY", "", "X OAuth 1.0a consumer key"),
    "x_api_secret": Setting("X_API_SECRET", "", "X OAuth 1.0a consumer secret"),
    "x_access_token": Setting("X_ACCESS_TOKEN", "", "X OAuth 1.0a access token of the bot"),
    "x_access_secret": Setting("X_ACCESS_SECRET", "", "X OAuth 1.0a access token secret"),
    "bot_state": Setting("BOT_STATE", f"sqlite:///{ROOT / 'var' / 'poller.sqlite'}",
                         "poller state: sqlite:///path or dynamodb://table"),
    "x_persona": Setting("X_PERSONA", "", "persona the bot answers as (default: the bundle's)"),
    "x_poll_interval_s": Setting("X_POLL_INTERVAL_S", 60.0, "seconds between polls", float,
                                 positive=True),
    "x_max_chain_depth": Setting(
        "X_MAX_CHAIN_DEPTH", 3, "bot replies allowed in one reply chain with the same account", int
    ),
    "x_user_replies_per_hour": Setting(
        "X_USER_REPLIES_PER_HOUR", 5, "replies to one user per hour", int
    ),
    "x_max_mention_age_s": Setting(
        "X_MAX_MENTION_AGE_S", 1800.0, "older mentions are skipped", float, positive=True
    ),
    "x_blocklist": Setting(
        "X_BLOCKLIST", str(ROOT / "backend" / "bots" / "blocklist.txt"),
        "file of words (or re:regexes) that block incoming and outgoing text",
    ),
    "x_context_tweets": Setting(
        "X_CONTEXT_TWEETS", 4, "earlier tweets of the thread given to the model as context", int
    ),
    "x_bubble_joiner": Setting(
        "X_BUBBLE_JOINER", "newline", "how reply bubbles are joined in a tweet: newline|space"
    ),
    "x_decoding": Setting(
        "X_DECODING", {}, "decoding options for replies, as JSON (e.g. {\"strategy\": \"beam\"})",
        _json_object,
    ),
    "x_request_timeout_s": Setting("X_REQUEST_TIMEOUT_S", 10.0, "timeout of one X request",
                                   float, positive=True),
    "x_retry_attempts": Setting(
        "X_RETRY_ATTEMPTS", 3, "tries of one X read on 5xx/timeouts (a post: only while it "
        "never reached X)", int, positive=True,
    ),
    "x_backoff_s": Setting("X_BACKOFF_S", 1.0, "first retry delay (doubles, with jitter)", float),
    "x_rate_limit_backoff_s": Setting(
        "X_RATE_LIMIT_BACKOFF_S", 900.0, "pause after a 429 that carries no reset header", float
    ),
    "x_claim_timeout_s": Setting(
        "X_CLAIM_TIMEOUT_S", 120.0,
        "a claimed mention unconfirmed this long is checked and retried (must exceed a post)",
        float, positive=True,
    ),
    # --- Telegram channel (backend/bots/telegram/polling.py, backend/bots/telegram/webhook.py) ----------
    "telegram_bot_token": Setting("TELEGRAM_BOT_TOKEN", "", "Telegram bot token from @BotFather"),
    "telegram_api_base": Setting(
        "TELEGRAM_API_BASE", "https://api.telegram.org",
        "Bot API base URL (the local telegram-sandbox: http://127.0.0.1:8002)",
    ),
    "telegram_state": Setting(
        "TELEGRAM_STATE", f"sqlite:///{ROOT / 'var' / 'telegram.sqlite'}",
        "Telegram bot state: sqlite:///path or dynamodb://table (may be the X poller's: on Lambda both use the stage's one table)",
    ),
    "telegram_webhook_secret": Setting(
        "TELEGRAM_WEBHOOK_SECRET", "",
        "secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; the webhook route is off "
        "without it",
    ),
    "telegram_persona": Setting(
        "TELEGRAM_PERSONA", "", "persona a chat starts with (default: the bundle's)"
    ),
    "telegram_burst_s": Setting(
        "TELEGRAM_BURST_S", 1.5, "messages closer than this are answered as one turn", float
    ),
    "telegram_context_turns": Setting(
        "TELEGRAM_CONTEXT_TURNS", 6, "turns of a chat's history given as context", int
    ),
    "telegram_typing_s": Setting(
        "TELEGRAM_TYPING_S", 1.0, "pause (showing 'typing') between reply bubbles", float
    ),
    "telegram_decoding": Setting(
        "TELEGRAM_DECODING", {}, "decoding options as JSON; the seed is the update id",
        _json_object,
    ),
    "telegram_blocklist": Setting(
        "TELEGRAM_BLOCKLIST", str(ROOT / "backend" / "bots" / "blocklist.txt"),
        "file of words (or re:regexes) that block incoming and outgoing text",
    ),
    "telegram_poll_timeout_s": Setting(
        "TELEGRAM_POLL_TIMEOUT_S", 25, "getUpdates long-poll timeout", int
    ),
    "telegram_request_timeout_s": Setting(
        "TELEGRAM_REQUEST_TIMEOUT_S", 10.0, "timeout of one Bot API request", float, positive=True
    ),
    "telegram_retry_attempts": Setting(
        "TELEGRAM_RETRY_ATTEMPTS", 5, "tries of one Bot API call on 429/5xx", int, positive=True
    ),
    "telegram_backoff_s": Setting(
        "TELEGRAM_BACKOFF_S", 1.0, "first retry delay on 5xx/connection errors (doubles)", float
    ),
    "telegram_claim_timeout_s": Setting(
        "TELEGRAM_CLAIM_TIMEOUT_S", 120.0,
        "an update claimed this long without an answer is taken over (after a crash)", float,
        positive=True,
    ),
}


def load_config(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Resolve every setting; a bad environment value is an InputError naming the variable."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise InputError(f"unknown setting(s) {', '.join(unknown)}")
    config = {}
    for key, setting in SETTINGS.items():
        if key in overrides:
            config[key] = overrides[key]
        elif setting.env in environ:
            try:
                config[key] = setting.check(setting.parse(environ[setting.env]))
            except ValueError as exc:
                raise InputError(f"bad value for {setting.env}: {exc}") from None
        else:
            config[key] = setting.default
    return config
