"""Turn a user's PATH (a file, a .zip export or a folder) into readable entries.

Formats never open files themselves: they get `Entry` objects, so a chat inside a zip,
a folder or a plain file is read the same way, and every error names the same place
("export.zip!WhatsApp Chat.txt").
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from model.errors import InputError

HEAD_BYTES = 64 * 1024
SKIP_NAMES = {".DS_Store", "Thumbs.db"}
MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one ingest reads at most, so a hostile or broken export cannot exhaust memory
    or disk. Each limit has an `ingest` flag that raises it (README, "Ingest limits")."""

    max_member_mb: int = 2048  # a zip member's uncompressed size
    max_zip_ratio: int = 100  # a zip member's uncompressed / compressed size …
    ratio_from_mb: int = 8  # … checked on members larger than this only
    max_json_mb: int = 1024  # a JSON (or X archive .js) file, parsed whole: ~5x in memory
    max_line_chars: int = 1_000_000  # one line of a text export (WhatsApp allows 65,536)


Skip = Callable[[str, "int | None", str], None]  # Report.skip(where, line, reason)


def _ignore(where: str, line: int | None, reason: str) -> None:
    """The skip callback of a tree opened outside an ingest (sniffing in tests)."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class Entry:
    """One file of an export: `name` for messages, `relpath` inside its tree."""

    name: str
    relpath: str
    size: int
    _open: Callable[[], io.BufferedIOBase] = field(repr=False)
    _local: str | None = field(default=None, repr=False)
    _head: bytes | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits, repr=False)
    skip: Skip = field(default=_ignore, repr=False)

    def open_binary(self) -> io.BufferedIOBase:
        try:
            return self._open()
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), self.name) from None

    def read_whole(self) -> None:
        """Refuse a file too large to be parsed whole (JSON, X archive scripts)."""
        if self.size > self.limits.max_json_mb * MIB:
            raise InputError(f"{self.size / MIB:.1f} MiB is over the {self.limits.max_json_mb} MiB "
                             "limit for files read whole (raise it with --max-json-mb)", self.name)

    def head(self) -> bytes:
        """The first 64 KiB, for content sniffing (cached)."""
        if self._head is None:
            with self.open_binary() as handle:
                self._head = handle.read(HEAD_BYTES)
        return self._head

    def head_text(self) -> str:
        """The head decoded leniently; empty for binary content."""
        data = self.head()
        if looks_binary(data):
            return ""
        return data.decode(detect_encoding(data), errors="replace")

    def read_bytes(self) -> bytes:
        with self.open_binary() as handle:
            return handle.read()

    def read_text(self) -> str:
        self.read_whole()
        data = self.read_bytes()
        encoding = detect_encoding(data)
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            raise self.decode_error(encoding) from None

    def decode_error(self, encoding: str) -> InputError:
        """The InputError for text that is not valid `encoding`, naming the first bad line.

        Streaming decoders fail a whole chunk at a time, so the line is found again here.
        """
        data = self.read_bytes()
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            return InputError(f"not valid {encoding} text ({exc.reason})", self.name, line)
        return InputError(f"not valid {encoding} text", self.name)

    def read_json(self):
        """The entry decoded as JSON; a syntax error names the entry and line."""
        return parse_json(self.read_text(), self.name)

    def lines(self) -> Iterator[str]:
        """Stream decoded lines without their line ending (CRLF, LF, CR all handled).

        Streaming keeps memory flat on exports of any size: a line longer than
        `limits.max_line_chars` is read in bounded pieces, reported as skipped and given
        to the format as an empty line, so line numbers stay true.
        """
        handle = self.open_binary()
        encoding = detect_encoding(handle.peek(4) if hasattr(handle, "peek") else self.head())
        text = io.TextIOWrapper(handle, encoding=encoding, newline=None)
        limit = self.limits.max_line_chars
        try:
            for number, line in enumerate(iter(lambda: text.readline(limit + 1), ""), 1):
                if len(line) <= limit or (len(line) == limit + 1 and line[-1] == "\n"):
                    yield line[:-1] if line.endswith("\n") else line
                    continue
                while line and not line.endswith("\n"):  # drain the rest of the long line
                    line = text.readline(limit)
                self.skip(self.name, number, f"line longer than {limit:,} characters "
                          "(raise the limit with --max-line-chars)")
                yield ""
        except UnicodeDecodeError:
            raise self.decode_error(encoding) from None
        finally:
            text.close()

    @contextlib.contextmanager
    def local_path(self) -> Iterator[str]:
        """A real filesystem path (SQLite needs one); zip members are extracted to a temp file."""
        if self._local is not None:
            yield self._local
            return
        fd, tmp = tempfile.mkstemp(suffix=Path(self.relpath).suffix)
        try:
            with os.fdopen(fd, "wb") as out, self.open_binary() as src:
                shutil.copyfileobj(src, out)
            yield tmp
        finally:
            os.unlink(tmp)


@dataclass
class Tree:
    """All entries found under one PATH the user gave."""

    name: str
    entries: list[Entry]
    is_single_file: bool

    def find(self, suffix: str) -> Entry | None:
        """The entry whose relative path ends with `suffix` (case-insensitive)."""
        suffix = suffix.lower()
        for entry in self.entries:
            if entry.relpath.lower().endswith(suffix):
                return entry
        return None


def detect_encoding(head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return "utf-8"


def parse_json(text: str, name: str, start: int = 0):
    """json.loads of `text[start:]` (an X archive's JS files put `window.YTD.x = ` first)
    with errors that say where; truncated files are told apart from bad syntax."""
    try:
        return json.loads(text[start:]) if start else json.loads(text)
    except json.JSONDecodeError as exc:
        line = exc.lineno + text.count("\n", 0, start)
        # an unterminated string runs to the end of the file: that is a cut-off file too
        ended = exc.pos + start >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated JSON (file ends early)" if ended else f"invalid JSON ({exc.msg})"
        raise InputError(what, name, line) from None


# Exports are user files: one record with a wrongly typed field must not stop an ingest,
# so formats read JSON records through these and treat anything unexpected as missing.


def text_of(record, key: str) -> str:
    """record[key] as text: a string as is, a number as its digits, anything else ""."""
    value = record.get(key) if isinstance(record, dict) else None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def dict_of(record, key: str) -> dict:
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, dict) else {}


def list_of(record, key: str) -> list:
    value = record.get(key) if isinstance(record, dict) else None
    return value if isinstance(value, list) else []


class Unusable(Exception):
    """Raised by a format's record builder: skip the record, for the reason given."""


def each_built(records, build: Callable, report, where: Callable[[int, object], str],
               missing: str, undated: str) -> Iterator:
    """What `build(record)` makes of each JSON record, in order. A record it makes nothing
    of (None) is skipped as `missing`, one whose date is impossible (build raises
    ValueError, as time_of does) as `undated`, one it raises Unusable for with that
    reason; `where(number, record)` names it."""
    for number, record in enumerate(records, 1):
        try:
            made, reason = build(record), missing
        except Unusable as exc:
            made, reason = None, str(exc)
        except ValueError:
            made, reason = None, undated
        if made is None:
            report.skip(where(number, record), None, reason)
        else:
            yield made


def time_of(record, key: str) -> str | None:
    """record[key] as ISO-8601 local time to the second, zone dropped ("2023-01-05T14:03:00");
    None when absent. A value that is no date ("not a date", 30 February, a list) raises
    ValueError: the format skips that record with its index rather than copy it through."""
    value = record.get(key) if isinstance(record, dict) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key!r} is not a date")
    return datetime.fromisoformat(value.strip()).replace(tzinfo=None).isoformat(timespec="seconds")


def looks_binary(head: bytes) -> bool:
    """NUL bytes outside a UTF-16 text mean binary (SQLite, images, archives)."""
    if detect_encoding(head) == "utf-16":
        return False
    return b"\x00" in head[:8192]


def open_tree(path: str | Path, limits: Limits = Limits(), skip: Skip = _ignore,
              exclude: frozenset[str] = frozenset()) -> Tree:
    """Expand one PATH into a Tree; a missing or unreadable PATH is an InputError.

    Only regular files are read. In a folder, a symbolic link is followed only to a
    regular file inside the same folder; FIFOs, devices, sockets, dangling links and
    links out of the tree are skipped with a reason (a FIFO would block forever), and so
    are the files whose real path is in `exclude` (the command's own output).
    """
    path = Path(path)
    display = str(path)
    if path.is_dir():
        entries = _folder_entries(path, display.rstrip("/"), limits, skip, exclude)
        return Tree(display, list(entries), is_single_file=False)
    if not path.exists():
        raise InputError("no such file or folder", display)
    kind = _file_kind(path)
    if kind != "file":
        raise InputError(f"not a regular file ({kind})", display)
    zipped = _open_zip(path, display, limits, skip)
    if zipped is not None:
        return zipped
    return Tree(display, [_file_entry(str(path), display, path.name, limits, skip)], is_single_file=True)


def zip_in_folder(entry: Entry) -> Tree | None:
    """A .zip file found in a folder as the Tree it is when given directly (the same
    limits apply to its members); None for any other entry, zip members included."""
    if entry._local is None:
        return None
    return _open_zip(Path(entry._local), entry.name, entry.limits, entry.skip)


def _open_zip(path: Path, display: str, limits: Limits, skip: Skip) -> Tree | None:
    if zipfile.is_zipfile(path):
        return _zip_tree(path, display, limits, skip)
    if _starts_like_zip(path):
        raise InputError("damaged or truncated zip archive (its index is missing)", display)
    return None


def reading_order(name: str) -> list:
    """Sort key of a file name: a file before its numbered parts, and numbers by value, so
    an export split into parts is read in order ("general.txt", "general [part 2].txt", …
    "general [part 10].txt"; "message_2.json" before "message_10.json"). Plain sorting
    puts "general [part 2].txt" first (a space sorts before the dot)."""
    stem, dot, suffix = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    return [[int(t) if t.isdigit() else t for t in re.split(r"(\d+)", stem)], dot + suffix]


def _folder_entries(folder: Path, display: str, limits: Limits, skip: Skip,
                    exclude: frozenset[str]) -> Iterator[Entry]:
    root = os.path.realpath(folder)

    def unreadable(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename or root, root)
        skip(f"{display}/{rel}", None, f"unreadable folder ({exc.strerror})")

    read = set()  # real paths already given, so a link beside its target is read once
    for where, dirs, files in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # os.walk never follows links
        for name in sorted(files, key=reading_order):
            if name in SKIP_NAMES or name.startswith("."):
                continue
            full = os.path.join(where, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            shown = f"{display}/{rel}"
            target = os.path.realpath(full)
            kind = _file_kind(Path(target))  # first: a dangling link points nowhere, not outside
            if kind != "file":
                skip(shown, None, f"not a regular file ({kind})")
                continue
            if os.path.commonpath([root, target]) != root:
                skip(shown, None, "link that points outside the folder")
                continue
            if target in exclude:
                skip(shown, None, "this command's own output (--out)")
                continue
            if target in read:
                skip(shown, None, "same file as another entry (a link)")
                continue
            read.add(target)
            yield _file_entry(target, shown, rel, limits, skip)


def _file_kind(path: Path) -> str:
    """"file" for a regular file, else what it is, in words for the skip reason."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "dangling link"
    except OSError as exc:
        return exc.strerror or "unreadable"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"


def _starts_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), str(path)) from None


def _file_entry(full: str, name: str, rel: str, limits: Limits, skip: Skip) -> Entry:
    return Entry(name, rel, os.path.getsize(full), lambda: open(full, "rb"), _local=full,
                 limits=limits, skip=skip)


def _zip_tree(path: Path, display: str, limits: Limits, skip: Skip) -> Tree:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"unreadable zip ({exc})", display) from None
    entries = []
    for info in sorted(infos, key=lambda info: [reading_order(part) for part in
                                                info.filename.split("/")]):
        base = info.filename.rsplit("/", 1)[-1]
        if info.is_dir() or base in SKIP_NAMES or base.startswith(".") or "__MACOSX" in info.filename:
            continue
        name = f"{display}!{info.filename}"
        if too_big := _member_over_limits(info, limits):
            skip(name, None, too_big)
            continue
        entries.append(
            Entry(name, info.filename, info.file_size,
                  lambda info=info: _open_member(archive, info, display), limits=limits, skip=skip)
        )
    return Tree(display, entries, is_single_file=False)


def _member_over_limits(info: zipfile.ZipInfo, limits: Limits) -> str | None:
    """Why a zip member is not read, or None. zipfile never yields more than the member's
    declared size, so checking the declared sizes bounds what reading can cost."""
    if info.file_size > limits.max_member_mb * MIB:
        return (f"zip member over {limits.max_member_mb:,} MiB uncompressed "
                "(raise the limit with --max-member-mb)")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_from_mb * MIB and ratio > limits.max_zip_ratio:
        return (f"zip member compressed more than {limits.max_zip_ratio}:1, like a zip bomb "
                "(raise the limit with --max-zip-ratio)")
    return None


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, display: str):
    try:
        return archive.open(info)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"cannot read {info.filename} ({exc})", display) from None
