"""Signal chats. Signal Desktop has no export button, so what is read is what the common
exporters write; each layout is recognised by content.

- signal-export (carderne/signal-export) Markdown, one `chat.md` (`index.md` in old
  versions) per chat folder: `[2024-03-20 12:00:00] Ana: text` (older versions: no
  seconds, or `[2020-07-20, 12:00]`), a blank line after each message, the text ending
  in two spaces (Markdown line breaks). Inside a message: the replied-to message first as
  `> ` lines (1.x: between two lone `>` lines; dropped: those are the other person's
  words), reactions as `(- Bo: 👍 -)` (dropped), a sticker as `(( 😀 ))`, attachments
  as links into `media/`, deleted messages as `(This message was deleted)`, calls as
  "Missed voice call" and the like.
  Plain `[2019-12-24, 12:23] Name: text` files (chat-miner's sample) read the same way.
- signal-export's `data.json` beside it: one JSON object per line (`date`, `sender`,
  `body`, `attachments`, `sticker`, `deleted`, `call`). When both are in a chat folder,
  only `data.json` is read (they hold the same messages).
- signalbackup-tools `--exporttxt` (Android backups), one file per chat (`Ana (_id12).txt`):
  `[Jan 05, 2024 14:03:22] <Ana> text`, status lines `[…] *** text`, attachments
  `[…] *** <Ana> sent file "IMG.jpg"`, reactions appended as ` (Bo: 👍)` (dropped). Its
  HTML export and its CSV dump of raw database tables (no names) are not read.

signal-export names the owner "Me"; those messages get `--me`. Times are the exporting
machine's local time, as written. The conversation is the chat's folder (signal-export)
or file name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

from emoji import is_emoji

from model.data.messages import Message
from model.data.sources import list_of, text_of, time_of
from model.errors import InputError

NAME = "signal"
SNIFF_LINES = 200
OWN = "Me"  # signal-export's name for the owner's messages
DELETED = "(This message was deleted)"

_MARKDOWN = re.compile(
    r"^\[(?P<date>\d{4}-\d{2}-\d{2})(?P<comma>,?) (?P<time>\d{2}:\d{2}(?::\d{2})?)\] "
    r"(?P<sender>[^:\n]+?): ?(?P<body>.*)$"
)
_BACKUP = re.compile(r"^\[(?P<stamp>[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2}:\d{2})\] (?P<body>.*)$")
_BACKUP_FILE = re.compile(r"^\*\*\* <(?P<sender>[^<>]*)> sent file(?: \"?(?P<what>.*?)\"?)?$")
_BACKUP_TEXT = re.compile(r"^<(?P<sender>[^<>]*)> (?P<text>.*)$", re.DOTALL)
_BACKUP_ID = re.compile(r" \(_id\d+\)$")  # signalbackup-tools' "Ana (_id12).txt"
# " (Bo: 👍; Ana: ❤️)" after a message; a reaction is an emoji, so words a message ends
# with, "(reason: traffic)", stay
_BACKUP_REACTION = r"[^():;\n]+: [^\s():;]*[^\s\x00-\x7f][^\s():;]*"
_BACKUP_REACTIONS = re.compile(rf" \({_BACKUP_REACTION}(?:; {_BACKUP_REACTION})*\)$")
# the link's path keeps the file's own parentheses: "media/2024-03-20_00_IMG_(1).jpg"
_ATTACHMENT = re.compile(
    r"!?\[(?P<name>[^\]\n]*)\]\((?:\.{1,2}/)?(?P<folder>media|exported_stickers)/"
    r"(?:[^()\s]|\([^()\s]*\))*\)"
    r"|\((?:media|attachment) not exported\)"
)
# reactions and a sticker start a line; attachment links may follow them on it
_REACTIONS = re.compile(r"^\(- .* -\)")
_STICKER = re.compile(r"^\(\( (?P<emoji>.*?) \)\)")
_CALL = re.compile(r"(?:Incoming|Outgoing|Missed) (?:voice |video |group )?call(?: \([^()\n]*\))?")
_GENERIC_STEMS = {"chat", "index", "data"}  # signal-export's file names; the folder is the chat


def sniff(entry) -> bool:
    return _layout(entry) is not None


def parse(entry, ctx) -> Iterator[Message]:
    layout = _layout(entry)
    conversation = _conversation(entry, ctx.tree)
    if layout == "records":
        yield from _parse_records(entry, conversation, ctx)
    elif layout == "backup":
        yield from _parse_backup(entry, conversation, ctx)
    elif _records_beside(entry, ctx.tree):
        reason = "signal-export Markdown with data.json beside it (read that)"
        ctx.report.skip(entry.name, None, reason)
    else:  # Markdown, or a file forced to this format
        yield from _parse_markdown(entry, conversation, ctx)


def _layout(entry) -> str | None:
    """"records", "backup" or "markdown" from the first lines, else None."""
    lines = entry.head_text().lstrip("\ufeff").splitlines()[:SNIFF_LINES]
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("{"):
        return "records" if _is_record(first) else None
    if sum(1 for line in lines if _BACKUP.match(line)) >= 2:
        return "backup"
    headers = [match for match in map(_MARKDOWN.match, lines) if match]
    if len(headers) < 2:
        return None
    # WhatsApp in an ISO-date locale looks the same line for line: what tells Signal apart
    # is signal-export's Markdown on most messages, or the comma layout WhatsApp never writes
    if all(match["comma"] and len(match["time"]) == 5 for match in headers):
        return "markdown"
    return "markdown" if 2 * sum(map(_looks_exported, headers)) >= len(headers) else None


def _looks_exported(header: re.Match) -> bool:
    body = header["body"]
    return body.endswith("  ") or not body or body == DELETED or "](./media/" in body


def _is_record(line: str) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and {"date", "sender", "body"} <= record.keys()


def _conversation(entry, tree) -> str:
    inner = PurePosixPath(entry.relpath)
    if inner.stem not in _GENERIC_STEMS:
        return _BACKUP_ID.sub("", inner.stem)
    folder = inner.parent.name
    if not folder and tree.is_single_file:
        folder = PurePosixPath(tree.name.replace("\\", "/")).parent.name
    return folder or inner.stem


def _records_beside(entry, tree) -> bool:
    """Whether signal-export's data.json sits in the same folder as this Markdown."""
    sibling = str(PurePosixPath(entry.relpath).with_name("data.json"))
    return any(other.relpath == sibling and _layout(other) == "records" for other in tree.entries)


def _own(sender: str, me: str) -> str:
    return me if sender == OWN else sender


# --- signal-export data.json ---------------------------------------------------------


def _parse_records(entry, conversation: str, ctx) -> Iterator[Message]:
    for number, line in enumerate(entry.lines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.lstrip("\ufeff"))
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON ({exc.msg})", entry.name, number) from None
        try:
            message = _record_message(record, conversation, ctx.me)
            reason = "signal message without sender or content"
        except ValueError:
            message, reason = None, "signal message with an impossible date"
        if message is None:
            ctx.report.skip(entry.name, number, reason)
        else:
            yield message


def _record_message(record, conversation: str, me: str) -> Message | None:
    sender = _own(text_of(record, "sender"), me)
    if not isinstance(record, dict) or not sender:
        return None
    time = time_of(record, "date")
    body = text_of(record, "body").strip()
    kind = "text"
    if record.get("deleted") is True:
        kind, body = "deleted", DELETED
    elif record.get("call") is True:
        kind, body = "system", body or "call"
    elif not body:
        kind, body = "media", _record_media(record)
    if not body:
        return None
    return Message(NAME, conversation, time, sender, body, kind)


def _record_media(record: dict) -> str:
    sticker = record.get("sticker")
    emoji = text_of(sticker, "emoji") if isinstance(sticker, dict) else text_of(record, "sticker")
    if sticker:
        return f"<sticker: {emoji}>" if emoji else "<sticker>"
    for attachment in list_of(record, "attachments"):
        return f"<attachment: {text_of(attachment, 'name') or 'file'}>"
    return ""


# --- text layouts: a header line starts a message, other lines continue it ------------


def _blocks(entry, pattern: re.Pattern, ctx) -> Iterator[tuple[int, re.Match, list[str]]]:
    """(line number, header match, [first line's body, continuation lines...])."""
    current = None
    for number, line in enumerate(entry.lines(), 1):
        header = pattern.match(line)
        if header is not None:
            if current is not None:
                yield current
            current = (number, header, [header["body"]])
        elif current is not None:
            current[2].append(line)
        elif line.strip():
            ctx.report.skip(entry.name, number, "text before the first Signal message")
    if current is not None:
        yield current


def _parse_markdown(entry, conversation: str, ctx) -> Iterator[Message]:
    for number, header, lines in _blocks(entry, _MARKDOWN, ctx):
        time = f"{header['date']}T{header['time']}"  # as written: seconds only where shown
        try:
            datetime.fromisoformat(time)
        except ValueError:
            ctx.report.skip(entry.name, number, "signal message with an impossible date")
            continue
        text, kind = _markdown_body(lines, exported=not header["comma"])
        if not text:
            ctx.report.skip(entry.name, number, "signal message without text or attachment")
            continue
        sender = _own(header["sender"], ctx.me)
        yield Message(NAME, conversation, time, sender, text, kind)


def _markdown_body(lines: list[str], exported: bool) -> tuple[str, str]:
    """(text, kind) of one Markdown message, its quote, reactions and links taken out.
    `exported`: written by signal-export (whose dates have no comma)."""
    own = _without_quote(lines)
    written = [line for line in own if line.strip()]
    # signal-export 1.x put a sticker's emoji in place of the message, so without the two
    # spaces it ends every text with
    if exported and len(written) == 1 and is_emoji(written[0]):
        return f"<sticker: {written[0]}>", "media"
    kept, sticker = [], None
    for line in own:
        line = _REACTIONS.sub("", line)
        if match := _STICKER.match(line):
            sticker, line = match["emoji"], line[match.end() :]
        kept.append(line.rstrip())
    text = "\n".join(kept)
    links = list(_ATTACHMENT.finditer(text))
    text = _ATTACHMENT.sub("", text).strip()
    if text == DELETED:
        return text, "deleted"
    if _CALL.fullmatch(text):
        return text, "system"
    if text:
        return text, "text"
    for link in links:
        if link["folder"] == "exported_stickers":
            sticker = link["name"]
    if sticker is not None:
        return f"<sticker: {sticker}>", "media"
    if links:
        return f"<attachment: {links[0]['name'] or 'file'}>", "media"
    return "", "text"


def _without_quote(lines: list[str]) -> list[str]:
    """A message's lines without the message it replies to (the other person's words),
    which comes first, on the lines after the empty header line. signal-export 2.x writes
    every quoted line as "> "; 1.x put the quote between two lone ">" lines and prefixed
    only its first line."""
    if lines[0].strip():
        return lines
    if lines[1:2] == [">"] and ">" in lines[2:]:
        return lines[lines.index(">", 2) + 1 :]
    start = 1
    while start < len(lines) and (not lines[start].strip() or lines[start].startswith(">")):
        start += 1
    return lines[start:]


def _parse_backup(entry, conversation: str, ctx) -> Iterator[Message]:
    for number, header, lines in _blocks(entry, _BACKUP, ctx):
        try:
            time = datetime.strptime(header["stamp"], "%b %d, %Y %H:%M:%S").isoformat()
        except ValueError:
            ctx.report.skip(entry.name, number, "signal message with an impossible date")
            continue
        body = _BACKUP_REACTIONS.sub("", "\n".join(lines).rstrip())
        if sent := _BACKUP_FILE.match(body):
            what = (sent["what"] or "file").removeprefix("of type ")
            yield Message(NAME, conversation, time, sent["sender"], f"<file: {what}>", "media")
        elif body.startswith("*** "):
            yield Message(NAME, conversation, time, "", body[4:], "system")
        elif (said := _BACKUP_TEXT.match(body)) and said["sender"]:
            kind = "system" if said["text"].startswith("Poll: ") else "text"
            yield Message(NAME, conversation, time, said["sender"], said["text"], kind)
        else:
            ctx.report.skip(entry.name, number, "signal line without <sender>")
