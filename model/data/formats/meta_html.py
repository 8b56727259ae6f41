"""Facebook Messenger and Instagram direct messages from Meta's "Download your information"
in its default HTML format (the JSON one is `meta.py`).

A thread is a folder (`your_facebook_activity/messages/inbox/ana_1234/`,
`your_instagram_activity/messages/inbox/…`, `messages/inbox/…` in older downloads) of
`message_1.html`, `message_2.html`…, newest first (Instagram starts a new page every
10,000 messages). The page's `<title>` is the thread's title; each message is a block:

    <div|section class="… _a6-g …">                           2022 on (`_2lej` before)
      <div|h2 class="… _a6-h _a6-i">Ana</div|h2>              sender (`_2lel`)
      <div class="… _a6-p"><div>                              content (`_2let`)
        <div></div> <div>words<br /> more words</div>         the text
        <div>link preview</div> <div></div>
        <div><div><img|video|audio src="…/photos/…"> or <a href="…/files/…"></div></div>
        <div><ul class="_a6-q"><li>😆Bo</li></ul></div>      reactions (not messages)
        <div><span class="_idm">Duration: 26 minutes</span></div>   a call
      </div></div>
      <div|footer class="_3-94 _a6-o">[<div class="_a72d">]Mar 12, 2024 8:25:13 pm</…>   (`_2lem`)
    </div|section>

An unsent message's text is Meta's own words in grey italics, in the account's language.
A block without a date (a group's "Participants: …" line atop the page) is no message.
Meta's JSON mapping is reused (`meta.kind_of`): the same thread gives the same Messages as
from its JSON download, except that Instagram's HTML times stop at the minute.

Dates are written in the account's language, in the time zone Meta wrote the download in;
they are kept as written, as WhatsApp's are. Read: English ("Mar 12, 2024 8:25:13 pm",
"Mar 12, 2024 11:03:54pm", "May 14, 2024, 6:21 AM", "05 Jan 2020, 15:04") and Vietnamese
("Tháng 10 13, 2023 8:35:59chiều"). A date in another language is skipped with the
reason, and a page whose dates cannot be read at all is an error that points to the JSON
download: guessing a day/month order or a month name would misdate every message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from html.parser import HTMLParser
from pathlib import PurePosixPath

from model.data.formats.meta import kind_of, readable_thread, thread_name
from model.data.messages import Message
from model.data.sources import Tree, each_built
from model.errors import InputError

NAME = "meta-html"

JSON_INSTEAD = ("download the JSON format instead (Accounts Center → Your information and "
                "permissions → Download your information → Format: JSON)")

# A message's content starts with an empty <div> and then its text: thread pages have it,
# Meta's other HTML pages (posts, friends, comments) do not
_SNIFF = re.compile(r'class="[^"]*\b(?:_a6-p|_2let)\b[^"]*"\s*><div>\s*<div>\s*</div>\s*<div>')
_BLOCK, _SENDER, _CONTENT, _DATE = ({"_a6-g", "_2lej"}, {"_a6-h", "_2lel"},
                                    {"_a6-p", "_2let"}, {"_a6-o", "_2lem"})  # fmt: skip
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
# the JSON field a file's folder (or, failing that, its tag) stands for
_MEDIA_FOLDERS = {"photos": "photos", "videos": "videos", "gifs": "gifs", "audio": "audio_files",
                  "files": "files", "stickers_used": "sticker"}
_MEDIA_TAGS = {"img": "photos", "video": "videos", "audio": "audio_files", "a": "files"}

_MONTHS = {name: number for number, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), 1) for name in names}
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))? ?(?P<half>am|pm|sáng|chiều)?"
_DATES = (
    re.compile(rf"(?P<month>[a-z]+)\.? (?P<day>\d{{1,2}}), (?P<year>\d{{4}}),? {_TIME}"),
    re.compile(rf"(?P<day>\d{{1,2}}) (?P<month>[a-z]+)\.? (?P<year>\d{{4}}),? {_TIME}"),
    re.compile(rf"tháng (?P<month>\d{{1,2}}) (?P<day>\d{{1,2}}), (?P<year>\d{{4}}),? {_TIME}"),
)
_AFTERNOON = {"pm", "chiều"}


class _Node:
    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag, self.attrs, self.children = tag, attrs, []
        self.classes = set(attrs.get("class", "").split())

    def elements(self) -> list[_Node]:
        return [child for child in self.children if isinstance(child, _Node)]

    def find(self, classes: set[str]) -> _Node | None:
        for child in self.elements():
            if child.classes & classes:
                return child
            found = child.find(classes)
            if found is not None:
                return found
        return None

    def walk(self) -> Iterator[_Node]:
        for child in self.elements():
            yield child
            yield from child.walk()

    def text(self) -> str:
        """The words as written: `<br />` (and the one space Meta writes after it) is a newline."""
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif child.tag == "br":
                parts.append("\n")
            else:
                parts.append(child.text())
        return re.sub(r"\n ", "\n", "".join(parts))


class _Page(HTMLParser):
    """Meta's page as a tree: its title and every message block, in page order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = None
        self.open: list[_Node] = [_Node("#root", {})]
        self.blocks: list[_Node] = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, {key: value or "" for key, value in attrs})
        self.open[-1].children.append(node)
        if node.classes & _BLOCK:
            self.blocks.append(node)
        self._in_title = tag == "title"
        if tag not in _VOID:
            self.open.append(node)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        self._in_title = False
        for depth in range(len(self.open) - 1, 0, -1):  # close up to the matching tag
            if self.open[depth].tag == tag:
                del self.open[depth:]
                break

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data
        self.open[-1].children.append(data)


def sniff(entry) -> bool:
    head = entry.head_text()
    return "<html" in head[:4096].lower() and bool(_SNIFF.search(head))


def parse(entry, ctx) -> Iterator[Message]:
    page = _page(entry)
    yield from _thread([(entry, page)], thread_name(entry.relpath, _data(page), {}), ctx)


def sniff_tree(tree: Tree) -> bool:
    return not tree.is_single_file and any(readable_thread(entry, sniff) for entry in tree.entries)


def parse_tree(tree: Tree, ctx) -> Iterator[Message]:
    """Every thread of a download, its pages merged; memory holds one thread at a time."""
    folders: dict[str, list] = {}
    for entry in tree.entries:
        if readable_thread(entry, sniff):
            ctx.claimed.add(entry.relpath)
            folders.setdefault(str(PurePosixPath(entry.relpath).parent), []).append(entry)
    names: dict[str, str] = {}
    for folder, entries in folders.items():
        pages = [(entry, _page(entry)) for entry in sorted(entries, key=_page_number)]
        yield from _thread(pages, thread_name(folder, _data(pages[0][1]), names), ctx)


def _page_number(entry) -> tuple[int, str]:
    """message_2.html after message_1.html (and before message_10.html)."""
    number = re.search(r"(\d+)\.html?$", entry.relpath)
    return (int(number.group(1)) if number else 0), entry.relpath


def _page(entry) -> _Page:
    page = _Page()
    page.feed(entry.read_text())
    page.close()
    if not page.blocks:
        raise InputError(f"Meta's HTML download in a page layout this reader does not know; {JSON_INSTEAD}",
                         entry.name)
    return page


def _data(page: _Page) -> dict:
    return {"title": (page.title or "").strip()}


def _thread(pages: list, conversation: str, ctx) -> Iterator[Message]:
    stamped = []  # (time, -position, message)
    for entry, page in pages:
        dated = [block for block in page.blocks if block.find(_DATE) is not None]
        if dated and not any(_readable(block) for block in dated):
            written = " ".join(dated[0].find(_DATE).text().split())
            raise InputError(f'Meta\'s HTML download with dates written as "{written}", a language or '
                             f"format this reader cannot read; {JSON_INSTEAD}", entry.name)
        for time, message in each_built(
                dated, lambda block: _stamped_message(block, conversation), ctx.report,
                lambda number, _, name=entry.name: f"{name} (message #{number})",
                "meta message without sender or content", "meta message with a date this reader cannot read"):
            stamped.append((time, -len(stamped), message))
    stamped.sort(key=lambda item: item[:2])  # pages list the newest first
    for _, _, message in stamped:
        yield message


def _readable(block: _Node) -> bool:
    try:
        local_time(block.find(_DATE).text())
        return True
    except ValueError:
        return False


def _stamped_message(block: _Node, conversation: str) -> tuple[str, Message] | None:
    time = local_time(block.find(_DATE).text())
    sender_node, content = block.find(_SENDER), block.find(_CONTENT)
    record = _record(content) if content is not None else {}
    sender = " ".join(sender_node.text().split()) if sender_node is not None else ""
    text = record.get("content", "")
    kind, text = kind_of(record, sender, text)
    if not sender or not text:
        return None
    return time, Message(NAME, conversation, time, sender, text, kind)


def _record(content: _Node) -> dict:
    """The block's content as the JSON download's message fields, for meta.kind_of."""
    parts = content.elements()[0].elements() if content.elements() else []
    record: dict = {}
    words = parts[1] if len(parts) > 1 else None
    if words is not None and any(
            "italic" in node.attrs.get("style", "") for node in words.walk() if node.tag == "div"):
        record["is_unsent"] = True  # Meta's "This message was unsent", in the account's language
    elif words is not None:
        record["content"] = words.text()
    for node in content.walk():
        if node.classes & {"_idm"}:
            record["call_duration"] = node.text()
        uri = node.attrs.get("src") or (node.attrs.get("href") if node.tag == "a" else "")
        if node.tag in _MEDIA_TAGS and uri and not uri.startswith(("http:", "https:")):
            folders = PurePosixPath(uri).parts[:-1]
            field = next((_MEDIA_FOLDERS[f] for f in reversed(folders) if f in _MEDIA_FOLDERS),
                         _MEDIA_TAGS[node.tag])
            if field == "sticker":
                record["sticker"] = {"uri": uri}
            else:
                record.setdefault(field, []).append({"uri": uri})
    return record


def local_time(written: str) -> str:
    """A date as Meta's HTML writes it, as ISO local time; ValueError if it is not one."""
    text = " ".join(written.replace("\u202f", " ").replace("\u00a0", " ").split()).lower()
    for pattern in _DATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        month = match["month"]
        month = int(month) if month.isdigit() else _MONTHS.get(month)
        hour, half = int(match["hour"]), match["half"]
        if month is None or (half and not 1 <= hour <= 12):
            break
        if half:
            hour = hour % 12 + (12 if half in _AFTERNOON else 0)
        return datetime(int(match["year"]), month, int(match["day"]), hour, int(match["minute"]),
                        int(match["second"] or 0)).isoformat(timespec="seconds")
    raise ValueError(f"not a date: {written!r}")
