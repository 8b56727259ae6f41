"""iMessage: the macOS/iOS `chat.db` / `sms.db` SQLite database, or imessage-exporter TXT.

Database: one conversation per chat name (its display name, else its identifier such as
a phone number): the iMessage and the SMS chat Messages keeps for one number are one. `message.date` counts from 2001-01-01 UTC, in nanoseconds on current
systems and in seconds on old ones (told apart by magnitude); it is written as local
time of the machine running the ingest (`datetime.fromtimestamp`, i.e. the TZ
environment variable / system zone), because the database itself stores no zone.
Newer macOS versions leave `message.text` NULL and keep the text only in
`attributedBody`, an archived NSAttributedString that model.data.formats.typedstream reads; a
blob it cannot read is skipped with the reason. Tapbacks and empty rows are skipped and
counted; attachments become `media` messages (their caption, if any). A message its
sender unsent (macOS 13 / iOS 16 on) keeps its row, emptied: `message_summary_info`
tells it apart, and it becomes a `deleted` message. An edited message keeps its last text.

TXT: the files `imessage-exporter -f txt` writes, one per chat (the file name is the
conversation): blocks of a date line (`May 17, 2022  5:29:42 PM`, maybe followed by a
read receipt), a sender line (`Me` or a contact), the text, and a blank line. Replies
are indented by four spaces and become messages of their own.
"""

from __future__ import annotations

import itertools
import plistlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from model.data.formats.typedstream import TypedstreamError, attributed_string_text
from model.data.messages import Message
from model.data.sources import dict_of, list_of
from model.errors import InputError

NAME = "imessage"

SQLITE_MAGIC = b"SQLite format 3\x00"
APPLE_EPOCH = 978307200  # 2001-01-01T00:00:00Z as a Unix timestamp
# associated_message_type of reactions (2006 an emoji, 2007 a sticker) and their removals
TAPBACKS = range(2000, 3008)
ATTACHMENT_CHAR = "\ufffc"  # where an attachment sits inside the text
UNSENT = "<unsent>"  # the text of a message its sender unsent

_TXT_DATE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{2}), (?P<year>\d{4}) +"
    r"(?P<hour>\d{1,2}):(?P<min>\d{2}):(?P<sec>\d{2}) (?P<ampm>AM|PM)(?P<rest>.*)$"
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_RENAMED = re.compile(r"^(?P<who>.+?) renamed the conversation to (?P<title>.*)$")
_DROPPED_LINES = re.compile(r"^(This message responded to an earlier message\.|Sent with [\w ]+)$")
_REACTION_LINE = re.compile(r"^(\S+ by .+|Sticker from .+: .+)$")
_GROUP_EVENTS = {
    1: "changed the members",
    2: "renamed the conversation",
    3: "left the conversation",
}


def sniff(entry) -> bool:
    if entry.head().startswith(SQLITE_MAGIC):
        return _has_message_table(entry)
    lines = [line for line in entry.head_text().lstrip("\ufeff").splitlines() if line.strip()]
    if not lines or not _TXT_DATE.match(lines[0]):
        return False
    # a message header (date, maybe a read receipt) followed by a sender line; the file may
    # open with an announcement ("... You renamed the conversation to ...") instead
    for header, sender in itertools.pairwise(lines[:51]):
        match = _TXT_DATE.match(header)
        if match and _is_receipt(match.group("rest")) and not _TXT_DATE.match(sender):
            return True
    return False


def parse(entry, ctx) -> Iterator[Message]:
    if entry.head().startswith(SQLITE_MAGIC):
        yield from _parse_database(entry, ctx)
    else:
        yield from _parse_txt(entry, ctx)


# --- the SQLite database -------------------------------------------------------------


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    db.text_factory = lambda data: data.decode("utf-8", errors="replace")  # damaged text too
    return db


def _has_message_table(entry) -> bool:
    try:
        with entry.local_path() as path:
            db = _connect(path)
            try:
                rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            finally:
                db.close()
    except (sqlite3.Error, InputError):
        return False
    return {"message", "handle", "chat_message_join"} <= {name for (name,) in rows}


def _parse_database(entry, ctx) -> Iterator[Message]:
    with entry.local_path() as path:
        try:
            db = _connect(path)
        except sqlite3.Error as exc:
            raise InputError(f"cannot open the iMessage database ({exc})", entry.name) from None
        try:
            yield from _database_messages(db, entry, ctx)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"unreadable iMessage database ({exc})", entry.name) from None
        finally:
            db.close()


def _database_messages(db: sqlite3.Connection, entry, ctx) -> Iterator[Message]:
    message_columns = {row[1] for row in db.execute("PRAGMA table_info(message)")}
    chat_columns = {row[1] for row in db.execute("PRAGMA table_info(chat)")}

    def column(name: str, kind: str = "INTEGER") -> str:  # old iOS versions lack newer columns
        # CAST: SQLite stores any type in any column; rows must not surprise the code below
        return f"CAST(m.{name} AS {kind})" if name in message_columns else "NULL"

    chat_name = "c.chat_identifier"
    if "display_name" in chat_columns:
        chat_name = "COALESCE(NULLIF(c.display_name, ''), c.chat_identifier)"
    query = f"""
        SELECT m.ROWID, {column("text", "TEXT")}, {column("attributedBody", "BLOB")},
               {column("date")}, {column("is_from_me")}, CAST(h.id AS TEXT),
               {column("associated_message_type")}, {column("item_type")},
               {column("group_title", "TEXT")}, {column("cache_has_attachments")},
               {column("message_summary_info", "BLOB")},
               {column("date_edited")} OR {column("date_retracted")},
               COALESCE(CAST({chat_name} AS TEXT), CAST(h.id AS TEXT), 'iMessage') AS conversation
        FROM message m
        LEFT JOIN handle h ON h.ROWID = m.handle_id
        LEFT JOIN chat_message_join j ON j.message_id = m.ROWID
        LEFT JOIN chat c ON c.ROWID = j.chat_id
        ORDER BY conversation, m.date, m.ROWID
    """
    # by name, not by chat: Messages keeps one chat per service (iMessage, SMS) for the
    # same number, and both are the one conversation with it, their messages interleaved
    for row in db.execute(query):
        rowid, text, body, date, from_me, handle, associated, item_type, title, attached, \
            summary, changed, conversation = row
        where = f"{entry.name} (message {rowid})"
        if associated in TAPBACKS:
            ctx.report.skip(where, None, "tapback/reaction")
            continue
        sender = ctx.me if from_me else (handle or "unknown")
        if item_type:
            event = _GROUP_EVENTS.get(item_type)
            if event is None:
                ctx.report.skip(where, None, f"unsupported iMessage event (item_type {item_type})")
                continue
            text = f"{event} to {title}" if item_type == 2 and title else event
            yield Message(NAME, conversation, apple_time(date), sender, text, "system")
            continue
        if _unsent(summary):
            yield Message(NAME, conversation, apple_time(date), sender, UNSENT, "deleted")
            continue
        if text is None and body:
            try:
                text = attributed_string_text(bytes(body))
            except TypedstreamError as exc:
                ctx.report.skip(where, None, f"undecodable attributedBody ({exc})")
                continue
        text = text or ""
        kind = "media" if attached or ATTACHMENT_CHAR in text else "text"
        text = text.replace(ATTACHMENT_CHAR, "").strip()
        if kind == "media":
            text = text or "<attachment>"
        if not text:
            # edited or unsent, yet message_summary_info does not say it was unsent
            reason = "empty message (unsent or edited away?)" if changed else "empty message"
            ctx.report.skip(where, None, reason)
            continue
        yield Message(NAME, conversation, apple_time(date), sender, text, kind)


def _unsent(summary: bytes | None) -> bool:
    """Whether every part of a message was unsent, by its `message_summary_info`: a binary
    plist whose `otr` holds the message's parts by index ("0", "1"…) and `rp` the indexes
    of the parts unsent (read here rather than `date_retracted`, which third-party notes
    say may be cleared later). A message only partly unsent (its photo, not its words)
    keeps what is left."""
    try:
        info = plistlib.loads(summary, fmt=plistlib.FMT_BINARY) if summary else {}
    except ValueError:  # damaged: plistlib raises InvalidFileException, a ValueError
        return False
    parts = set(dict_of(info, "otr"))
    unsent = {str(index) for index in list_of(info, "rp") if type(index) is int}
    return bool(parts) and parts <= unsent


def apple_time(value: int | None) -> str | None:
    """Apple epoch (ns, or s on old databases) -> local ISO time with seconds."""
    if not value:
        return None
    seconds = value / 1e9 if abs(value) > 1e11 else value
    try:
        return datetime.fromtimestamp(seconds + APPLE_EPOCH).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # a damaged date: keep the message, not the time
        return None


# --- imessage-exporter TXT ------------------------------------------------------------


def _is_receipt(rest: str) -> bool:
    return rest == "" or rest.startswith(" (Read by ")


def _txt_time(match: re.Match) -> str:
    hour = int(match.group("hour")) % 12 + (12 if match.group("ampm") == "PM" else 0)
    stamp = datetime(
        int(match.group("year")), _MONTHS[match.group("mon")], int(match.group("day")),
        hour, int(match.group("min")), int(match.group("sec")),
    )  # fmt: skip
    return stamp.isoformat()


class _Block:
    """One message being read: its header, sender and body lines."""

    def __init__(self, time: str, line: int):
        self.time, self.line = time, line
        self.sender: str | None = None
        self.body: list[str] = []
        self.in_reactions = False

    def add(self, text: str) -> None:
        if self.sender is None:
            self.sender = text or None
        elif text == "Reactions:":
            self.in_reactions = True
        elif self.in_reactions and _REACTION_LINE.match(text):
            pass  # a tapback on this message, not something anyone wrote
        else:
            self.in_reactions = False
            self.body.append(text)


def _parse_txt(entry, ctx) -> Iterator[Message]:
    conversation = Path(entry.relpath).stem
    blocks: list[_Block] = []  # the top-level message, then its indented replies
    after_blank = True
    for number, line in enumerate(entry.lines(), 1):
        line = line.lstrip("\ufeff") if number == 1 else line
        indented = line.startswith("    ")
        content = line[4:] if indented else line
        header = _TXT_DATE.match(content)
        if header and (after_blank or indented) and _is_receipt(header.group("rest")):
            if not indented:
                yield from _emit(blocks, conversation, entry, ctx)
                blocks = []
            blocks.append(_Block(_txt_time(header), number))
        elif header and after_blank and not indented:
            yield from _emit(blocks, conversation, entry, ctx)
            blocks = []
            yield _announcement(header, conversation, ctx)
        elif blocks:
            target = blocks[-1] if indented or len(blocks) == 1 else blocks[0]
            target.add(content)
        elif line.strip():
            ctx.report.skip(entry.name, number, "text before the first imessage message")
        after_blank = not line.strip()
    yield from _emit(blocks, conversation, entry, ctx)


def _is_attachment_line(line: str) -> bool:
    """The exporter writes an attachment as its file path (or says it is missing)."""
    if line == "Attachment missing!":
        return True
    if not line.startswith(("/", "~/")):
        return False
    stem, dot, suffix = line.rpartition("/")[2].rpartition(".")
    return bool(stem and dot) and 2 <= len(suffix) <= 5 and suffix.isalnum()


def _emit(blocks: list[_Block], conversation: str, entry, ctx) -> Iterator[Message]:
    for block in blocks:
        lines = [line for line in block.body if not _DROPPED_LINES.match(line)]
        attachments = [line for line in lines if _is_attachment_line(line)]
        text = "\n".join(line for line in lines if not _is_attachment_line(line)).strip("\n")
        kind = "media" if attachments else "text"
        text = text or ("<attachment>" if attachments else "")
        if not block.sender or not text:
            ctx.report.skip(entry.name, block.line, "empty imessage message")
            continue
        sender = ctx.me if block.sender == "Me" else block.sender
        yield Message(NAME, conversation, block.time, sender, text, kind)


def _announcement(header: re.Match, conversation: str, ctx) -> Message:
    rest = header.group("rest").strip()
    renamed = _RENAMED.match(rest)
    who = renamed.group("who") if renamed else ""
    sender = ctx.me if who in ("You", "Me") else who or conversation
    return Message(NAME, conversation, _txt_time(header), sender, rest, "system")
