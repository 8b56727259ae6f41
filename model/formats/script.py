"""Scripts: a CSV of lines with a speaker column, or a play / screenplay as plain text.

CSV: the header names a speaker column (`person_scene`, `speaker`, `character`, ...)
and a text column (`dialogue`, `line`, `text`, ...); an episode/title column and a
scene column, when present, name the conversation. Rows whose speaker is `Scene` (the
Kaggle Big Bang Theory layout) start a new scene of the episode.

Plain text: a speaker's name alone on a line (upper case, maybe with a parenthetical
such as `(V.O.)` or a trailing period, as in `HAMLET.`), then the speech up to the next
blank line. Scene headings (`INT.`, `EXT.`, `SCENE`, `ACT`) start a new conversation;
stage directions in (parentheses) or [brackets] and action paragraphs are dropped.
Speech lines are joined with spaces (screenplay line breaks are layout, not writing).
Scripts have no clock, so `time` is null. The text sniffer is deliberately strict (it
runs last): several speech blocks, two speakers at least, one of them speaking twice.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from model.errors import InputError
from model.messages import Message
from model.sources import detect_encoding

NAME = "script"

SPEAKER_COLUMNS = ("person_scene", "speaker", "character", "char", "person", "name", "who", "role")
TEXT_COLUMNS = ("dialogue", "dialog", "line", "lines", "text", "utterance", "quote", "speech")
EPISODE_COLUMNS = ("episode_name", "episode", "episode_title", "title", "play", "film", "movie")
SCENE_COLUMNS = ("scene", "scene_number", "scene_name", "act_scene")
SCENE_MARKERS = {"scene"}

_DIRECTION = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])\s*")
_HEADING = re.compile(r"^(INT\.|EXT\.|INT/EXT|I/E\.|SCENE\b|ACT\b)", re.IGNORECASE)
_TRANSITION = re.compile(r"(\bTO:|^FADE (IN|OUT)|^THE END|^CONTINUED|^MORE$|^CHAPTER\b)")
_NAME_CHARS = re.compile(r"^[^\W\d_][\w .'&-]*$")
MIN_BLOCKS = 4


def sniff(entry) -> bool:
    text = entry.head_text().lstrip("\ufeff")
    if not text.strip():
        return False
    if _csv_columns(_header_cells(text.splitlines()[0])) is not None:
        return True
    return _looks_like_play(text.splitlines()[:400])


def parse(entry, ctx) -> Iterator[Message]:
    first = entry.head_text().lstrip("\ufeff").partition("\n")[0]
    if _csv_columns(_header_cells(first)) is not None:
        yield from _parse_csv(entry, ctx)
    else:
        yield from _parse_play(entry, ctx)


# --- CSV -----------------------------------------------------------------------------


def _header_cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _csv_columns(header: list[str]) -> dict[str, int] | None:
    """Positions of the speaker/text/episode/scene columns, or None if not such a CSV."""
    cells = [cell.strip().lower().lstrip("\ufeff") for cell in header]
    if len(cells) < 2:
        return None
    found = {}
    for role, names in (
        ("speaker", SPEAKER_COLUMNS),
        ("text", TEXT_COLUMNS),
        ("episode", EPISODE_COLUMNS),
        ("scene", SCENE_COLUMNS),
    ):
        index = next((cells.index(name) for name in names if name in cells), None)
        if index is not None:
            found[role] = index
    return found if "speaker" in found and "text" in found else None


def _parse_csv(entry, ctx) -> Iterator[Message]:
    encoding = detect_encoding(entry.head())
    with io.TextIOWrapper(entry.open_binary(), encoding=encoding, newline="") as text:
        rows = csv.reader(text)
        try:
            yield from _csv_messages(rows, entry, ctx)
        except UnicodeDecodeError:
            raise entry.decode_error(encoding) from None
        except csv.Error as exc:
            raise InputError(f"unreadable CSV ({exc})", entry.name, rows.line_num) from None


def _csv_messages(rows, entry, ctx) -> Iterator[Message]:
    columns = _csv_columns(next(rows))
    stem = Path(entry.relpath).stem
    scenes: Counter = Counter()  # episode -> scene rows seen so far
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(columns.values()):
            ctx.report.skip(entry.name, rows.line_num, "script row with missing columns")
            continue
        episode = row[columns["episode"]].strip() if "episode" in columns else stem
        speaker = row[columns["speaker"]].strip()
        if speaker.lower() in SCENE_MARKERS:
            scenes[episode] += 1
            continue
        raw = row[columns["text"]]
        line = clean_line(raw)
        if not speaker or not line:
            reason = "stage direction only" if speaker and raw.strip() else "no speaker or text"
            ctx.report.skip(entry.name, rows.line_num, f"script row with {reason}")
            continue
        if "scene" in columns:
            conversation = f"{episode} / scene {row[columns['scene']].strip()}"
        elif scenes[episode]:
            conversation = f"{episode} / scene {scenes[episode]}"
        else:
            conversation = episode
        yield Message(NAME, conversation, None, speaker, line)


def clean_line(text: str) -> str:
    """Drop stage directions and squeeze the spaces they leave."""
    text = _DIRECTION.sub(" ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


# --- plain-text plays and screenplays ------------------------------------------------


def speaker_name(line: str) -> str | None:
    """`HAMLET.` / `JOHN (V.O.)` / `MRS. O'NEIL` -> the name; anything else -> None."""
    line = line.strip()
    if not line or _HEADING.match(line) or _TRANSITION.search(line):
        return None
    name = _DIRECTION.sub(" ", line).strip().rstrip(".:").strip()
    if not name or len(name) > 32 or len(name.split()) > 4 or not name.isupper():
        return None
    if not _NAME_CHARS.match(name) or sum(c.isalpha() for c in name) < 2:
        return None
    return name


def _blocks(lines: Iterator[str]) -> Iterator[tuple[int, str, str | None, list[str]]]:
    """(line number, kind, speaker, speech lines) with kind "speech" or "heading"."""
    after_blank = True
    current: tuple[int, str, list[str]] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            if current:
                yield current[0], "speech", current[1], current[2]
            current, after_blank = None, True
            continue
        if current is not None and current[2] and (name := speaker_name(line)):
            # plays printed without blank lines between speeches: a new name, a new speech
            yield current[0], "speech", current[1], current[2]
            current = (number, name, [])
        elif current is not None:
            current[2].append(line)
        elif after_blank and _HEADING.match(line):
            yield number, "heading", line, []
        elif after_blank and (name := speaker_name(line)):
            current = (number, name, [])
        after_blank = False
    if current:
        yield current[0], "speech", current[1], current[2]


def _looks_like_play(lines: list[str]) -> bool:
    speakers = Counter(
        name for _, kind, name, speech in _blocks(iter(lines)) if kind == "speech" and speech
    )
    return (
        sum(speakers.values()) >= MIN_BLOCKS
        and len(speakers) >= 2
        and speakers.most_common(1)[0][1] >= 2
    )


def _parse_play(entry, ctx) -> Iterator[Message]:
    stem = Path(entry.relpath).stem
    conversation, scene = stem, 0
    for number, kind, name, speech in _blocks(entry.lines()):
        if kind == "heading":
            scene += 1
            conversation = f"{stem} / {scene}: {name}"
            continue
        text = clean_line(" ".join(speech))
        if text:
            yield Message(NAME, conversation, None, name, text)
        else:
            ctx.report.skip(entry.name, number, "upper-case line without speech (a title?)")
