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
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import InputError

HEAD_BYTES = 64 * 1024
SKIP_NAMES = {".DS_Store", "Thumbs.db"}

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

    def open_binary(self) -> io.BufferedIOBase:
        try:
            return self._open()
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), self.name) from None

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

        Streaming keeps memory flat on exports of any size.
        """
        handle = self.open_binary()
        encoding = detect_encoding(handle.peek(4) if hasattr(handle, "peek") else self.head())
        text = io.TextIOWrapper(handle, encoding=encoding, newline=None)
        try:
            for line in text:
                yield line[:-1] if line.endswith("\n") else line
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


def looks_binary(head: bytes) -> bool:
    """NUL bytes outside a UTF-16 text mean binary (SQLite, images, archives)."""
    if detect_encoding(head) == "utf-16":
        return False
    return b"\x00" in head[:8192]


def open_tree(path: str | Path) -> Tree:
    """Expand one PATH into a Tree; a missing or unreadable PATH is an InputError."""
    path = Path(path)
    display = str(path)
    if path.is_dir():
        entries = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name in SKIP_NAMES or name.startswith("."):
                    continue
                full = os.path.join(root, name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                entries.append(_file_entry(full, f"{display.rstrip('/')}/{rel}", rel))
        return Tree(display, entries, is_single_file=False)
    if not path.exists():
        raise InputError("no such file or folder", display)
    if zipfile.is_zipfile(path):
        return _zip_tree(path, display)
    if _starts_like_zip(path):
        raise InputError("damaged or truncated zip archive (its index is missing)", display)
    return Tree(display, [_file_entry(str(path), display, path.name)], is_single_file=True)


def _starts_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), str(path)) from None


def _file_entry(full: str, name: str, rel: str) -> Entry:
    return Entry(name, rel, os.path.getsize(full), lambda: open(full, "rb"), _local=full)


def _zip_tree(path: Path, display: str) -> Tree:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"unreadable zip ({exc})", display) from None
    entries = []
    for info in infos:
        base = info.filename.rsplit("/", 1)[-1]
        if info.is_dir() or base in SKIP_NAMES or base.startswith(".") or "__MACOSX" in info.filename:
            continue
        entries.append(
            Entry(
                f"{display}!{info.filename}",
                info.filename,
                info.file_size,
                lambda info=info: _open_member(archive, info, display),
            )
        )
    return Tree(display, entries, is_single_file=False)


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, display: str):
    try:
        return archive.open(info)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise InputError(f"cannot read {info.filename} ({exc})", display) from None
