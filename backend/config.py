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
