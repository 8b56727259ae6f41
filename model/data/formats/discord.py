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

from model.data.messages import Message
from model.data.sources import dict_of, each_built, list_of, text_of, time_of
from model.errors import InputError

NAME = "discord"

# DiscordChatExporter names only the types its enum knows (Default, Reply and the system
# events) and writes any other as its number: a slash or context-menu command's answer,
# words like any reply, is "20" or "23"
TEXT_TYPES = {"Default", "Reply", "ChatInputCommand", "ContextMenuCommand", "20", "23"}
_SNIFF = re.compile(r'"guild"\s*:\s*\{[^{}]*"name"')


def sniff(entry) -> bool:
    head = entry.head_text().lstrip("\ufeff").lstrip()
    return head.startswith("{") and bool(_SNIFF.search(head)) and '"channel"' in head


def parse(entry, ctx) -> Iterator[Message]:
    data = entry.read_json()
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise InputError("expected a DiscordChatExporter object with a message list", entry.name)
    # a channel is its id, in every file it was exported to (DiscordChatExporter's
    # --partition writes "[part 2]" files with the same channel): namesake channels of
    # two servers stay two conversations, the parts of one channel are one
    channel_id = text_of(dict_of(data, "channel"), "id")
    owner = f"discord channel {channel_id}" if channel_id else entry.name
    conversation = ctx.ingested.name(owner, channel_name(data))
    yield from each_built(
        data["messages"], lambda record: message_of(record, conversation) if isinstance(record, dict)
        else None, ctx.report,
        lambda number, record: f"{entry.name} (message {text_of(record, 'id') or f'#{number}'})",
        "discord message without author or content", "discord message with an impossible timestamp")


def channel_name(data: dict) -> str:
    guild = text_of(dict_of(data, "guild"), "name") or "Discord"
    channel = dict_of(data, "channel")
    return f"{guild} / {text_of(channel, 'name') or text_of(channel, 'id') or 'channel'}"


def message_of(record: dict, conversation: str) -> Message | None:
    author = dict_of(record, "author")
    sender = text_of(author, "name") or text_of(author, "nickname")
    if not sender:
        return None
    content = text_of(record, "content")
    message_type = text_of(record, "type") or "Default"
    kind = "text"
    forwarded = dict_of(record, "forwardedMessage")
    if forwarded and not content:  # someone else's words passed on: never the sender's
        kind, content = "forwarded", text_of(forwarded, "content") or _media_placeholder(forwarded)
    elif message_type not in TEXT_TYPES:
        kind, content = "system", content or _words(message_type)
    elif not content:
        kind, content = "media", _media_placeholder(record)
    if not content:
        return None
    # the exporting machine's local time with its offset: the offset is dropped, the local time kept
    return Message(NAME, conversation, time_of(record, "timestamp"), sender, content, kind)


def _media_placeholder(record: dict) -> str:
    for attachment in list_of(record, "attachments"):
        return f"<attachment: {text_of(attachment, 'fileName') or 'file'}>"
    for sticker in list_of(record, "stickers"):
        return _placeholder("sticker", text_of(sticker, "name"))
    for embed in list_of(record, "embeds"):  # a bot's card may have neither title nor url
        return _placeholder("embed", text_of(embed, "title") or text_of(embed, "url"))
    return ""


def _placeholder(what: str, name: str) -> str:
    return f"<{what}: {name}>" if name else f"<{what}>"


def _words(message_type: str) -> str:
    """'GuildMemberJoin' -> 'guild member join' (the event, where Discord gave no text)."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", message_type).lower()
