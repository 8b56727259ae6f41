"""Every setting of the serving side, in one place, with its default and meaning.

Values come from (in order of precedence) the `overrides` mapping given to
`load_config` (tests, `create_app(config)`), then environment variables, then the
defaults below. The README's configuration table lists exactly these rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
DEMO_BUNDLE = ROOT / "data" / "models" / "demo"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


@dataclass(frozen=True)
class Setting:
    env: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = str


SETTINGS: dict[str, Setting] = {
    # --- reply service (issue 5) -------------------------------------------------------
    "bundle": Setting("DOPPEL_BUNDLE", str(DEMO_BUNDLE), "model bundle directory to serve"),
    "api_key": Setting(
        "DOPPEL_API_KEY", "", "if set, POST /api/reply needs it (Bearer or X-API-Key header)"
    ),
    "rate_limit_per_s": Setting(
        "DOPPEL_RATE_LIMIT_PER_S", 5.0, "replies per second per client (API key or IP); 0 = off",
        float,
    ),
    "rate_limit_burst": Setting(
        "DOPPEL_RATE_LIMIT_BURST", 20, "requests a client may send at once before limiting", int
    ),
    "trusted_proxies": Setting(
        "DOPPEL_TRUSTED_PROXIES", 0, "X-Forwarded-For hops to trust for the client IP", int
    ),
    "batching": Setting(
        "DOPPEL_BATCHING", True, "decode concurrent requests together (micro-batching)", _bool
    ),
    "batch_wait_ms": Setting(
        "DOPPEL_BATCH_WAIT_MS", 5.0, "how long a micro-batch waits for more requests", float
    ),
    "batch_max": Setting("DOPPEL_BATCH_MAX", 32, "largest micro-batch", int),
    "session_max": Setting(
        "DOPPEL_SESSION_MAX", 10000, "sessions kept per worker (least recently used go)", int
    ),
    "session_ttl_s": Setting(
        "DOPPEL_SESSION_TTL_S", 3600.0, "a session idle this long is forgotten", float
    ),
    "session_turns": Setting(
        "DOPPEL_SESSION_TURNS", 6, "turns of a session's history fed back as context", int
    ),
    "log_text": Setting(
        "DOPPEL_LOG_TEXT", False, "include message and reply text in request logs", _bool
    ),
    "burst_pause_ms": Setting(
        "DOPPEL_BURST_PAUSE_MS", 1500, "chat page: pause that ends a burst of messages", int
    ),
    # --- X bot (issue 6) ----------------------------------------------------------------
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
                config[key] = setting.parse(environ[setting.env])
            except ValueError as exc:
                raise InputError(f"bad value for {setting.env}: {exc}") from None
        else:
            config[key] = setting.default
    return config
