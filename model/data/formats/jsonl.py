"""Doppel's own Message JSONL (the output of `python -m model ingest`), read back as is.

Records keep their original `source`, so ingesting an ingest output round-trips exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from model.data.messages import FIELDS, Message
from model.errors import InputError

NAME = "jsonl"


def sniff(entry) -> bool:
    for line in entry.head_text().lstrip("\ufeff").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return False
        return isinstance(record, dict) and all(field in record for field in FIELDS)
    return False


def parse(entry, ctx) -> Iterator[Message]:
    for number, line in enumerate(entry.lines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.lstrip("\ufeff") if number == 1 else line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", entry.name, number) from None
        yield Message.from_dict(record, entry.name, number)
