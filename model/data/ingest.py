"""`python -m model ingest`: chat exports in, Message records out.

Detection is by content: every format's `sniff` looks at the first bytes of a file.
A folder or zip may hold several chats (and unrelated files, which are reported, not
fatal); a single file that no format recognises is an error.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from model.data.formats import FORMATS
from model.data.messages import Message
from model.data.report import Report
from model.data.sources import Entry, Limits, Tree, looks_binary, open_tree, zip_in_folder
from model.errors import InputError
from model.files import sha256_stream

DEFAULT_ME = "Me"
COPY = "a copy of a chat export read already"  # a skip reason, and no error: it was read


class Ingested:
    """What one ingest has read so far, across every PATH (and a manifest's sources).

    Conversations of different files are kept apart: pairs never cross a conversation, so
    two files that both hold a "WhatsApp Chat with Bo" must not become one. The first file
    (or Discord channel: see NAMED_BY_THE_CHAT) to use a name keeps it; any other gets
    "name (2)", "name (3)"… (as Telegram's same-name chats get their id). And a file
    whose content was read already (a chat's `.txt` beside the `.zip` it came in, one
    export given twice) is not read again: its messages would be learned twice, and
    could land on both sides of the held-out split.
    """

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}  # conversation name -> the file (or chat) that holds it
        self._contents: dict[str, str] = {}  # sha256 of a file read -> its name

    def name(self, owner: str, conversation: str) -> str:
        name, number = conversation, 1
        while self._owner.setdefault(name, owner) != owner:
            number += 1
            name = f"{conversation} ({number})"
        return name

    def read_before(self, entry: Entry) -> bool:
        """Whether a file with `entry`'s content was read already (it is, from now on)."""
        with entry.open_binary() as handle:
            digest = sha256_stream(handle)
        if digest in self._contents:
            return True
        self._contents[digest] = entry.name
        return False


@dataclass
class Context:
    report: Report
    tree: Tree
    me: str = DEFAULT_ME
    # relpaths a tree format (Slack) read as part of its export; the rest of the tree is
    # still looked at file by file, so a folder may hold a Slack export and other chats
    claimed: set[str] = field(default_factory=set)
    ingested: Ingested = field(default_factory=Ingested)


def detect(entry: Entry) -> str | None:
    """The name of the first format whose sniffer accepts this entry, else None."""
    for name, module in FORMATS.items():
        if module.sniff(entry):
            return name
    return None


def ingest(
    paths: Iterable[str],
    fmt: str = "auto",
    report: Report | None = None,
    me: str = DEFAULT_ME,
    limits: Limits = Limits(),
    exclude: Iterable[str] = (),
    ingested: Ingested | None = None,
) -> Iterator[Message]:
    """Stream Messages from every PATH; `report` collects the summary.

    Files in `exclude` (the command's --out) are never read from a folder: an output
    written into the folder it reads would be read back by the next run. `ingested` carries
    what was read across several calls (a manifest's sources).
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    report = report if report is not None else Report()
    ingested = ingested if ingested is not None else Ingested()
    excluded = frozenset(os.path.realpath(path) for path in exclude)
    for path in paths:
        left_out = Counter()  # why files were not read (not lines: those are skipped later)

        def skip(where, line, reason, left_out=left_out):
            if line is None:
                left_out[reason] += 1
            report.skip(where, line, reason)

        tree = open_tree(path, limits, skip, excluded)
        read = len(report.files)
        for message in _ingest_tree(Context(report, tree, me, ingested=ingested), fmt):
            report.count(message)
            yield message
        if len(report.files) == read and not left_out[COPY]:
            what = "chat export" if fmt == "auto" else f"{fmt} export"
            raise InputError(f"found no {what} among {_why_left_out(left_out)}", tree.name)


def _ingest_tree(ctx: Context, fmt: str) -> Iterator[Message]:
    """Messages of every export in ctx.tree; each export read is added to report.files."""
    tree = ctx.tree
    for name, module in FORMATS.items():
        if hasattr(module, "parse_tree") and fmt in ("auto", name):
            with _archive_errors(tree.name):
                if module.sniff_tree(tree):
                    ctx.report.files.append((tree.name, name))
                    yield from _named(module.parse_tree(tree, ctx), tree.name, ctx)
                    break
    for entry in tree.entries:
        if entry.relpath in ctx.claimed:
            continue
        with _archive_errors(entry.name):
            zipped = zip_in_folder(entry)
            if zipped is not None:  # read like a zip given directly
                yield from _ingest_tree(Context(ctx.report, zipped, ctx.me, ingested=ctx.ingested), fmt)
                continue
            name, sniffed = _choose_format(entry, fmt, tree)
            if name is None:
                if tree.is_single_file:
                    raise InputError(_unknown_reason(entry), entry.name)
                entry.skip(entry.name, None, "not a chat export")
                continue
            if ctx.ingested.read_before(entry):
                entry.skip(entry.name, None, COPY)
                continue
            ctx.report.files.append((entry.name, name))
            count = 0
            for message in _named(FORMATS[name].parse(entry, ctx), entry.name, ctx):
                count += 1
                yield message
        if not sniffed and count == 0:
            raise InputError(f"nothing in it could be read as a {fmt} export", entry.name)


# formats whose reader keeps its conversations apart itself (ctx.ingested.name), by the
# chat's own id rather than by file: a Discord channel is one conversation in however
# many files it was exported to, and two servers' "Friends / general" are two
NAMED_BY_THE_CHAT = frozenset({"discord"})


def _named(messages: Iterator[Message], file: str, ctx: Context) -> Iterator[Message]:
    """`messages` of one file (or tree export), their conversations kept apart from other files'."""
    for message in messages:
        if message.source not in NAMED_BY_THE_CHAT:
            message.conversation = ctx.ingested.name(file, message.conversation)
        yield message


def _why_left_out(left_out: Counter, shown: int = 3) -> str:
    """"3 file(s) (2 not a chat export; 1 not a regular file (FIFO))": the commonest reasons."""
    reasons = [f"{count} {reason}" for reason, count in left_out.most_common(shown)]
    more = "; …" if len(left_out) > shown else ""
    return f"{sum(left_out.values())} file(s)" + (f" ({'; '.join(reasons)}{more})" if reasons else "")


def _choose_format(entry: Entry, fmt: str, tree: Tree) -> tuple[str | None, bool]:
    """(format name or None, whether its sniffer recognised the entry).

    A forced format is also tried on a single file its sniffer doubts (the user knows
    best); if nothing comes out of it, that is an error rather than an empty result.
    """
    if fmt == "auto":
        name = detect(entry)
        return name, name is not None
    if FORMATS[fmt].sniff(entry):
        return fmt, True
    return (fmt, False) if tree.is_single_file else (None, False)


@contextlib.contextmanager
def _archive_errors(name: str):
    """Turn low-level read failures (damaged archives, a disk error, a file removed while
    read) into InputErrors naming the file."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"damaged or truncated archive ({exc})", name) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name) from None


def _unknown_reason(entry: Entry) -> str:
    if looks_binary(entry.head()):
        return "binary file of an unknown format"
    if len(entry.head()) == entry.size and not entry.head_text().strip():
        return "empty file"  # or only a byte-order mark and blank lines
    return f"unrecognised chat format (try --format; known: {', '.join(FORMATS)})"
