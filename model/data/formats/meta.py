"""Facebook Messenger and Instagram direct messages from Meta's "Download your information"
(JSON): one module, because both apps export the same shape.

A thread is a folder (`messages/inbox/ana_1234/`, under `your_activity_across_facebook/`
or `your_instagram_activity/` in newer exports) of `message_1.json`, `message_2.json`…:
`{"participants": [{"name"}], "messages": [...], "title", "thread_path"}`, each message
`{"sender_name", "timestamp_ms", "content", "photos", "videos", "gifs", "audio_files",
"files", "sticker", "share", "call_duration", "is_unsent", "type", "reactions"}`, newest
first, long threads split over several files. Messenger's end-to-end encrypted chats
(2024+, from messenger.com/secure_storage/dyi) come one file per thread:
`{"participants": ["Ana"], "threadName", "messages": [{"senderName", "timestamp", "text",
"media": [{"uri"}], "isUnsent", "type", "reactions"}]}`.

Meta writes text as UTF-8 bytes escaped one by one (`"caf\\u00c3\\u00a9"` for "café", an
emoji as four escapes); names, titles and text are repaired wherever the bytes decode.
The parts of a thread are merged and put in time order; reactions are not messages.
Media without words become `media` messages ("<photo>"), unsent messages `deleted`,
calls, joins, waves, Messenger's greeting atop a new chat ("You can now message and call
each other…") and Meta's own "Ana reacted 😍 to your message" lines `system` (the
English phrasing; exports in other languages keep those lines as text). Times are
instants (ms since 1970), written in the local zone of the machine running the ingest.
Threads with the same title are told apart by their folder (or file) name.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

from model.data.messages import Message
from model.data.sources import Tree, dict_of, each_built, list_of, text_of
from model.errors import InputError

NAME = "meta"

_SNIFF_PARTICIPANTS = re.compile(r'"participants"\s*:\s*\[')
_SNIFF_FIELDS = re.compile(r'"(sender_name|timestamp_ms|thread_path|senderName|threadName)"\s*:')
_MEDIA_FIELDS = (
    ("photos", "photo"), ("videos", "video"), ("gifs", "gif"), ("audio_files", "audio"),
)  # fmt: skip
_EXTENSIONS = {
    "photo": {"jpg", "jpeg", "png", "webp", "heic"},
    "video": {"mp4", "mov", "webm"},
    "audio": {"mp3", "m4a", "aac", "ogg", "opus", "wav"},
    "gif": {"gif"},
}
# Meta's own lines in a thread, after the actor's name (or "You"): kind by phrase
_MEDIA_LINE = re.compile(
    r"sent (?:an attachment|a link|a live location|a location|an? (?:photo|video|GIF|sticker|"
    r"voice message|audio clip|file)(?: from .+)?|\d+ (?:photos|videos|GIFs|files))\.?",
    re.IGNORECASE,
)
_UNSENT_LINE = re.compile(r"unsent a message\.?", re.IGNORECASE)
_SYSTEM_LINE = re.compile(
    r"(?:reacted .+ to (?:your|a|their|his|her) message|liked a message|named the group .+"
    r"|changed the group (?:photo|name).*|added .+ to the group\.?|removed .+ from the group\.?"
    r"|left the group\.?|joined the group.*|created the group.*|set (?:the|your|his|her|their)"
    r" nickname.*|set the nickname for .+|cleared (?:the|your|his|her|their) nickname.*"
    r"|changed the (?:chat )?theme.*|changed the emoji to .+|set the (?:quick reaction|emoji) to .+"
    r"|started (?:a|an) (?:video |audio )?(?:call|chat)\.?|started sharing (?:video|screen)\.?"
    r"|joined the (?:video |audio )?(?:call|chat)\.?|missed (?:your|a|an) (?:video |audio )?"
    r"(?:call|chat).*|called you\.?|called .+\.|created a poll: .+|voted for .+"
    r"|changed (?:their|his|her|your) vote.*|pinned a message\.?"
    r"|the (?:video |audio )?(?:call|chat) ended\.?|waved at .+"
    # Messenger's greeting atop a new chat, under the other's name ("You " is cut as an actor)
    r"|can now (?:message and )?call each other.*|are now connected on messenger\.?"
    r"|say hi to your new facebook friend.*)",
    re.IGNORECASE,
)


def sniff(entry) -> bool:
    head = entry.head_text().lstrip("\ufeff").lstrip()
    return (
        head.startswith("{")
        and bool(_SNIFF_PARTICIPANTS.search(head))
        and bool(_SNIFF_FIELDS.search(head))
    )


def parse(entry, ctx) -> Iterator[Message]:
    data = _thread_data(entry)
    yield from _thread([(entry, data)], thread_name(entry.relpath, data, {}), ctx)


def sniff_tree(tree: Tree) -> bool:
    return not tree.is_single_file and any(readable_thread(entry) for entry in tree.entries)


def readable_thread(entry, sniff=sniff) -> bool:
    """sniff(entry), where a file that cannot be read is no thread: the file-by-file pass
    that follows reports it, under its own name."""
    try:
        return sniff(entry)
    except (InputError, OSError, EOFError, zipfile.BadZipFile, zlib.error):
        return False


def parse_tree(tree: Tree, ctx) -> Iterator[Message]:
    """Every thread of an export, its parts merged. Memory holds one thread at a time: the
    parts of a thread share its folder, and a file without a thread_path (the encrypted
    export's) is a thread of its own."""
    folders: dict[str, list] = {}
    for entry in tree.entries:
        if readable_thread(entry):
            ctx.claimed.add(entry.relpath)
            folders.setdefault(str(PurePosixPath(entry.relpath).parent), []).append(entry)
    names: dict[str, str] = {}  # conversation name -> the thread that has it
    for entries in folders.values():
        parts: dict[str, list] = {}  # thread_path -> [(entry, data)]
        for entry in entries:
            data = _thread_data(entry)
            if text_of(data, "thread_path"):
                parts.setdefault(text_of(data, "thread_path"), []).append((entry, data))
            else:
                yield from _thread([(entry, data)], thread_name(entry.relpath, data, names), ctx)
        for thread, pieces in parts.items():
            yield from _thread(pieces, thread_name(thread, pieces[0][1], names), ctx)


def thread_name(thread: str, data: dict, names: dict[str, str]) -> str:
    """The thread's title; a second thread of the same title adds its folder or file name."""
    own = thread.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".html")
    title = _title(data) or own
    return title if names.setdefault(title, thread) == thread else f"{title} ({own})"


def _thread_data(entry) -> dict:
    data = entry.read_json()
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise InputError("expected a Messenger/Instagram thread with a message list", entry.name)
    return data


def _title(data: dict) -> str:
    title = repair(text_of(data, "title") or text_of(data, "threadName"))
    if title:
        return title
    participants = list_of(data, "participants")  # {"name"} objects, or names (encrypted)
    names = [repair(p if isinstance(p, str) else text_of(p, "name")) for p in participants]
    return ", ".join(name for name in names if name)


def _thread(parts: list, conversation: str, ctx) -> Iterator[Message]:
    stamped = []  # (ms, -position, message)
    for entry, data in parts:
        for ms, message in each_built(
                data["messages"], lambda record: _stamped_message(record, conversation), ctx.report,
                lambda number, _, name=entry.name: f"{name} (message #{number})",
                "meta message without sender or content", "meta message with an impossible timestamp"):
            stamped.append((ms, -len(stamped), message))
    # exports list the newest first: messages of the same millisecond keep their true order
    stamped.sort(key=lambda item: item[:2])
    for _, _, message in stamped:
        yield message


def repair(text: str) -> str:
    """Undo Meta's escaping of UTF-8 bytes as characters ("cafÃ©" -> "café"), where the
    text is such bytes; anything else (real "é", real emoji) is left as it is."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _stamped_message(record, conversation: str) -> tuple[float, Message] | None:
    if not isinstance(record, dict):
        return None
    sender = repair(text_of(record, "sender_name") or text_of(record, "senderName"))
    text = repair(text_of(record, "content") or text_of(record, "text"))
    ms = _milliseconds(record)
    kind, text = kind_of(record, sender, text)
    if not sender or not text:
        return None
    time = datetime.fromtimestamp(ms / 1000).isoformat(timespec="seconds")
    return ms, Message(NAME, conversation, time, sender, text, kind)


def _milliseconds(record: dict) -> float:
    """`timestamp_ms`, or the encrypted export's `timestamp` (ms; seconds in old exports)."""
    value = record.get("timestamp_ms", record.get("timestamp"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e14:
        raise ValueError("no timestamp")
    return value if value >= 1e11 else value * 1000  # 1e11 ms is 1973: smaller is seconds


def kind_of(record: dict, sender: str, text: str) -> tuple[str, str]:
    """(kind, text) from the record's fields and Meta's own phrasing."""
    if record.get("is_unsent") is True or record.get("isUnsent") is True:
        return "deleted", text or "<unsent>"
    if record.get("type") == "Call" or "call_duration" in record:
        return "system", text or "<call>"
    if record.get("type") in ("Subscribe", "Unsubscribe"):
        names = ", ".join(repair(text_of(user, "name")) for user in list_of(record, "users"))
        return "system", text or f"{record['type'].lower()}: {names}"
    if text:
        phrase = _without_actor(text.strip(), sender)
        if _MEDIA_LINE.fullmatch(phrase):
            return "media", text
        if _UNSENT_LINE.fullmatch(phrase):
            return "deleted", text
        if _SYSTEM_LINE.fullmatch(phrase):
            return "system", text
        return "text", text
    return "media", _media_placeholder(record)


def _without_actor(text: str, sender: str) -> str:
    """"Ana reacted 😍 to your message" -> "reacted 😍 to your message"."""
    for actor in (sender, "You"):
        if actor and text.startswith(actor + " "):
            return text[len(actor) + 1 :]
    return text


def _media_placeholder(record: dict) -> str:
    for key, label in _MEDIA_FIELDS:
        if list_of(record, key):
            return f"<{label}>"
    for item in list_of(record, "files"):
        return f"<file: {PurePosixPath(text_of(item, 'uri')).name or 'file'}>"
    if dict_of(record, "sticker"):
        return "<sticker>"
    for item in list_of(record, "media"):  # the encrypted export lists every kind as media
        extension = PurePosixPath(text_of(item, "uri")).suffix.lower().lstrip(".")
        label = next((k for k, known in _EXTENSIONS.items() if extension in known), None)
        return f"<{label}>" if label else f"<file: {PurePosixPath(text_of(item, 'uri')).name}>"
    share = dict_of(record, "share")
    if text_of(share, "link"):
        return f"<link: {text_of(share, 'link')}>"
    return ""
