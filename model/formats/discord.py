"""DiscordChatExporter JSON: `{"guild", "channel", "messages": [...]}`, one channel a file.

Sender is the author's `name` (the account's username), falling back to `nickname`:
the username is the same in every server and every export, while nicknames change per
server, so one person stays one sender across channels. `time` keeps the timestamp as
exported (DiscordChatExporter writes the exporting machine's local time with its UTC
offset), cut to whole seconds without the offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from model.errors import InputError
from model.messages import Message

NAME = "discord"

TEXT_TYPES = {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand"}
_SNIFF = re.compile(r'"guild"\s*:\s*\{[^{}]*"name"')
_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})")


def sniff(entry) -> bool:
    head = entry.head_text().lstrip("\ufeff").lstrip()
    return head.startswith("{") and bool(_SNIFF.search(head)) and '"channel"' in head


def parse(entry, ctx) -> Iterator[Message]:
    data = entry.read_json()
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise InputError("expected a DiscordChatExporter object with a message list", entry.name)
    conversation = _conversation(data)
    for record in data["messages"]:
        message = _message(record, conversation) if isinstance(record, dict) else None
        if message is None:
            where = f"{entry.name} (message {_id(record)})"
            ctx.report.skip(where, None, "discord message without author or content")
        else:
            yield message


def _id(record) -> str:
    return str(record.get("id")) if isinstance(record, dict) else "?"


def _conversation(data: dict) -> str:
    guild = (data.get("guild") or {}).get("name") or "Discord"
    channel = data.get("channel") or {}
    name = channel.get("name") or channel.get("id") or "channel"
    return f"{guild} / {name}"


def _message(record: dict, conversation: str) -> Message | None:
    author = record.get("author") or {}
    sender = author.get("name") or author.get("nickname")
    if not sender:
        return None
    content = record.get("content") or ""
    kind = "text"
    if record.get("type", "Default") not in TEXT_TYPES:
        kind = "system"
        content = content or _words(record["type"])
    elif not content:
        kind, content = "media", _media_placeholder(record)
    if not content:
        return None
    match = _TIME.match(str(record.get("timestamp") or ""))
    return Message(NAME, conversation, match.group(1) if match else None, sender, content, kind)


def _media_placeholder(record: dict) -> str:
    for attachment in record.get("attachments") or []:
        return f"<attachment: {attachment.get('fileName', 'file')}>"
    for sticker in record.get("stickers") or []:
        return f"<sticker: {sticker.get('name', '')}>"
    for embed in record.get("embeds") or []:
        return f"<embed: {embed.get('title') or embed.get('url') or ''}>"
    return ""


def _words(message_type: str) -> str:
    """'GuildMemberJoin' -> 'guild member join' (the event, where Discord gave no text)."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", message_type).lower()
