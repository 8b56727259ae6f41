"""`python -m model ingest`: chat exports in, Message records out.

Detection is by content: every format's `sniff` looks at the first bytes of a file.
A folder or zip may hold several chats (and unrelated files, which are reported, not
fatal); a single file that no format recognises is an error.
"""

from __future__ import annotations

import contextlib
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from model.data.formats import FORMATS
from model.data.messages import Message
from model.data.report import Report
from model.data.sources import Entry, Limits, Tree, open_tree
from model.errors import InputError

DEFAULT_ME = "Me"


@dataclass
class Context:
    report: Report
    tree: Tree
    me: str = DEFAULT_ME
    # relpaths a tree format (Slack) read as part of its export; the rest of the tree is
    # still looked at file by file, so a folder may hold a Slack export and other chats
    claimed: set[str] = field(default_factory=set)
    # why files of the tree were not read (links, FIFOs, zip bombs): an error that finds
    # no export says so
    passed_over: list[str] = field(default_factory=list)


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
) -> Iterator[Message]:
    """Stream Messages from every PATH; `report` collects the summary."""
    if fmt != "auto" and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (choose from auto, {', '.join(FORMATS)})")
    report = report if report is not None else Report()
    for path in paths:
        passed_over = []  # why the tree left files out (lines skipped later are not counted)

        def skip(where, line, reason, passed_over=passed_over):
            if line is None:
                passed_over.append(reason)
            report.skip(where, line, reason)

        tree = open_tree(path, limits, skip)
        ctx = Context(report, tree, me, passed_over=passed_over)
        for message in _ingest_tree(tree, fmt, ctx):
            report.count(message)
            yield message


def _ingest_tree(tree: Tree, fmt: str, ctx: Context) -> Iterator[Message]:
    tree_formats = [
        (name, module)
        for name, module in FORMATS.items()
        if hasattr(module, "parse_tree") and fmt in ("auto", name)
    ]
    found = False
    for name, module in tree_formats:
        with _archive_errors(tree.name):
            if module.sniff_tree(tree):
                ctx.report.files.append((tree.name, name))
                yield from module.parse_tree(tree, ctx)
                found = True
                break
    for entry in tree.entries:
        if entry.relpath in ctx.claimed:
            continue
        with _archive_errors(entry.name):
            name, sniffed = _choose_format(entry, fmt, tree)
            if name is None:
                if tree.is_single_file:
                    raise InputError(_unknown_reason(entry), entry.name)
                ctx.report.skip(entry.name, None, "not a chat export")
                continue
            found = True
            ctx.report.files.append((entry.name, name))
            count = 0
            for message in FORMATS[name].parse(entry, ctx):
                count += 1
                yield message
        if not sniffed and count == 0:
            raise InputError(f"nothing in it could be read as a {fmt} export", entry.name)
    if not found:
        what = "chat export" if fmt == "auto" else f"{fmt} export"
        why = f" ({len(ctx.passed_over)} left out, first: {ctx.passed_over[0]})" if ctx.passed_over else ""
        raise InputError(f"found no {what} among {len(tree.entries)} file(s){why}", tree.name)


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
    if entry.size == 0:
        return "empty file"
    if not entry.head_text():
        return "binary file of an unknown format"
    return f"unrecognised chat format (try --format; known: {', '.join(FORMATS)})"
