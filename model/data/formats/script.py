"""Scripts: a CSV of lines with a speaker column, or a play / screenplay as plain text.

CSV: the header names a speaker column (`person_scene`, `speaker`, `character`, ...)
and a text column (`dialogue`, `line`, `text`, ...); an episode/title column and a
scene column, when present, name the conversation. Rows whose speaker is `Scene` (the
Kaggle Big Bang Theory layout) start a new scene of the episode.

Plain text (printed plays, Project Gutenberg's above all, and screenplays) is read by
model.data.formats.script_text. Scripts have no clock, so `time` is null.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from model.data.formats.script_text import clean_line, looks_like_play, read_play
from model.data.messages import Message
from model.data.sources import detect_encoding
from model.errors import InputError

NAME = "script"

SPEAKER_COLUMNS = ("person_scene", "speaker", "character", "char", "person", "name", "who", "role")
TEXT_COLUMNS = ("dialogue", "dialog", "line", "lines", "text", "utterance", "quote", "speech")
EPISODE_COLUMNS = ("episode_name", "episode", "episode_title", "title", "play", "film", "movie")
SCENE_COLUMNS = ("scene", "scene_number", "scene_name", "act_scene")
SCENE_MARKERS = {"scene"}


def sniff(entry) -> bool:
    text = entry.head_text().lstrip("\ufeff")
    if not text.strip():
        return False
    if _csv_columns(_header_cells(text.splitlines()[0])) is not None:
        return True
    return looks_like_play(entry)


def parse(entry, ctx) -> Iterator[Message]:
    first = entry.head_text().lstrip("\ufeff").partition("\n")[0]
    if _csv_columns(_header_cells(first)) is not None:
        yield from _parse_csv(entry, ctx)
    else:
        for conversation, speaker, text in read_play(entry, ctx):
            yield Message(NAME, conversation, None, speaker, text)


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
