"""DiscordChatExporter's other outputs: HTML (its default), plain text and CSV.

Each message is rebuilt as the record DiscordChatExporter's JSON holds and read by the
JSON reader (`discord.py`), so a channel comes out the same whichever way it was
exported, as far as the file carries it:

- the sender is the username: the HTML's author `title`, the TXT/CSV author column
  (a legacy name's "#1234" dropped, as the JSON's `name` has none);
- the conversation is "guild / channel" from the HTML and TXT headers; a CSV has no
  header, so its name comes from DiscordChatExporter's default file name
  "Guild - Category - channel [id].csv", else the file name. Parts of a `--partition`
  export ("… [part 2].html") are one conversation;
- times are the exporter's local time as written: ISO in CSVs since 2023, elsewhere the
  exporter's locale (`--locale`, "g": date and time to the minute, day/month order decided
  per file as for WhatsApp) or the invariant "dd-MMM-yy hh:mm tt" / "MM/dd/yyyy h:mm tt"
  of versions before 2.41. A date that cannot be read skips its message, reported by line;
- the HTML writes the date only with a group's first message and the time alone with the
  others (each within 7 minutes of the one before), so those take the group's date and
  step to the next day when the time runs back past midnight. Before 2.34 a group wrote
  its author and date once and each message its own date in a tooltip ("Message sent: …",
  since 2.28; before, a message takes its group's date); before 2.17 its header was
  `info__guild-name` and the CSV separated fields with ";";
- system notices (joins, pins, calls…) are `system` with the words of the JSON, a
  message of attachments, a sticker or an embed alone is `media`, a forwarded message
  with words `forwarded`; replies, "(edited)", reactions and bot tags are dropped.
  A TXT gives neither a sticker's name nor an embed's title ("<sticker>", "<embed>"); a
  CSV has no stickers or embeds at all, so such a message is skipped as empty.
"""

from __future__ import annotations

import csv
import datetime
import itertools
import re
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from model.data.formats.discord import channel_name, message_of
from model.data.formats.whatsapp_dates import MONTH_NUMBERS, Clock, layout_of, loose_match
from model.data.messages import Message
from model.errors import InputError

NAME = "discord-export"

MISSING = "discord message without author or content"
IMPOSSIBLE = "discord message with an impossible timestamp"
UNREADABLE = "discord message whose date cannot be read"

# ";" between fields and after the last until 2.17, AuthorID since 2.15
_CSV_HEADER = re.compile(r"(?:AuthorID[,;])?Author[,;]Date[,;]Content[,;]Attachments[,;]Reactions;?\r?\n")
RULE = "=" * 62  # the plain text export's preamble and postamble rules
_TEXT_START = re.compile(rf"{RULE}\r?\nGuild: ")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T")
_PART = re.compile(r" \[part \d+\]$")
_DEFAULT_FILE_NAME = re.compile(r"(?P<guild>.+?) - (?:.+ - )?(?P<channel>.+) \[\d+\](?: \(.+\))?")
_DISCRIMINATOR = re.compile(r"#\d{4}$")
_ASSET_HASH = re.compile(r"-(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{5})$")  # added by --media downloads
# "30-May-23": the invariant culture's short date before 2.41 (its month names are
# English, as in WhatsApp's old headers: whatsapp_dates.MONTH_NUMBERS)
_NAMED_MONTH_DATE = re.compile(r"\b(\d{1,2})-([A-Za-z]{3})-(\d{2})\b")
# GetFallbackContent: what DiscordChatExporter writes for a system notice in TXT, CSV, JSON
_SYSTEM_TEXT = re.compile(
    r"Added .+ to the group\.|Added a recipient\.|Left the group\.|Removed .+ from the group\."
    r"|Removed a recipient\.|Started a call that lasted [\d,.\s\u00a0\u202f]+ minutes\."
    r"|Changed the channel name(?:: .*|\.)|Changed the channel icon\.|Pinned a message\."
    r"|Started a thread\.|Joined the server\.", re.S)
LAYOUT_SAMPLE = 50  # message dates the file's date layout is learned from


def sniff(entry) -> bool:
    return _reader(entry.head_text().lstrip("\ufeff")) is not None


def parse(entry, ctx) -> Iterator[Message]:
    reader = _reader(entry.head_text().lstrip("\ufeff"))
    if reader is None:
        raise InputError("not a DiscordChatExporter HTML, TXT or CSV export", entry.name)
    conversation, items = reader(entry)
    # these files carry no channel id (the JSON reader keys a channel by it), so a channel
    # is its guild and channel names and the export's format: the parts of one export are
    # one conversation, the same channel exported in another format (or as JSON) another
    named: dict[str, str] = {}
    for line, record in _next_day_when_back(_dated(entry, ctx, items)):
        name = conversation()
        if name not in named:
            named[name] = ctx.ingested.name(f"discord {reader.__name__} export of {name}", name)
        try:
            message = message_of(record, named[name])
        except ValueError:
            ctx.report.skip(entry.name, line, IMPOSSIBLE)
            continue
        if message is None:
            ctx.report.skip(entry.name, line, MISSING)
        else:
            yield message


def _reader(head: str):
    if _CSV_HEADER.match(head):
        return _csv
    if _TEXT_START.match(head):
        return _text
    if "<html" in head[:512].lower() and ("preamble__entry" in head or "info__guild-name" in head) \
            and "chatlog__" in head:
        return _html
    return None


def _record(author: str, content: str = "", *, system: bool = False, attachments=(),
            stickers=(), embeds=(), forwarded: str | None = None) -> dict:
    """A message as DiscordChatExporter's JSON holds it (the fields the JSON reader reads)."""
    record = {
        "type": "System" if system else "Default",
        "author": {"name": _DISCRIMINATOR.sub("", author.strip())},
        "content": content,
        "attachments": [{"fileName": _file_name(url)} for url in attachments],
        "stickers": [{"name": name} for name in stickers],
        "embeds": list(embeds),
    }
    if forwarded is not None:
        record["forwardedMessage"] = {"content": forwarded}
    return record


def _file_name(url: str) -> str:
    """"https://cdn.discordapp.com/attachments/1/2/plan.png?ex=…" or the downloaded
    "general.html_Files/plan-1a2b3c4d5e6f7a8b.png" -> "plan.png"."""
    path = PurePosixPath(unquote(urlsplit(url.strip()).path.replace("\\", "/")))
    if url.startswith(("http://", "https://")):
        return path.name
    return _ASSET_HASH.sub("", path.stem) + path.suffix


def _conversation(guild: str, channel: str) -> str:
    return channel_name({"guild": {"name": guild}, "channel": {"name": channel}})


def _stem(entry) -> str:
    """The export's file name without extension and partition suffix."""
    return _PART.sub("", PurePosixPath(entry.relpath).stem)


# Dates ---------------------------------------------------------------------------------


def _dated(entry, ctx, items: Iterable) -> Iterator[tuple[int, dict]]:
    """(line, date text, record) in file order -> (line, record with its ISO "timestamp").

    ISO dates (CSV since 2023) are taken as written. Others are read in the layout most
    of the file's first dates share (WhatsApp's: every locale's short date and time);
    a date in no such layout is reported by line, never guessed.
    """
    items = iter(items)
    head = list(itertools.islice(items, LAYOUT_SAMPLE))
    if head and _ISO.match(head[0][1]):
        for line, stamp, record in itertools.chain(head, items):
            yield line, {**record, "timestamp": stamp}
        return
    layout = layout_of([_header(stamp) for _, stamp, _ in head])

    def readable() -> Iterator[list]:
        for line, stamp, record in itertools.chain(head, items):
            match = layout.pattern.match(_header(stamp)) if layout is not None else None
            if match is None:
                ctx.report.skip(entry.name, line, UNREADABLE)
            else:
                yield [line, match["date"], match["time"], (line, record), None]

    if layout is None:
        for _ in readable():  # reports every message
            pass
        return
    # a month's name (rewritten year first by _header) leaves no order to guess
    named = any(_header(stamp) != f"{stamp.strip()} - x" for _, stamp, _ in head)
    clock = Clock(layout, entry.name, day_first=False if named else None)
    for iso, (line, record), _ in clock.stamped(readable()):
        if iso is None:
            ctx.report.skip(entry.name, line, IMPOSSIBLE)
        else:
            yield line, {**record, "timestamp": iso}


def _header(stamp: str) -> str:
    """A date text as the head of a WhatsApp-like line, so WhatsApp's layouts read it.
    "30-May-23" is written year first ("2023-05-30"): its month name settles the order of
    day and month, which numbers alone would leave to be guessed from the file."""
    return _NAMED_MONTH_DATE.sub(_year_first, stamp.strip()) + " - x"


def _year_first(match: re.Match) -> str:
    month = MONTH_NUMBERS.get(match[2].casefold())
    return f"20{match[3]}-{month:02d}-{int(match[1]):02d}" if month else match[0]


# CSV -----------------------------------------------------------------------------------


def _csv(entry):
    stem = _stem(entry)
    named = _DEFAULT_FILE_NAME.fullmatch(stem)
    conversation = _conversation(named["guild"], named["channel"]) if named else stem
    return (lambda: conversation), _csv_items(entry)


def _csv_items(entry) -> Iterator[tuple[int, str, dict]]:
    lines = entry.lines()
    header = next(lines, "")
    delimiter = ";" if header.rstrip().endswith(";") else ","
    skipped = 1 if header.startswith("AuthorID") else 0  # the author's id
    rows = csv.reader((line + "\n" for line in lines), delimiter=delimiter)
    try:
        for row in rows:
            if not any(row):
                continue
            row = row[skipped:] + [""] * 5
            author, date, content, attachments = row[:4]
            yield rows.line_num + 1, date, _record(
                author, content, system=bool(_SYSTEM_TEXT.fullmatch(content)),
                attachments=[url for url in attachments.split(",") if url])
    except csv.Error as exc:  # an unclosed quote swallowing the file, a field over the limit
        raise InputError(f"malformed CSV ({exc})", entry.name, rows.line_num + 1) from None


# Plain text ----------------------------------------------------------------------------

_TEXT_HEADER = re.compile(r"\[(?P<stamp>[^\]]*\d[^\]]*)\] (?P<author>.+?)(?: \(pinned\))?")
_SECTIONS = ("{Attachments}", "{Embed}", "{Stickers}", "{Reactions}", "{Forwarded Message}")


def _text(entry):
    lines = enumerate(entry.lines(), 1)
    preamble = {}
    for _, line in itertools.islice(lines, 1, None):  # after the first rule
        if line == RULE:
            break
        key, _, value = line.partition(": ")
        preamble.setdefault(key, value)
    channel = preamble.get("Channel", "").rsplit(" / ", 1)[-1]  # "Category / channel"
    conversation = _conversation(preamble.get("Guild", ""), channel)
    return (lambda: conversation), _text_items(lines)


def _text_items(lines) -> Iterator[tuple[int, str, dict]]:
    """Messages: "[date] username", the content, then {Attachments}… sections, each block
    after a blank line. A header must have the shape of the file's first one (digits and
    words abstracted), so a line of content that merely starts with "[…]" stays content."""
    shape, header, body, blank = None, None, [], True
    for number, line in lines:
        match = _TEXT_HEADER.fullmatch(line) if blank else None
        if match and shape in (None, _shape(match["stamp"])):
            shape = _shape(match["stamp"])
            if header is not None:
                yield _text_message(*header, body)
            header, body = (number, match), []
        elif blank and line == RULE:  # the postamble
            break
        else:
            body.append(line)
        blank = not line
    if header is not None:
        yield _text_message(*header, body)


def _shape(stamp: str) -> str:
    return re.sub(r"\d+", "0", re.sub(r"[^\W\d_]+", "a", stamp))


def _text_message(number: int, header: re.Match, body: list[str]) -> tuple[int, str, dict]:
    sections: dict[str, list[str]] = {}
    current = content = []
    for index, line in enumerate(body):
        if line in _SECTIONS and (index == 0 or not body[index - 1]):
            current = sections.setdefault(line, [])
        elif line or current is content:
            current.append(line)
    text = "\n".join(content).strip("\n")
    forwarded = sections.get("{Forwarded Message}")
    if forwarded is not None:
        words = itertools.takewhile(lambda line: not line.startswith("Originally sent: "), forwarded)
        forwarded = "\n".join(words).strip("\n")
    return number, header["stamp"], _record(
        header["author"], text, system=bool(_SYSTEM_TEXT.fullmatch(text)),
        attachments=sections.get("{Attachments}", []),
        stickers=[""] * len(sections.get("{Stickers}", [])),
        embeds=[{}] * sum(line == "{Embed}" for line in body), forwarded=forwarded)


# HTML ----------------------------------------------------------------------------------


def _html(entry):
    reader = _HtmlReader(entry)
    return reader.conversation, reader.items()


def _next_day_when_back(dated: Iterator[tuple[int, dict]]) -> Iterator[tuple[int, dict]]:
    """An HTML group's later messages carry the group's date with their own time: a time
    earlier than the message before (each is within 7 minutes of it) is on the next day.
    TXT and CSV messages have no group."""
    previous = (None, None)
    for line, record in dated:
        group = record.get("group")
        if group is None:
            yield line, record
            continue
        time = datetime.datetime.fromisoformat(record["timestamp"])
        if group == previous[0] and time < previous[1]:
            time += datetime.timedelta(days=1)
            record["timestamp"] = time.isoformat()
        previous = (group, time)
        yield line, record


class _HtmlReader(HTMLParser):
    """Streams an HTML export (minified: a message group a line) into message records.

    Elements are known by their class. An element whose role captures text gets its own
    buffer; text goes to the innermost open buffer, and nothing is kept inside a reply's
    quote, reactions, "(edited)" or the BOT tag.
    """

    ROLES = {
        "chatlog__message-group": "group", "chatlog__message-container": "message",
        "chatlog__author": "author", "chatlog__system-notification-author": "author",
        "chatlog__timestamp": "date", "chatlog__system-notification-timestamp": "date",
        "chatlog__short-timestamp": "time", "chatlog__content": "content",
        "chatlog__system-notification-content": "system",
        "chatlog__forwarded": "forwarded", "chatlog__forwarded-content": "forwarded-words",
        "chatlog__attachment": "attachment", "chatlog__embed": "embed",
        "chatlog__embed-title": "embed-title", "chatlog__embed-title-link": "embed-link",
        "chatlog__sticker": "sticker", "preamble__entry": "preamble",
        "chatlog__reply": "drop", "chatlog__reactions": "drop",
        "chatlog__edited-timestamp": "drop", "chatlog__author-tag": "drop",
        # the layout before 2.34: a group's author and date once, then its messages
        "chatlog__author-name": "author", "chatlog__message": "message",
        "info__guild-name": "preamble", "info__channel-name": "preamble",
        "chatlog__reference": "drop", "chatlog__bot-tag": "drop",
    }
    CAPTURED = {"title", "preamble", "author", "date", "time", "content", "system",
                "forwarded-words", "embed-title"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self, entry):
        super().__init__(convert_charrefs=True)
        self.entry = entry
        self.title = ""
        self.preamble: list[str] = []
        self.open: list[tuple[str, str | None, dict, list | None]] = []  # tag, role, attrs, text
        self.groups = 0
        self.group: dict = {}  # the author and date of the group's first message
        self.message: dict = {}
        self.number = 0
        self.done: list[tuple[int, str, dict]] = []

    def conversation(self) -> str:
        guild, hierarchical = (self.preamble + ["", ""])[:2]
        # <title> is "guild - channel" and exact where a thread's name holds " / "; the
        # preamble's "category / channel" where the title is not (an older layout)
        if guild and self.title.startswith(f"{guild} - "):
            return _conversation(guild, self.title[len(guild) + 3:])
        return _conversation(guild, hierarchical.rsplit(" / ", 1)[-1])

    def items(self) -> Iterator[tuple[int, str, dict]]:
        for number, line in enumerate(self.entry.lines(), 1):
            self.number = number
            self.feed(line + "\n")
            yield from self._taken()
        self.close()
        yield from self._taken()

    def _taken(self) -> list[tuple[int, str, dict]]:
        done, self.done = self.done, []
        return done

    def handle_starttag(self, tag, attrs):
        attrs = {key: value or "" for key, value in attrs}
        classes = attrs.get("class", "").split()
        role = next((self.ROLES[c] for c in classes if c in self.ROLES), tag if tag == "title" else None)
        if role == "message" and self._inside("message"):  # since 2.34 a container's body
            role = None
        if role == "group":
            self.groups += 1
            self.group = {}
        elif role == "message":
            self.message = {"line": self.number, "attachments": [], "stickers": [], "embeds": []}
            sent = attrs.get("title", "").removeprefix("Message sent: ")  # 2.28-2.33: its own date
            if sent:
                self.message["stamp"] = sent
        elif self.message and not self._dropped():
            self._start(tag, role, attrs, classes)
        if tag not in self.VOID:
            self.open.append((tag, role, attrs, [] if role in self.CAPTURED else None))

    def _start(self, tag: str, role: str | None, attrs: dict, classes: list[str]) -> None:
        message = self.message
        if role == "sticker":
            message["stickers"].append(attrs.get("title", ""))
        elif role == "embed":
            message["embeds"].append({"title": "", "url": ""})
        elif role == "embed-link" and message["embeds"]:
            message["embeds"][-1]["url"] = attrs.get("href", "")
        elif role == "forwarded":
            message["forwarded"] = True
        elif role == "attachment":
            message["attachments"].append("")
        elif tag in ("a", "img", "source") and self._inside("attachment") \
                and not self._inside("forwarded") and not message["attachments"][-1]:
            # the first link of the attachment is the file (a generic one's icon comes first)
            message["attachments"][-1] = attrs.get("href") or attrs.get("src", "")
        elif {"chatlog__emoji", "emoji"} & set(classes):  # "emoji" before 2.34
            alt = attrs.get("alt", "")
            # a custom emoji's alt is its name, which the JSON's plain text writes ":name:"
            self._text(f":{alt}:" if re.fullmatch(r"\w+", alt) else alt)
        elif tag == "br":
            self._text("\n")

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                closed = self.open[index:]
                del self.open[index:]
                for _, role, attrs, text in reversed(closed):
                    if role is not None and not self._dropped():
                        self._closed(role, attrs, "".join(text or ()))
                return

    def handle_data(self, data):
        self._text(data)

    def _text(self, data: str) -> None:
        if self._dropped():
            return
        for _, _, _, text in reversed(self.open):
            if text is not None:
                text.append(data)
                return

    def _closed(self, role: str, attrs: dict, text: str) -> None:
        message = self.message
        if role == "title":
            self.title = " ".join(text.split())
        elif role == "preamble":
            self.preamble.append(" ".join(text.split()))
        elif role == "author":  # system notices of several people share a group
            author = attrs.get("title") or text
            self.group.setdefault("author", author)
            if self._inside("message"):  # before 2.34, the group's alone
                message["author"] = author
        elif role == "date":
            stamp = " ".join(text.split())
            found = loose_match(_header(stamp))
            self.group.setdefault("date", found["date"] if found else "")
            self.group.setdefault("stamp", stamp)
            if self._inside("message"):
                message["stamp"] = stamp
        elif role == "embed-title" and message["embeds"]:
            message["embeds"][-1]["title"] = text.strip()
        elif role in ("time", "content", "system", "forwarded-words"):
            message[role] = text.strip()
        elif role == "message":
            self._end_message()

    def _end_message(self) -> None:
        message = self.message
        if "time" in message:
            stamp = f"{self.group.get('date', '')} {message['time']}"
        else:  # before 2.28, a message has only its group's date
            stamp = message.get("stamp") or self.group.get("stamp", "")
        system = "system" in message
        record = _record(
            message.get("author") or self.group.get("author", ""),
            _system_text(message["system"]) if system else message.get("content", ""),
            system=system, attachments=[url for url in message["attachments"] if url],
            stickers=message["stickers"], embeds=message["embeds"],
            forwarded=message.get("forwarded-words", "") if "forwarded" in message else None)
        self.done.append((message["line"], stamp, {**record, "group": self.groups}))

    def _dropped(self) -> bool:
        return any(role == "drop" for _, role, _, _ in self.open)

    def _inside(self, wanted: str) -> bool:
        return any(role == wanted for _, role, _, _ in self.open)


def _system_text(text: str) -> str:
    """The HTML's "joined the server." as the JSON's "Joined the server." (GetFallbackContent)."""
    text = " ".join(text.split())
    if text.startswith("pinned a message"):  # "pinned a message to this channel."
        return "Pinned a message."
    if text.startswith("started a call") and not text.endswith("."):
        text += "."
    return text[:1].upper() + text[1:]
