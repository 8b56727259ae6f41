"""The chitchat-dataset JSON (BYU PCC lab): `{conv_id: {"messages": [[turn], ...], ...}}`.

Each inner list is one turn of consecutive messages by one sender; senders are opaque
ids. `time` drops the trailing "Z" ("2018-05-07T04:58:13Z" -> "2018-05-07T04:58:13"),
keeping the clock as the dataset shows it. `installed_corpus_path()` finds the full
corpus shipped inside the `chitchat-dataset` package (a manifest source may name the
format without a path to mean it).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from functools import partial

from model.data.messages import Message
from model.data.sources import each_built, text_of, time_of
from model.errors import InputError

NAME = "chitchat"

# {"<id>": {["<key>": <string or number>,]... "messages": [[ -- one way to match only,
# so a long object that is not chitchat fails fast instead of backtracking
_SCALAR = r'("[^"]*"|[^",{}\[\]\s]*)'
_SNIFF = re.compile(
    r'^\s*\{\s*"[^"]+"\s*:\s*\{\s*("[^"]*"\s*:\s*' + _SCALAR + r'\s*,\s*)*"messages"\s*:\s*\[\s*\['
)


def installed_corpus_path() -> str:
    """The dataset.json of the installed `chitchat-dataset` package."""
    spec = importlib.util.find_spec("chitchat_dataset")
    if spec is None or not spec.origin:
        raise InputError("the chitchat corpus needs `pip install chitchat-dataset==0.9.0`")
    path = os.path.join(os.path.dirname(spec.origin), "dataset.json")
    if not os.path.exists(path):
        raise InputError("the chitchat-dataset package has no dataset.json", path)
    return path


def sniff(entry) -> bool:
    return bool(_SNIFF.match(entry.head_text().lstrip("\ufeff")))


def parse(entry, ctx) -> Iterator[Message]:
    data = entry.read_json()
    if not isinstance(data, dict):
        raise InputError("expected an object of conversations at the top level", entry.name, 1)
    for conversation, record in data.items():
        turns = record.get("messages") if isinstance(record, dict) else None
        if not isinstance(turns, list):
            ctx.report.skip(entry.name, None, "chitchat conversation without messages")
            continue
        items = (item for turn in turns for item in (turn if isinstance(turn, list) else [turn]))
        yield from each_built(
            items, partial(_message, conversation=conversation), ctx.report,
            lambda number, _, conversation=conversation: f"{entry.name} ({conversation}, message #{number})",
            "chitchat message without text or sender", "chitchat message with an impossible timestamp")


def _message(item, conversation: str) -> Message | None:
    text, sender = text_of(item, "text"), text_of(item, "sender")
    if not text or not sender:
        return None
    return Message(NAME, conversation, time_of(item, "timestamp"), sender, text)
