"""`open_state(url)`: the ledger a BOT_STATE or TELEGRAM_STATE URL names."""

from __future__ import annotations

from urllib.parse import urlparse

from backend.bots.ledger.records import Ledger
from backend.bots.ledger.sqlite import SqliteState
from model.errors import InputError


def open_state(url: str, **dynamo_options) -> Ledger:
    """`sqlite:///path` or `dynamodb://table` -> a state store (SqliteState or DynamoState)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # As SQLAlchemy spells it: sqlite:///relative/file, sqlite:////absolute/file.
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise InputError(f"BOT_STATE {url!r} names no file (sqlite:///path/to/state.sqlite)")
        return SqliteState(path)
    if parsed.scheme == "dynamodb":
        if not parsed.netloc:
            raise InputError(f"BOT_STATE {url!r} names no table (dynamodb://table-name)")
        from backend.bots.ledger.dynamo import DynamoState

        return DynamoState(parsed.netloc, **dynamo_options)
    raise InputError(f"BOT_STATE {url!r}: expected sqlite:///path or dynamodb://table")
