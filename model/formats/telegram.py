"""Telegram Desktop JSON export (`result.json`): one chat or a whole account.

A single chat is `{"name", "type", "id", "messages": [...]}`; a full-account export
holds chats under `{"chats": {"list": [...]}, "left_chats": {"list": [...]}}`.
`time` is the export's `date` field, local time as Telegram Desktop wrote it; older
exports that only carry `date_unixtime` are converted with the machine's local zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from model.errors import InputError
from model.messages import Message

NAME = "telegram"

_FULL_EXPORT = re.compile(r'^\s*\{\s*"about"\s*:\s*"[^"]*Telegram')
_CHATS_KEY = re.compile(r'"chats"\s*:\s*\{')
_MESSAGE_LIST = re.compile(r'"messages"\s*:\s*\[\s*(\]|\{)')
_MESSAGE_FIELDS = re.compile(
    r'"(date_unixtime|from_id|actor_id)"\s*:|"type"\s*:\s*"(message|service)"'
)

# Media fields in the order Telegram fills them; the value names the placeholder.
_MEDIA_KEYS = (
    ("photo", "photo"),
    ("location_information", "location"),
    ("contact_information", "contact"),
    ("game_title", "game"),
)


def sniff(entry) -> bool:
    head = entry.head_text().lstrip("\ufeff")
    if not head.lstrip().startswith("{"):
        return False
    if _FULL_EXPORT.search(head) or _CHATS_KEY.search(head):
        return True
    return bool(_MESSAGE_LIST.search(head) and _MESSAGE_FIELDS.search(head))


def parse(entry, ctx) -> Iterator[Message]:
    data = entry.read_json()
    if not isinstance(data, dict):
        raise InputError("expected a Telegram export object at the top level", entry.name, 1)
    chats = _chats(data)
    known = _known_names(chats)
    seen: dict[str, object] = {}  # conversation name -> chat id, to keep namesakes apart
    for index, chat in enumerate(chats):
        if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
            ctx.report.skip(entry.name, None, "telegram chat without a message list")
            continue
        conversation = _conversation_name(chat, index)
        if seen.setdefault(conversation, chat.get("id")) != chat.get("id"):
            conversation = f"{conversation} ({chat.get('id')})"
        for record in chat["messages"]:
            message = _message(record, conversation, known)
            if message is None:
                where = f"{entry.name} (chat {chat.get('id')}, message {_get(record, 'id')})"
                ctx.report.skip(where, None, "telegram message without sender or content")
            else:
                yield message


def _chats(data: dict) -> list:
    if "messages" in data:
        return [data]
    chats = []
    for key in ("chats", "left_chats"):
        section = data.get(key)
        if isinstance(section, dict) and isinstance(section.get("list"), list):
            chats.extend(section["list"])
    return chats


def _conversation_name(chat: dict, index: int) -> str:
    name = chat.get("name")
    if name:
        return str(name)
    if chat.get("type") == "saved_messages":
        return "Saved Messages"
    return f"Telegram chat {chat.get('id', index + 1)}"


def _get(record, key: str):
    return record.get(key) if isinstance(record, dict) else None


def _known_names(chats: list) -> dict[str, str]:
    """from_id -> name, for messages whose `from` is null (deleted or hidden accounts)."""
    names = {}
    for chat in chats:
        for record in _get(chat, "messages") or []:
            for name_key, id_key in (("from", "from_id"), ("actor", "actor_id")):
                if _get(record, name_key) and _get(record, id_key):
                    names[record[id_key]] = record[name_key]
    return names


def _message(record: dict, conversation: str, known: dict) -> Message | None:
    if not isinstance(record, dict):
        return None
    service = record.get("type") == "service"
    name_key, id_key = ("actor", "actor_id") if service else ("from", "from_id")
    sender = record.get(name_key) or known.get(record.get(id_key)) or record.get(id_key)
    if not sender:
        return None
    text = flatten_text(record.get("text", ""))
    if service:
        kind, text = "system", _service_text(record, text)
    elif "poll" in record:
        kind, text = "system", f"poll: {(record['poll'] or {}).get('question', '')}".strip()
    else:
        placeholder = _media_placeholder(record)
        kind = "media" if placeholder else "text"
        text = text or placeholder or ""
    if not text:
        return None
    return Message(NAME, conversation, _time(record), str(sender), text, kind)


def flatten_text(text) -> str:
    """`text` is a string or a list of strings and entity objects ({"type", "text"})."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(
            part if isinstance(part, str) else str(part.get("text", "")) for part in text
        )
    return ""


def _media_placeholder(record: dict) -> str | None:
    if record.get("sticker_emoji"):
        return f"<sticker: {record['sticker_emoji']}>"
    if record.get("media_type"):
        return f"<{record['media_type']}>"
    for key, label in _MEDIA_KEYS:
        if record.get(key):
            return f"<{label}>"
    if record.get("file"):
        return "<file>"
    return None


def _service_text(record: dict, text: str) -> str:
    """Service records carry an `action` and details instead of text."""
    action = str(record.get("action", "service message")).replace("_", " ")
    details = record.get("title") or ", ".join(map(str, record.get("members") or []))
    parts = [action, details, text]
    return ": ".join(part for part in parts if part)


def _time(record: dict) -> str | None:
    if isinstance(record.get("date"), str):
        return record["date"]
    if str(record.get("date_unixtime", "")).isdigit():
        stamp = datetime.fromtimestamp(int(record["date_unixtime"]))
        return stamp.isoformat(timespec="seconds")
    return None
