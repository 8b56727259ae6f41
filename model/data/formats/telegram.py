"""Telegram Desktop JSON export (`result.json`): one chat or a whole account.

A single chat is `{"name", "type", "id", "messages": [...]}`; a full-account export
holds chats under `{"chats": {"list": [...]}, "left_chats": {"list": [...]}}`.
`time` is the export's `date` field, local time as Telegram Desktop wrote it; older
exports that only carry `date_unixtime` are converted with the machine's local zone.

A forum (a supergroup with topics) is one message list in which Telegram Desktop marks
no topic. A topic's id is the id of its `topic_created` service message, and a message
in a topic answers that message or another in the topic (`reply_to_message_id`), so
following the answers up finds the topic; a message that answers nothing is in the
General topic. Each topic is a conversation, "Group / Topic".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial

from model.data.messages import Message
from model.data.sources import Unusable, dict_of, each_built, list_of, text_of, time_of
from model.errors import InputError

NAME = "telegram"
# what each_built reports a record as when it makes no Message, or has no real date
SKIP_REASONS = ("telegram message without sender or content",
                "telegram message with an impossible date")

_FULL_EXPORT = re.compile(r'^\s*\{\s*"about"\s*:\s*"[^"]*Telegram')
_CHATS_KEY = re.compile(r'"chats"\s*:\s*\{')
_MESSAGE_LIST = re.compile(r'"messages"\s*:\s*\[\s*(\]|\{)')
_MESSAGE_FIELDS = re.compile(
    r'"(date_unixtime|from_id|actor_id)"\s*:|"type"\s*:\s*"(message|service)"'
    r'|"type"\s*:\s*"(personal_chat|bot_chat|saved_messages|(private|public)_(group|supergroup|channel))"'
)

# Fields whose value of another type makes a message unusable, and what they hold:
# `from`/`actor` are null for deleted accounts, `text` is a string or a list of parts.
_FIELD_TYPES = {"from": (str, type(None)), "actor": (str, type(None)), "text": (str, list)}

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
    chats = _chats(data, entry.name)
    known = _known_names(chats)
    seen: dict[str, str] = {}  # conversation name -> chat id, to keep namesakes apart
    for index, chat in enumerate(chats):
        if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
            ctx.report.skip(entry.name, None, "telegram chat without a message list")
            continue
        chat_id = text_of(chat, "id") or f"#{index + 1}"  # an export without ids: its place
        conversation = _conversation_name(chat, index)
        if seen.setdefault(conversation, chat_id) != chat_id:
            conversation = f"{conversation} ({chat_id})"
        conversation_of = _conversation_of(chat["messages"], conversation)
        yield from each_built(
            chat["messages"], partial(message_of, conversation_of=conversation_of, known=known),
            ctx.report,
            lambda number, record, chat_id=chat_id: f"{entry.name} (chat {chat_id}, message "
                                   f"{text_of(record, 'id') or f'#{number}'})",
            *SKIP_REASONS)


def _chats(data: dict, name: str) -> list:
    """The export's chats; a chat list of the wrong type is an error, not an empty export."""
    if "messages" in data:
        return [data]
    chats = []
    for key in ("chats", "left_chats"):
        if key not in data:
            continue
        listed = data[key].get("list") if isinstance(data[key], dict) else None
        if not isinstance(listed, list):
            raise InputError(f"field {key}.list: expected a list of chats", name)
        chats += listed
    if "chats" not in data:
        raise InputError("expected a Telegram chat (messages) or account export (chats.list)", name)
    return chats


def _conversation_name(chat: dict, index: int) -> str:
    if text_of(chat, "name"):
        return text_of(chat, "name")
    if chat.get("type") == "saved_messages":
        return "Saved Messages"
    return f"Telegram chat {text_of(chat, 'id') or index + 1}"


def _conversation_of(messages: list, chat: str) -> Callable[[dict], str]:
    """record -> its conversation: the chat, or in a forum the topic the record is in."""
    topics = {text_of(record, "id"): f"{chat} / {text_of(record, 'title')}" for record in messages
              if isinstance(record, dict) and record.get("action") == "topic_created"
              and text_of(record, "id")}
    if not topics:
        return lambda record: chat
    names = {"": f"{chat} / General"}  # topic id -> its conversation; "" is General
    taken = set(names.values())
    for topic, name in topics.items():  # Telegram lets two topics have one title
        names[topic] = f"{name} ({topic})" if name in taken else name
        taken.add(name)
    # message id -> the id of the message it answers ("" none); a reply to another chat's
    # message (`reply_to_peer_id`) is left out: the export does not say its topic here
    answered = {text_of(record, "id"): text_of(record, "reply_to_message_id") for record in messages
                if isinstance(record, dict) and not record.get("reply_to_peer_id")}
    topic_of = {"": ""}  # message id -> its topic's id; answering nothing is General

    def find(message_id: str) -> str:
        chain = {}
        while message_id not in topic_of:
            if message_id in topics or message_id not in answered:
                # a topic; or a message whose topic the export does not say (one deleted
                # since or older than the export's start date, a reply to another chat):
                # it and what answers it are kept together, as a topic of their own
                topic_of[message_id] = message_id
            elif message_id in chain:  # answers going round in a circle: no topic
                topic_of[message_id] = ""
            else:
                chain[message_id] = None
                message_id = answered[message_id]
        for link in chain:
            topic_of[link] = topic_of[message_id]
        return topic_of[message_id]

    def conversation_of(record: dict) -> str:
        topic = find(text_of(record, "id"))
        return names.get(topic) or f"{chat} / topic {topic}"

    return conversation_of


def _known_names(chats: list) -> dict[str, str]:
    """from_id -> name, for messages whose `from` is null (deleted or hidden accounts)."""
    names = {}
    for chat in chats:
        for record in list_of(chat, "messages"):
            for name_key, id_key in (("from", "from_id"), ("actor", "actor_id")):
                if text_of(record, name_key) and text_of(record, id_key):
                    names[text_of(record, id_key)] = text_of(record, name_key)
    return names


def message_of(record, conversation_of: Callable[[dict], str], known: dict) -> Message | None:
    if not isinstance(record, dict):
        raise Unusable("telegram message that is not a JSON object")
    for key, types in _FIELD_TYPES.items():
        if key in record and not isinstance(record[key], types):
            raise Unusable(f"telegram message with a wrongly typed {key!r} field")
    service = record.get("type") == "service"
    name_key, id_key = ("actor", "actor_id") if service else ("from", "from_id")
    sender_id = text_of(record, id_key)
    sender = text_of(record, name_key) or known.get(sender_id) or sender_id
    if not sender:
        return None
    text = flatten_text(record.get("text"))
    if service:
        kind, text = "system", _service_text(record, text)
    elif "poll" in record:
        kind, text = "system", f"poll: {text_of(dict_of(record, 'poll'), 'question')}".strip()
    else:
        # words under a photo or file are its caption, the sender's own: kept as text
        kind = "text" if text else "media"
        text = text or _media_placeholder(record) or ""
        if "forwarded_from" in record:  # someone else's words or media: never the sender's reply
            kind = "forwarded"
    if not text:
        return None
    return Message(NAME, conversation_of(record), _time(record), sender, text, kind)


def flatten_text(text) -> str:
    """`text` is a string or a list of strings and entity objects ({"type", "text"})."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        return "".join(part if isinstance(part, str) else text_of(part, "text") for part in text)
    return ""


def _media_placeholder(record: dict) -> str | None:
    if text_of(record, "sticker_emoji"):
        return f"<sticker: {text_of(record, 'sticker_emoji')}>"
    if text_of(record, "media_type"):
        return f"<{text_of(record, 'media_type')}>"
    for key, label in _MEDIA_KEYS:
        if record.get(key):
            return f"<{label}>"
    if record.get("file"):
        return "<file>"
    return None


def _service_text(record: dict, text: str) -> str:
    """Service records carry an `action` and details instead of text."""
    action = (text_of(record, "action") or "service message").replace("_", " ")
    members = ", ".join(m for m in list_of(record, "members") if isinstance(m, str))
    parts = [action, text_of(record, "title") or members, text]
    return ": ".join(part for part in parts if part)


def _time(record: dict) -> str | None:
    if "date" in record:
        return time_of(record, "date")
    seconds = text_of(record, "date_unixtime")
    if seconds.isdigit() and len(seconds) <= 11:  # up to year 5000: no overflow
        return datetime.fromtimestamp(int(seconds)).isoformat(timespec="seconds")
    return None
