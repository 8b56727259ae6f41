"""Scripts as plain text: printed plays (Project Gutenberg's above all) and screenplays.

Speaker headings come in the layouts these use:
- a name alone on its line, in capitals (`HAMLET.`, `JOHN (V.O.)`, `HORATIO and
  MARCELLUS.`) or, after a blank line, abbreviated with a period (`Ham.`, `Cor. and
  Volt.`, `First Clown.`), the speech on the following lines;
- a name in capitals, a period and the speech on the same line (`HAMLET. To be, or not`).
A speech runs to a blank line or the next heading; its lines are joined with spaces (verse
and screenplay line breaks are layout). Which kinds of heading a file uses is decided from
its first 64 KiB: abbreviations, and names on the speech line, count only where they start
more speeches there than names in capitals alone do, so a screenplay's action line
`BANG. The door flies open.` is not a speech. In a file of names alone on their lines, a
name on the speech line is still read where that name has headed a speech before (both
layouts mixed); a line of that shape that is not read is counted as skipped.

`INT.`, `EXT.`, `ACT I.`, `SCENE II. A room.`, `PROLOGUE` start a new conversation (a line
right under an act or scene heading names the place). Stage directions are dropped: whole
lines such as `[Exit.]`, `(beat)`, `_Exit._`, `Enter Hamlet.`, `Exeunt.`; [brackets]
anywhere; a (parenthetical) that opens a speech; `(Aside.)` and `_Aside._` inside one.
Other (parentheses) and _italics_ are the speaker's words.

A Project Gutenberg text is read between its `*** START OF` and `*** END OF` lines (one
without its END line is reported as possibly truncated). A cast list (`Dramatis Personae`,
`PERSONS REPRESENTED`) writes abbreviated speakers out: `Ham.` -> `Hamlet` when exactly one
character's name starts that way, word by word (`La. Cap.` -> `Lady Capulet`); other
names stay as printed, less the final period. The sniffer is strict (it runs last):
several speeches, two speakers at least, one of them speaking twice.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

_DIRECTION = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])\s*")
_HEADING = re.compile(
    r"^(INT\.|EXT\.|INT/EXT|I/E\.|(PROLOGUE|EPILOGUE|INDUCTION)\.?$"
    r"|(ACT|SCENE)(\s+([IVXLC]+|\d+|ONE|TWO|THREE|FOUR|FIVE)\b|\s*[.:\u2013\u2014-]|\s*$)"
    r"|(FIRST|SECOND|THIRD|FOURTH|FIFTH|LAST) ACT\b)",
    re.IGNORECASE,
)
_ACT_OR_SCENE = re.compile(r"^(ACT|SCENE)\b", re.IGNORECASE)  # a place may follow on the next line
_TRANSITION = re.compile(r"(\bTO:|^FADE (IN|OUT)|^THE END|^CONTINUED|^MORE$|^CHAPTER\b)")
_NAME_CHARS = re.compile(r"^[^\W\d_][\w .'\u2019&-]*$")
_ROMAN = re.compile(r"^[IVXLC]+$")  # "II." is a numbered line, not a speaker
_ABBREVIATED_WORD = re.compile(r"^[^\W_][\w'\u2019-]*\.?$")
_SAME_LINE = re.compile(
    r"^(?P<name>((MR|MRS|MS|DR|ST|MME|MLLE|REV|CAPT|COL|GEN|LT|SGT|PROF)\.\s+)?[^.\[\]()]{2,32}?)"
    r"\.\s+(?P<said>\S.*)$"
)
_DIRECTION_LINE = re.compile(
    r"^(\[[^\[\]]*\]|\([^()]*\)|_[^_]*_"
    r"|(enter|re-?enter|exit|exeunt|manet|manent|flourish|alarums?|sennet|hautboys)\b.*)$",
    re.IGNORECASE,
)
_LEADING_PARENTHETICAL = re.compile(r"^\s*\([^()]*\)")
_INLINE_DIRECTION = re.compile(r"\[[^\[\]]*\]|\([A-Z][^()]*\.\)|_[A-Z][^_]*\._")
_ITALICS = re.compile(r"_([^_]+)_")
_CAST_LIST = re.compile(
    r"^(dramatis person(ae|\u00e6|e)|persons represented|the persons of the play"
    r"|characters( in the play)?|cast of characters)\s*[.:]?$",
    re.IGNORECASE,
)
_GUTENBERG_START = re.compile(
    r"^\s*(\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT)", re.IGNORECASE
)
_GUTENBERG_END = re.compile(
    r"^\s*(\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG|END OF (THE )?PROJECT GUTENBERG)",
    re.IGNORECASE,
)
MIN_BLOCKS = 4


def looks_like_play(entry) -> bool:
    lines = _Text(entry).head_lines()
    speeches = [event for event in _events(lines, _layout(lines)) if isinstance(event, _Speech)]
    speakers = Counter(speech.speaker for speech in speeches if speech.lines)
    return (
        sum(speakers.values()) >= MIN_BLOCKS
        and len(speakers) >= 2
        and speakers.most_common(1)[0][1] >= 2
    )


def read_play(entry, ctx) -> Iterator[tuple[str, str, str]]:
    """(conversation, speaker, text) of every speech, in the order of the text."""
    text = _Text(entry)
    stem = Path(entry.relpath).stem
    conversation, scenes, personae = stem, 0, []
    names: dict[str, str] = {}  # as printed -> as written out, for the cast list so far
    for event in _events(text.lines(), _layout(text.head_lines())):
        match event:
            case _Heading():
                scenes += 1
                conversation = f"{stem} / {scenes}: {event.text}"
            case _CastEntry():
                personae.extend(persona_names(event.text))
                names.clear()
            case _Speech() if said := event.text():
                if event.speaker not in names:
                    names[event.speaker] = expand_name(event.speaker, personae)
                yield conversation, names[event.speaker], said
            case _Speech():
                ctx.report.skip(entry.name, event.line, "speaker heading without speech")
            case _Unread():
                ctx.report.skip(entry.name, event.line, event.reason)
    if text.gutenberg and not text.ended:
        ctx.report.skip(
            entry.name, None, "Project Gutenberg text without its END line (truncated?)"
        )


def clean_line(text: str) -> str:
    """Drop stage directions and squeeze the spaces they leave."""
    text = _DIRECTION.sub(" ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def speaker_name(line: str) -> str | None:
    """`HAMLET.` / `JOHN (V.O.)` / `MRS. O'NEIL` / `HORATIO and MARCELLUS` -> the name;
    anything else -> None."""
    line = line.strip()
    if not line or _HEADING.match(line) or _TRANSITION.search(line):
        return None
    name = _DIRECTION.sub(" ", line).strip().rstrip(".:").strip()
    if not name or len(name) > 32 or len(name.split()) > 4 or _ROMAN.match(name):
        return None
    if not re.sub(r" (and|&) ", " ", name).isupper():
        return None
    if not _NAME_CHARS.match(name) or sum(c.isalpha() for c in name) < 2:
        return None
    return name


def abbreviated_name(line: str) -> str | None:
    """`Ham.` / `Cor. and Volt.` / `First Clown.` / `1 Clown.` -> the name without its final
    period; anything else -> None."""
    line = line.strip()
    name = line[:-1]
    words = name.split()
    if not line.endswith(".") or len(line) > 32 or not 1 <= len(words) <= 5:
        return None
    if _HEADING.match(line) or _ROMAN.match(name) or sum(c.isalpha() for c in name) < 2:
        return None
    if all(word in ("and", "&") or _is_name_word(word) for word in words):
        return name
    return None


def _is_name_word(word: str) -> bool:
    return (word[0].isupper() or word[0].isdigit()) and bool(_ABBREVIATED_WORD.match(word))


def persona_names(entry: str) -> list[str]:
    """The names a cast-list entry starts with: `Claudius, King of Denmark.` -> [Claudius];
    `Montague, Capulet, heads of two houses` -> [Montague, Capulet]."""
    names = []
    for item in entry.strip().rstrip(".").split(","):
        words = item.split()
        if not 1 <= len(words) <= 4 or not all(word[0].isupper() for word in words):
            break
        names.append(" ".join(words))
    return names


def expand_name(name: str, personae: list[str]) -> str:
    """`Ham` -> `Hamlet`, `Cor. and Volt` -> `Cornelius and Voltimand`: each abbreviated
    speaker written out when exactly one persona's name starts that way, word by word."""
    if not personae:
        return name
    parts = re.split(r" (and|&) ", name)
    return " ".join(
        part if index % 2 else _expand(part, personae) for index, part in enumerate(parts)
    )


def _expand(name: str, personae: list[str]) -> str:
    short = name.replace(".", " ").lower().split()
    found = set()
    for persona in personae:
        full = persona.lower().split()
        if full == short:
            return name  # printed in full
        # each word a prefix of the persona's; "Lord." is not the crowd "Lords"
        if len(short) <= len(full) and all(
            word.startswith(prefix) and word not in (prefix + "s", prefix + "es")
            for prefix, word in zip(short, full, strict=False)
        ):
            found.add(persona)
    if len(found) != 1:
        return name
    persona = found.pop()
    return string.capwords(persona) if persona.isupper() else persona


def is_direction(line: str) -> bool:
    """A stage direction taking the whole line: `[Exit.]`, `(beat)`, `_Exit._`, `Exeunt.`."""
    return bool(_DIRECTION_LINE.match(line.strip()))


class _Text:
    """The lines of a file that are the play: all of them, or a Project Gutenberg file's
    between its START and END lines (it is one if the START line is in the first 64 KiB)."""

    def __init__(self, entry):
        self.entry = entry
        self.head = entry.head_text().lstrip("\ufeff").splitlines()
        self.gutenberg = any(_GUTENBERG_START.match(line) for line in self.head)
        self.ended = False

    def head_lines(self) -> list[tuple[int, str]]:
        return list(self._inside(enumerate(self.head, 1)))

    def lines(self) -> Iterator[tuple[int, str]]:
        self.ended = False  # the head may have ended already: it is the file's start
        yield from self._inside(enumerate(self.entry.lines(), 1))

    def _inside(self, numbered: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
        started = not self.gutenberg
        for number, line in numbered:
            if not started:
                started = bool(_GUTENBERG_START.match(line))
            elif self.gutenberg and _GUTENBERG_END.match(line):
                self.ended = True
                return
            else:
                yield number, line


@dataclass
class _Heading:
    line: int
    text: str


@dataclass
class _Unread:
    line: int
    reason: str


@dataclass
class _CastEntry:
    line: int
    text: str


@dataclass
class _Speech:
    line: int
    speaker: str
    kind: str  # how its heading was printed: "capitals", "abbreviated" or "same-line"
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The words said: lines joined, stage directions dropped, _italics_ unmarked."""
        text = _LEADING_PARENTHETICAL.sub(" ", " ".join(self.lines))  # (beat) before the words
        text = _ITALICS.sub(r"\1", _INLINE_DIRECTION.sub(" ", text))
        return re.sub(r"\s+", " ", text).strip()


class _Layout(NamedTuple):
    """Which speaker headings a file uses besides a name in capitals alone on its line."""

    abbreviated: bool = False  # `Ham.` alone on its line
    same_line: bool = False  # `HAMLET. To be, or not to be`


def _layout(lines: list[tuple[int, str]]) -> _Layout:
    """The layout of a text from its first lines: a kind of heading is used when it starts
    more speeches there than names in capitals alone on their line do."""
    every_kind = _Layout(abbreviated=True, same_line=True)
    kinds = Counter(
        event.kind for event in _events(lines, every_kind) if isinstance(event, _Speech)
    )
    return _Layout(
        abbreviated=kinds["abbreviated"] > kinds["capitals"],
        same_line=kinds["same-line"] > kinds["capitals"],
    )


def _events(numbered: Iterable[tuple[int, str]], layout: _Layout) -> Iterator:
    """The headings, cast-list entries, speeches and unread speech-like lines of a text."""
    speech: _Speech | None = None
    after_blank, under_heading, in_cast = True, False, False
    speakers: set[str] = set()  # named by a heading alone on its line so far
    for number, raw in numbered:
        line = raw.strip()
        if not line:
            if speech:
                yield speech
            speech, after_blank, under_heading = None, True, False
            continue
        starts = _speech_start(number, line, after_blank, speech, layout, speakers)
        if _CAST_LIST.match(line):
            in_cast = True
        elif after_blank and _HEADING.match(line):
            if speech:
                yield speech
            speech, in_cast = None, False
            yield _Heading(number, line)
            after_blank, under_heading = False, bool(_ACT_OR_SCENE.match(line))
            continue
        elif under_heading and not (starts and starts.kind != "same-line"):
            pass  # the line under an act/scene heading names the place
        elif is_direction(line):
            pass  # dropped; the speech goes on after it
        elif starts:
            if speech:
                yield speech
            speech, in_cast = starts, False
            if starts.kind == "capitals":
                speakers.add(starts.speaker)
        elif speech:
            speech.lines.append(line)
        elif in_cast:
            yield _CastEntry(number, line)
        elif _same_line_heading(line):
            yield _Unread(number, "'NAME. speech' line of a name not yet heading a speech")
        after_blank, under_heading = False, False
    if speech:
        yield speech


def _speech_start(
    number: int,
    line: str,
    after_blank: bool,
    speech: _Speech | None,
    layout: _Layout,
    speakers: set[str],
) -> _Speech | None:
    """The speech `line` starts with its speaker heading, if it is one."""
    # a name in capitals also starts a speech right under another one's words: plays
    # printed without blank lines between speeches
    if (after_blank or (speech and speech.lines)) and (name := speaker_name(line)):
        return _Speech(number, name, "capitals")
    # A file mostly in the other layout may still put a speaker's name before the words
    # (`HAMLET. I mean, sir, nothing.`); a name seen heading a speech makes it one, while
    # an action line (`BANG. The door flies open.`) names no speaker.
    heading = _same_line_heading(line)
    if heading and (layout.same_line or heading[0] in speakers):
        return _Speech(number, heading[0], "same-line", [heading[1]])
    # an abbreviation only after a blank line: inside a speech, `Farewell.` is verse
    if layout.abbreviated and after_blank and (name := abbreviated_name(line)):
        return _Speech(number, name, "abbreviated")
    return None


def _same_line_heading(line: str) -> tuple[str, str] | None:
    """(speaker, words) of `HAMLET. To be, or not`; None for any other line."""
    match = _SAME_LINE.match(line)
    if match and (name := speaker_name(match.group("name"))):
        return name, match.group("said")
    return None
