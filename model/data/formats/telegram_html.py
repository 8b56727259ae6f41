"""Telegram Desktop HTML export ("Human-readable HTML", the export's default): one chat or
a whole account.

A chat is a folder of `messages.html`, `messages2.html`… (a new file every 1,000
messages); a whole-account export holds one such folder per chat (`chats/chat_001/`…)
beside `export_results.html` and `lists/`, which hold no messages. A chat's files are read
together, in number order, whichever of them ingest meets first (the others are claimed).
An export in both formats ("Both": HTML files beside `result.json`) is read from its JSON.

Layout (Telegram Desktop's export_output_html.cpp, the same since 2018 in what is read
here): the chat's name in `div.page_header div.text`; a message is a `div.message.default`
with its local time in `div.pull_right.date.details[title]` ("14.03.2021 09:03:40", then
" UTC+03:00" since 2022), the sender in `div.from_name` (left out of a "joined" message:
the sender of the message before), `div.forwarded.body` around a forwarded message's
content, `div.media_wrap` and `div.text` (`<br>` for a line break, the writer's own line
breaks and indents around it). `div.message.service` holds Telegram's notices: the date
separators (negative ids) are skipped; an action is named as in the JSON export where its
English sentence is one of the common ones below.

Each message becomes the record the JSON export holds for it and is read by telegram.py's
mapping, so both exports give the same Messages, except where the HTML leaves something
out: a notice has no time (null) and, when its sentence names no one, the chat as its
actor; a sticker shown as a picture has no emoji ("<sticker>"); a deleted account is
"Deleted Account"; a personal chat's name has the last name too, Saved Messages the
owner's name; a message forwarded into Saved Messages is shown, and read, as its author's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath

from model.data.formats.telegram import SKIP_REASONS
from model.data.formats.telegram import message_of as json_message  # the JSON reader's mapping
from model.data.formats.telegram import sniff as sniff_json
from model.data.messages import Message
from model.data.sources import each_built
from model.errors import InputError

NAME = "telegram-html"

_CHAT_PAGE = re.compile(r'<div class="page_body chat_page"')
_PART = re.compile(r"(?:^|/)messages(\d*)\.html$")
_DATE = re.compile(r"(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})")
_LAYOUT = re.compile(r"\n *")  # the writer's line breaks and indents: a text's own are <br>
_VIA_BOT = re.compile(r"\s+via @\w+\s*$")
_COORDINATES = re.compile(r"[?&]q=(-?[\d.]+),(-?[\d.]+)")
_FILE_SIZE = re.compile(r"[\d.]+ [KMGT]?B")
_VOID = {"br", "img", "meta", "link", "hr", "input", "wbr"}  # elements without an end tag
_UNNAMED = "Telegram chat"
_CHARS_FED = 1 << 16  # given to the HTML parser at once

# The class of a message's media element -> the JSON export's media_type
_MEDIA_TYPES = {
    "sticker_wrap": "sticker", "animated_wrap": "animation", "video_file_wrap": "video_file",
    "media_voice_message": "voice_message", "media_audio_file": "audio_file",
}  # fmt: skip
_VIDEO_TITLES = {"Animation": "animation", "Video message": "video_message"}  # else a video file
_MEDIA_CLASSES = {
    *_MEDIA_TYPES, "photo_wrap", "media_photo", "media_video", "media_file", "media_contact",
    "media_location", "media_live_location", "media_venue", "media_game", "media_poll",
    "media_call",
}  # fmt: skip

# Telegram's English sentence for a notice -> the JSON export's action; no actor: the chat's
_ACTIONS = tuple((re.compile(pattern), action) for pattern, action in (
    (r"(?P<actor>.+?) created group «(?P<title>.*)»(?: with members .+)?", "create_group"),
    (r"(?:(?P<actor>.+?) changed group title|Channel title changed) to «(?P<title>.*)»",
     "edit_group_title"),
    (r"(?P<actor>.+?) changed group photo|Channel photo changed", "edit_group_photo"),
    (r"(?P<actor>.+?) removed group photo|Channel photo removed", "delete_group_photo"),
    (r"(?P<actor>.+?) invited (?P<members>.+) to the voice chat", "invite_to_group_call"),
    (r"(?P<actor>.+?) invited (?P<members>.+)", "invite_members"),
    (r"(?P<actor>.+?) joined group by link from .+", "join_group_by_link"),
    (r"(?P<actor>.+?) joined group by request", "join_group_by_request"),
    (r"(?P<actor>.+?) removed (?P<members>.+)", "remove_members"),
    (r"Channel «(?P<title>.*)» created", "create_channel"),
    (r"(?P<actor>.+?) converted this group to a supergroup", "migrate_to_supergroup"),
    (r"(?P<actor>.+?) converted a basic group to this supergroup «(?P<title>.*)»",
     "migrate_from_group"),
    (r"(?P<actor>.+?) pinned this message", "pin_message"),
    (r"History cleared", "clear_history"),
    (r"(?P<actor>.+?) took a screenshot", "take_screenshot"),
    (r"(?P<actor>.+?) joined Telegram", "joined_telegram"),
    (r"(?:(?P<actor>.+?) started voice chat|Voice chat)(?: \(\d+ seconds\))?", "group_call"),
    (r"(?P<actor>.+?) created topic «(?P<title>.*)»", "topic_created"),
))  # fmt: skip


def sniff(entry) -> bool:
    return bool(_CHAT_PAGE.search(entry.head_text()))


@dataclass
class _Chat:
    """What one file of a chat passes on to the next."""

    title: str = ""
    sender: str = ""  # of the last message: a joined message's, even at a file's start


def parse(entry, ctx) -> Iterator[Message]:
    chat = _Chat()

    def build(record: dict) -> Message | None:
        # the records built here carry no reply_to_message_id (the HTML has it only as a
        # "go to message" link), so a forum's topics stay one conversation here
        return json_message(record, conversation_of=lambda _: chat.title or _UNNAMED,
                            known={})

    parts = _parts(entry, ctx)
    if _beside_its_json(entry, ctx.tree):  # exported as "Both": the JSON holds all this and more
        for part in parts:
            ctx.report.skip(part.name, None, "telegram HTML export with its result.json (read instead)")
        return
    for part in parts:
        yield from each_built(
            _records(part, chat, ctx), build, ctx.report,
            lambda number, record, part=part: f"{part.name} (message {record['id'] or f'#{number}'})",
            *SKIP_REASONS)


def _parts(entry, ctx) -> list:
    """`entry` and the other files of its chat (same folder, messagesN.html), in order."""
    if not _PART.search(entry.relpath):
        return [entry]
    folder = PurePosixPath(entry.relpath).parent
    others = [other for other in ctx.tree.entries
              if other is not entry and PurePosixPath(other.relpath).parent == folder
              and _PART.search(other.relpath) and other.relpath not in ctx.claimed and sniff(other)]
    ctx.claimed.update(other.relpath for other in others)
    return sorted([entry, *others], key=lambda part: int(_PART.search(part.relpath)[1] or 1))


def _beside_its_json(entry, tree) -> bool:
    """Whether the export of `entry`'s chat has a result.json: beside it, or at the top of a
    whole-account export (chats/chat_001/messages.html)."""
    folder = PurePosixPath(entry.relpath).parent
    tops = {folder, folder.parent.parent} if folder.parent.name == "chats" else {folder}
    return any(PurePosixPath(other.relpath).name == "result.json"
               and PurePosixPath(other.relpath).parent in tops and sniff_json(other)
               for other in tree.entries)


def _records(part, chat: _Chat, ctx) -> Iterator[dict]:
    """The JSON-export records of one file's messages, streamed: memory holds 64 KiB of it."""
    page = _Page(chat)
    limit = part.limits.max_line_chars
    for number, text in _chunks(part.lines()):
        page.feed(text)
        if len(page.rawdata) > limit:  # an unclosed tag or comment is held until it ends
            raise InputError(f"HTML markup left open for over {limit:,} characters", part.name, number)
        done, page.records = page.records, []
        yield from done
    page.close()
    yield from page.records
    if page.message is not None:
        ctx.report.skip(part.name, None, "telegram HTML file that ends inside a message (cut off)")


def _chunks(lines) -> Iterator[tuple[int, str]]:
    """(number of the last line, text) of whole lines, _CHARS_FED characters or a line more:
    each call of the parser costs, and each line is bounded by the line limit."""
    chunk, size, number = [], 0, 0
    for number, line in enumerate(lines, 1):
        chunk.append(line + "\n")
        size += len(line) + 1
        if size >= _CHARS_FED:
            yield number, "".join(chunk)
            chunk, size = [], 0
    yield number, "".join(chunk)


class _Page(HTMLParser):
    """One file of a chat as it streams in; `records` collects the finished messages'."""

    def __init__(self, chat: _Chat):
        super().__init__()
        self.chat = chat
        self.records: list[dict] = []
        self.message: dict | None = None  # the HTML bits of the message being read
        self._open: list[tuple[str, set]] = []  # the open elements: tag, classes
        self._message_depth = 0
        self._field: tuple[str, int] | None = None  # collecting the text of: name, depth
        self._muted = 0  # depth of a span in a from_name (a forward's date), 0 for none
        self._raw: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br" and self._field and not self._muted:
            self._flush()
            self._text.append("\n")
        if tag in _VOID:
            return
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        self._open.append((tag, classes))
        if tag == "div" and "message" in classes:
            self.message = {"id": (attrs.get("id") or "").removeprefix("message"),
                            "service": "service" in classes}
            self._message_depth = len(self._open)
        elif self.message is not None:
            self._message_element(tag, classes, attrs)
        elif "text" in classes and self._inside("page_header"):
            self._collect("title")

    def _message_element(self, tag: str, classes: set, attrs: dict) -> None:
        message, media = self.message, self.message.get("media")
        if tag == "span" and self._field and self._field[0] in ("from", "forwarded_from"):
            self._muted = self._muted or len(self._open)
        elif "date" in classes and tag == "div":
            message.setdefault("date", _iso_time(attrs.get("title") or ""))
        elif "from_name" in classes:
            self._collect("forwarded_from" if self._inside("forwarded") else "from")
        elif {"forwarded", "body"} <= classes:
            message.setdefault("forwarded_from", "")  # a joined forward does not repeat the name
        elif "text" in classes:
            self._collect("text")
        elif message["service"] and "body" in classes:
            self._collect("notice")
        elif classes & _MEDIA_CLASSES:
            message["media"] = {"class": min(classes & _MEDIA_CLASSES), "link": attrs.get("href") or ""}
        elif media is not None and (field := _media_field(tag, classes)):
            self._collect("media " + field)

    def _inside(self, name: str) -> bool:
        return any(name in classes for _, classes in self._open[:-1])

    def _collect(self, field: str) -> None:
        self._field, self._raw, self._text = (field, len(self._open)), [], []

    def handle_data(self, data):
        if self._field and not self._muted:
            self._raw.append(data)

    def _flush(self) -> None:
        self._text.append(_LAYOUT.sub("", "".join(self._raw)))
        self._raw = []

    def handle_endtag(self, tag):
        opened = [index for index, (name, _) in enumerate(self._open) if name == tag]
        while opened and len(self._open) > opened[-1]:  # what the end tag closes, and inside
            self._close_last()

    def _close_last(self) -> None:
        depth = len(self._open)
        self._open.pop()
        if self._muted == depth:
            self._muted = 0
        if self._field and self._field[1] == depth:
            self._flush()
            self._store(self._field[0], "".join(self._text))
            self._field = None
        if self.message is not None and depth == self._message_depth:
            record = _record(self.message, self.chat)
            if record is not None:
                self.records.append(record)
            self.message = None

    def _store(self, field: str, text: str) -> None:
        if field == "title":
            self.chat.title = self.chat.title or text.strip()
        elif field.startswith("media "):
            self.message["media"][field.removeprefix("media ")] = text.strip()
        elif field in ("from", "forwarded_from"):
            self.message[field] = _VIA_BOT.sub("", text).strip()
        else:
            self.message[field] = text


def _media_field(tag: str, classes: set) -> str | None:
    """Which text of a media an element holds: its title, status, a poll's question or kind."""
    for field in ("title", "status", "question"):
        if field in classes:
            return field
    return "details" if tag == "div" and classes == {"details"} else None


def _record(message: dict, chat: _Chat) -> dict | None:
    """The JSON export's record of a message; None for a date separator."""
    if message["service"]:
        if message["id"].startswith("-"):
            return None
        return {"id": message["id"], **_notice(message.get("notice", "").strip(), chat.title)}
    chat.sender = message.get("from") or chat.sender
    record = {"id": message["id"], "type": "message", "from": chat.sender,
              "text": message.get("text", "")}
    if "date" in message:
        record["date"] = message["date"]
    if "forwarded_from" in message:
        record["forwarded_from"] = message["forwarded_from"]
    media = message.get("media")
    if media and media["class"] == "media_call":  # a call is a notice in the JSON export
        return {**record, "type": "service", "actor": chat.sender, "action": "phone_call"}
    return {**record, **_media_fields(media)} if media else record


def _notice(sentence: str, chat_title: str) -> dict:
    for pattern, action in _ACTIONS:
        match = pattern.fullmatch(sentence)
        if match:
            found = match.groupdict()
            record = {"type": "service", "actor": found.get("actor") or chat_title, "action": action}
            if found.get("title") is not None:
                record["title"] = found["title"]
            if found.get("members"):
                head, _, last = found["members"].rpartition(" and ")
                record["members"] = [*head.split(", "), last] if head else [last]
            return record
    return {"type": "service", "actor": chat_title, "text": sentence}


def _media_fields(media: dict) -> dict:
    """The fields the JSON export gives a message's media (those telegram.py reads)."""
    kind, title, link = media["class"], media.get("title", ""), media["link"]
    if kind == "media_photo" and title == "Sticker":  # not shown as a picture: emoji, size
        emoji = media.get("status", "").split(", ")[0]
        return {"media_type": "sticker", "sticker_emoji": "" if _FILE_SIZE.fullmatch(emoji) else emoji}
    if kind in ("photo_wrap", "media_photo"):
        return {"photo": link or title}
    if kind == "media_video":
        return {"media_type": _VIDEO_TITLES.get(title, "video_file")}
    if kind in _MEDIA_TYPES:
        return {"media_type": _MEDIA_TYPES[kind]}
    if kind == "media_file":
        return {"file": link or title}
    if kind == "media_contact":
        return {"contact_information": {"phone_number": media.get("status", "")}}
    if kind == "media_game":
        return {"game_title": title}
    if kind == "media_poll":
        if media.get("details") == "To-do List":  # a to-do list is drawn as a poll
            return {"todo_list": {"title": media.get("question", "")}}
        return {"poll": {"question": media.get("question", "")}}
    point = _COORDINATES.search(link)  # a location or venue: null without a valid point
    return {"location_information": point and {"latitude": point[1], "longitude": point[2]}}


def _iso_time(title: str) -> str:
    """"14.03.2021 09:03:40 UTC+03:00" -> "2021-03-14T09:03:40", the local time the JSON
    export writes; anything else is returned as is, to be skipped as an impossible date."""
    match = _DATE.match(title.strip())
    if not match:
        return title
    day, month, year, hour, minute, second = match.groups()
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}"
