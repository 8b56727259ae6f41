"""The Message contract (docs/architecture.md) and writing JSONL records (messages, pairs)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from model.errors import InputError

KINDS = ("text", "media", "system", "deleted", "forwarded")
FIELDS = ("source", "conversation", "time", "sender", "text", "kind")
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


@dataclass(slots=True)
class Message:
    source: str  # format name: whatsapp, telegram, ...
    conversation: str  # chat title or file-derived name; pairs never cross it
    time: str | None  # ISO-8601 local time as the export shows it, None for scripts
    sender: str
    text: str  # multi-line messages keep their "\n"
    kind: str = "text"  # one of KINDS

    def to_json(self) -> str:
        # A literal dict and one shared encoder: asdict() deep-copies every field and
        # json.dumps(ensure_ascii=False) builds an encoder per call; together they were
        # two thirds of the time of `ingest` on a large export.
        return _ENCODE(
            {
                "source": self.source,
                "conversation": self.conversation,
                "time": self.time,
                "sender": self.sender,
                "text": self.text,
                "kind": self.kind,
            }
        )

    @classmethod
    def from_dict(cls, record: dict, path: str = "<messages>", line: int | None = None) -> Message:
        """Validate one decoded JSON object against the contract."""
        if not isinstance(record, dict):
            raise InputError("expected a JSON object per line", path, line)
        missing = [f for f in FIELDS if f not in record]
        if missing:
            raise InputError(f"missing field(s) {', '.join(missing)}", path, line)
        for field in ("source", "conversation", "sender", "text", "kind"):
            if not isinstance(record[field], str):
                raise InputError(f"field {field!r} must be a string", path, line)
        if record["time"] is not None and not _is_iso_time(record["time"]):
            raise InputError("field 'time' must be an ISO-8601 date-time or null", path, line)
        if record["kind"] not in KINDS:
            raise InputError(f"field 'kind' must be one of {', '.join(KINDS)}", path, line)
        return cls(**{f: record[f] for f in FIELDS})


def _is_iso_time(value) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def write_jsonl(records: Iterable, handle) -> int:
    """Write Messages (or plain dicts such as Pairs) one JSON object per line; returns the count."""
    count = 0
    for record in records:
        handle.write(json.dumps(record, ensure_ascii=False) if isinstance(record, dict) else record.to_json())
        handle.write("\n")
        count += 1
    return count
