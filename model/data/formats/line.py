"""LINE "Export chat history" text (.txt), English, Japanese and Chinese UI.

    [LINE] Chat history with Ana            [LINE] Anaとのトーク履歴
    Saved on: 2024/01/02 12:34              保存日時：2024/01/02 12:34

    2024/01/01(Mon)                         2024/01/01(月)
    09:15<TAB>Ana<TAB>good morning          午前9:15<TAB>Ana<TAB>おはよう

The title names the chat ("Chat history with Ana", "Chat history in Family",
"Anaとのトーク履歴", "與Ana的聊天記錄", "与Ana的聊天记录"); a date line opens each day
(`2024/01/01(Mon)`, `Mon, 01/01/2024`, `2017/11/20（一）`, iOS's `2024.01.01 Monday`,
`2024/1/1周一`); a message is time, sender and text separated by tabs, the time 24-hour
or 12-hour (`04:46 PM`, `04:46pm`, `午後4:46`, `下午04:46`). A message with
line breaks is written in double quotes over several lines; lines inside it that look
like dates or messages are part of it. Lines with no sender column are LINE's own
(joins, "Ana unsent a message.") and become `system` (`deleted` for unsent messages);
calls (`☎ …`) are `system`, placeholders such as `[Photo]`, `[スタンプ]` `media`.
Times are the phone's local time, as written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import date
from pathlib import PurePosixPath

from model.data.messages import Message
from model.errors import InputError

NAME = "line"
SNIFF_LINES = 200
QUOTED_LINES = 1000  # a quoted message not closed within this many lines was not one

_TITLE = re.compile(
    r"^\[LINE\]\s*(?:Chat history (?:with|in) (?P<en>.+)|(?P<ja>.+?)とのトーク履歴"
    r"|(?P<jag>.+?)のトーク履歴|[與与](?P<zh>.+?)的聊天[記记][錄录]|(?P<zhg>.+?)的聊天[記记][錄录]"
    r"|(?P<other>.*))$"
)
_SAVED = re.compile(r"^(?:Saved on|保存日時|儲存日期|保存日期)\s*[:：]")
_DATE = re.compile(
    r"^(?:(?P<y>\d{4})[/.](?P<m>\d{1,2})[/.](?P<d>\d{1,2})"
    r"\s*(?:[(（][^)）]*[)）]|[A-Z][a-z]+day|周.)"  # (Mon), （一）, iOS's Monday, 周一
    r"|(?P<weekday>[A-Z][a-z]{2}), (?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<year>\d{4}))\s*$"
)
_MESSAGE = re.compile(
    r"^(?P<pre>AM|PM|午前|午後|上午|下午)?\s?(?P<h>\d{1,2}):(?P<min>\d{2})(?:\s?(?P<post>[AaPp][Mm]))?"
    r"\t(?P<rest>.*)$"
)
_AFTERNOON = {"PM", "午後", "下午"}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MEDIA = frozenset(
    {
        "[Photo]", "[Sticker]", "[Video]", "[File]", "[Voice message]", "[Contact]",
        "[Location]", "[Album]", "[Albums]", "[Note]", "[GIF]",
        "[写真]", "[スタンプ]", "[動画]", "[ファイル]", "[ボイスメッセージ]", "[連絡先]",
        "[位置情報]", "[アルバム]", "[ノート]",
        "[照片]", "[貼圖]", "[影片]", "[檔案]", "[語音訊息]", "[聯絡資訊]", "[位置資訊]",
        "[贴图]", "[视频]", "[文件]", "[语音信息]", "[位置]",
    }
)  # fmt: skip
_UNSENT = re.compile(
    r"^(?P<who>.+?)(?: unsent a message\.?|がメッセージの送信を取り消しました|已收回訊息)$"
)


def sniff(entry) -> bool:
    lines = entry.head_text().lstrip("\ufeff").splitlines()[:SNIFF_LINES]
    first = next((line for line in lines if line.strip()), "")
    if first.startswith("[LINE]"):
        return True
    # a file without its title: a date line, then messages of three tab-separated columns
    messages = [match for match in map(_MESSAGE.match, lines) if match and "\t" in match["rest"]]
    return any(_DATE.match(line) for line in lines) and len(messages) >= 2


def parse(entry, ctx) -> Iterator[Message]:
    conversation, numbered = _read_title(enumerate(entry.lines(), 1))
    conversation = conversation or PurePosixPath(entry.relpath).stem
    day: date | None = None
    # a while loop, not a for loop: reading a quoted message may give lines back
    while (item := next(numbered, None)) is not None:
        number, line = item
        if not line.strip():
            continue
        if (found := _date(line)) is not None:
            day = found
            continue
        if day is None:
            raise InputError(
                "expected a LINE date line such as 2024/01/01(Mon) before the messages",
                entry.name, number,
            )
        header = _MESSAGE.match(line)
        if header is None:
            ctx.report.skip(entry.name, number, "line that is no LINE message or date")
            continue
        sender, text = _columns(header["rest"])
        if text.startswith('"') and text.count('"') % 2:
            text, numbered = _quoted(text, numbered)
        try:
            time = _time(day, header)
        except ValueError:
            ctx.report.skip(entry.name, number, "LINE message with an impossible time")
            continue
        message = _message(conversation, time, sender, text)
        if message is None:
            ctx.report.skip(entry.name, number, "LINE message without text")
        else:
            yield message


def _read_title(numbered: Iterator) -> tuple[str, Iterator]:
    """The chat's name from the title lines; the lines after them."""
    title = ""
    for number, line in numbered:
        stripped = line.lstrip("\ufeff").strip()
        if match := _TITLE.match(stripped):
            title = next(name for name in match.groupdict().values() if name is not None)
        elif stripped and not _SAVED.match(stripped):
            return title.strip(), itertools.chain([(number, line)], numbered)
    return title.strip(), iter(())


def _date(line: str) -> date | None:
    match = _DATE.match(line.strip())
    if match is None:
        return None
    if match["y"]:
        try:
            return date(int(match["y"]), int(match["m"]), int(match["d"]))
        except ValueError:
            return None
    # "Mon, 01/02/2024": month first as in the US, unless only day-first fits the weekday
    year, first, second = int(match["year"]), int(match["a"]), int(match["b"])
    candidates = []
    for month, day in ((first, second), (second, first)):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    fitting = [d for d in candidates if _WEEKDAYS[d.weekday()] == match["weekday"]]
    return (fitting or candidates or [None])[0]


def _columns(rest: str) -> tuple[str, str]:
    """(sender, text); LINE's own lines have no sender column ("" then)."""
    sender, tab, text = rest.partition("\t")
    return (sender.strip(), text) if tab else ("", rest)


def _quoted(text: str, numbered: Iterator) -> tuple[str, Iterator]:
    """A message in double quotes over several lines, quotes removed; the lines after it.

    If no closing quote comes within QUOTED_LINES lines, the quote was the sender's own:
    the first line is the message and the lines read ahead are given back."""
    taken, quotes = [], text.count('"')
    for number, line in itertools.islice(numbered, QUOTED_LINES):
        taken.append((number, line))
        quotes += line.count('"')
        if quotes % 2 == 0 and line.rstrip().endswith('"'):
            whole = "\n".join([text, *(line for _, line in taken)]).rstrip()
            return whole[1:-1], numbered
    return text, itertools.chain(taken, numbered)


def _time(day: date, header: re.Match) -> str:
    hour, minute = int(header["h"]), int(header["min"])
    meridiem = header["pre"] or header["post"]
    if meridiem:
        if hour > 12:
            raise ValueError("12-hour time past 12")
        hour = hour % 12 + (12 if meridiem.upper() in _AFTERNOON else 0)  # iOS: "01:05pm"
    if hour > 23 or minute > 59:
        raise ValueError("no such time")
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def _message(conversation: str, time: str, sender: str, text: str) -> Message | None:
    text = text.rstrip()
    if not text:
        return None
    if not sender:  # LINE's own line: "Ana unsent a message.", "Ana joined the group."
        unsent = _UNSENT.match(text)
        if unsent:
            return Message(NAME, conversation, time, unsent["who"], text, "deleted")
        return Message(NAME, conversation, time, "", text, "system")
    if text.startswith("☎"):
        kind = "system"
    elif text in _MEDIA:
        kind = "media"
    else:
        kind = "text"
    return Message(NAME, conversation, time, sender, text, kind)
