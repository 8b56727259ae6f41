"""Scripts: a CSV of lines with a speaker column, or a play / screenplay as plain text.

CSV: the header names a speaker column (`person_scene`, `speaker`, `character`, ...)
and a text column (`dialogue`, `line_text`, `text`, ...), separated by commas,
semicolons, tabs or bars (the delimiter is the one under which the header names both);
season, episode/title and scene columns, when present, name the conversation. Rows
whose speaker is `Scene` (the Kaggle Big Bang Theory layout) start a new scene of the
episode.

Plain text (printed plays, Project Gutenberg's above all, and screenplays) is read by
model.data.formats.script_text. Scripts have no clock, so `time` is null.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from model.data.formats.script_text import clean_line, looks_like_play, read_play
from model.data.messages import Message
from model.data.sources import detect_encoding
from model.errors import InputError

NAME = "script"

# Header names as found in published transcripts (Kaggle's Office, Simpsons, Seinfeld,
# Friends, Star Wars...), compared lower-cased with spaces and hyphens as underscores.
SPEAKER_COLUMNS = (
    "person_scene", "speaker", "character", "character_name", "raw_character_text", "char",
    "person", "name", "who", "role",
)
TEXT_COLUMNS = (
    "dialogue", "dialog", "line_text", "line", "lines", "text", "spoken_words", "sentence",
    "utterance", "quote", "speech", "words",
)
SEASON_COLUMNS = ("season", "season_number")
EPISODE_COLUMNS = ("episode_name", "episode", "episode_title", "title", "play", "film", "movie")
SCENE_COLUMNS = ("scene", "scene_number", "scene_name", "act_scene")
SCENE_MARKERS = {"scene"}
DELIMITERS = ",;\t|"
_SPACES = re.compile(r"[\s-]+")


def sniff(entry) -> bool:
    text = entry.head_text().lstrip("\ufeff")
    if not text.strip():
        return False
    if _csv_layout(text.splitlines()[0]) is not None:
        return True
    return looks_like_play(entry)


def parse(entry, ctx) -> Iterator[Message]:
    head = entry.head_text().lstrip("\ufeff")
    first = head.partition("\n")[0]
    layout = _csv_layout(first)
    if layout is not None:
        yield from _parse_csv(entry, ctx, *layout)
        return
    read = 0
    for conversation, speaker, text in read_play(entry, ctx):
        read += 1
        yield Message(NAME, conversation, None, speaker, text)
    if not read and _is_table(head):
        raise InputError(
            f"nothing in it could be read as a script: no play, and its first line "
            f"{first[:200]!r} does not name both a speaker column (one of "
            f"{', '.join(SPEAKER_COLUMNS)}) and a text column (one of {', '.join(TEXT_COLUMNS)})",
            entry.name,
        )


# --- CSV -----------------------------------------------------------------------------


def _csv_layout(line: str) -> tuple[str, dict[str, int]] | None:
    """(delimiter, column positions) when `line` is the header of a script CSV, else None."""
    for delimiter in DELIMITERS:
        columns = _csv_columns(next(csv.reader([line], delimiter=delimiter), []))
        if columns is not None:
            return delimiter, columns
    return None


def _is_table(text: str) -> bool:
    """Do the first two rows have the same 2+ cells under one of the DELIMITERS?"""
    for delimiter in DELIMITERS:
        rows = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=delimiter), 2))
        if len(rows) == 2 and len(rows[0]) == len(rows[1]) >= 2:
            return True
    return False


def _csv_columns(header: list[str]) -> dict[str, int] | None:
    """Positions of the speaker/text/season/episode/scene columns, or None if not such a CSV."""
    cells = [_SPACES.sub("_", cell.strip().lower().lstrip("\ufeff")) for cell in header]
    if len(cells) < 2:
        return None
    found = {}
    for role, names in (
        ("speaker", SPEAKER_COLUMNS),
        ("text", TEXT_COLUMNS),
        ("season", SEASON_COLUMNS),
        ("episode", EPISODE_COLUMNS),
        ("scene", SCENE_COLUMNS),
    ):
        index = next((cells.index(name) for name in names if name in cells), None)
        if index is not None:
            found[role] = index
    return found if "speaker" in found and "text" in found else None


def _parse_csv(entry, ctx, delimiter: str, columns: dict[str, int]) -> Iterator[Message]:
    encoding = detect_encoding(entry.head())
    with io.TextIOWrapper(entry.open_binary(), encoding=encoding, newline="") as text:
        rows = csv.reader(text, delimiter=delimiter)
        try:
            yield from _csv_messages(rows, delimiter, columns, entry, ctx)
        except UnicodeDecodeError:
            raise entry.decode_error(encoding) from None
        except csv.Error as exc:
            raise InputError(f"unreadable CSV ({exc})", entry.name, rows.line_num) from None


def _csv_messages(rows, delimiter: str, columns: dict[str, int], entry, ctx) -> Iterator[Message]:
    width = len(next(rows))
    stem = Path(entry.relpath).stem
    scenes: Counter = Counter()  # episode -> scene rows seen so far
    for row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(columns.values()):
            ctx.report.skip(entry.name, rows.line_num, "script row with missing columns")
            continue
        if len(row) > width and columns["text"] == width - 1:
            # the words held the delimiter unquoted ("hey; there"): they are the rest of the row
            row[width - 1 :] = [delimiter.join(row[width - 1 :])]
        episode = row[columns["episode"]].strip() if "episode" in columns else stem
        if "season" in columns:  # episode numbers start again every season
            episode = f"season {row[columns['season']].strip()}, episode {episode}"
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
