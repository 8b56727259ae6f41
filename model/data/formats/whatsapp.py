"""WhatsApp "Export chat" text (.txt, or the .txt inside the exported .zip), any locale.

Reading is two steps: learn the file's header layout from its first headers
(`whatsapp_dates.layout_of`), then stream every line through that one strict pattern.
A line that does not match continues the message before it. Dates are converted once
per distinct date text (cached; a month's name without its year is read in order, from
the dates before it), after the file's day/month order is known: messages
wait in a bounded look-ahead buffer until a date proves the order or the buffer fills.
Bodies that are WhatsApp's own words in the phone's language (placeholders for left-out
media, deleted messages, notices, edit markers) are found from `whatsapp_strings`, shared
locations, places and polls by their shape; the lines under a media placeholder or file
are its caption, kept as a text message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from model.data.formats.whatsapp_dates import MARKS, Clock, layout_of, loose_match
from model.data.formats.whatsapp_strings import STRINGS
from model.data.messages import Message
from model.errors import InputError

NAME = "whatsapp"
SNIFF_LINES = 200  # header-shaped lines are looked for among the first lines only
LAYOUT_HEADERS = 10  # headers read to vote the file's layout
LAYOUT_LINES = 5000  # … within at most this many lines

# --- what a message body can be besides text -------------------------------------------
# WhatsApp's own words in every language (whatsapp_strings.STRINGS), compared as keys:
# direction marks, spaces, <> and a final full stop at either end dropped, case folded.
_KEY_ENDS = MARKS + " \t\u00a0\u202f<>.\u3002\u0964\u06d4"  # . 。 । ۔
_INNER_MARKS = re.compile(f"[{MARKS}]")


def _key(text: str) -> str:
    key = text.strip(_KEY_ENDS).casefold()
    return _INNER_MARKS.sub("", key) if _INNER_MARKS.search(key) else key


def _phrases(kind: str) -> list[str]:
    return [phrase for strings in STRINGS.values() for phrase in strings.get(kind, ())]


_KINDS = {_key(phrase): kind for kind in ("media", "deleted", "system") for phrase in _phrases(kind)}
_EDITED = frozenset(map(_key, _phrases("edited")))
_LONGEST = max(map(len, _KINDS)) + 8  # longer bodies are no placeholder: not worth a key
# Notices are recognised by how they begin: on system lines by any listed beginning, in
# ordinary messages (an iOS export whose marks were lost) by one dict lookup of their
# first _NOTICE_HEAD characters, so the short ones ("You were added") never hide a message.
_NOTICES = tuple(_phrases("notice"))
_NOTICE_HEAD = 16


def _by_head(notices: Iterable[str]) -> dict[str, tuple[str, ...]]:
    heads: dict[str, tuple[str, ...]] = {}
    for notice in notices:
        if len(notice) >= _NOTICE_HEAD:
            heads[notice[:_NOTICE_HEAD]] = (*heads.get(notice[:_NOTICE_HEAD], ()), notice)
    return heads


_NOTICE_HEADS = _by_head(_NOTICES)
_WORDS_AND_SIGNS = re.compile(r"\w+|[^\w\s]")


def _loose(literal: str) -> str:
    """Regex for literal text with any spaces (or none) between its words and signs."""
    return r"\s*".join(map(re.escape, _WORDS_AND_SIGNS.findall(literal)))


def _attachment_patterns() -> tuple[re.Pattern, re.Pattern]:
    """"<attached: file>" (the name inside the brackets) and "file (file attached)" (after)."""
    inside, after = set(), set()
    for template in _phrases("attached"):
        before, rest = template.split("%s")
        if template[0] in "<(":
            inside.add(_loose(before) + "[^<>]+" + _loose(rest))
        else:
            after.add(_loose(rest.strip()))
    return tuple(re.compile("|".join(sorted(found)), re.IGNORECASE) for found in (inside, after))


_ATTACHED_INSIDE, _ATTACHED_AFTER = _attachment_patterns()
_FILE_NAME_END = re.compile(rf"\.\w{{1,5}}[\s{MARKS}]*$")
_OPENERS = {">": "<", ")": "("}
_BEFORE_EDITED = MARKS + " \t\n\u00a0\u202f"
# System lines that name who did something: "Ana added Bo", "+1 555 created group "x"".
# Checked on a bounded head, so that a pathological line (thousands of "hat") costs linear
# time, not quadratic.
_ACTOR_HEAD = 200
_ACTOR = re.compile(
    r"(?P<actor>.+?) (?:created group|created this group|added \S|removed \S|left$"
    r"|joined using this (?:group|community)'s invite link|changed the subject"
    r"|changed this group's|changed the group|deleted this group's|changed their phone number"
    r"|turned (?:on|off) disappearing messages|pinned a message|started a (?:video |voice )?call"
    r"|hat die Gruppe|hat \S.* hinzugefügt|hat \S.* entfernt|hat den Betreff|hat das Gruppenbild"
    r"|creó el grupo|añadió a|eliminó a|salió del grupo|cambió el"
    r"|a créé le groupe|a ajouté|a retiré|est parti|a changé"
    r"|criou o grupo|adicionou|removeu|saiu|mudou)"
)
_MARK_SET = frozenset(MARKS)
# New exports show people not in the address book as "~ Ana" (U+202F after the tilde).
_SENDER_STRIP = MARKS + "~ \u00a0\u202f"
_SENDER_NOISE = frozenset(MARKS + "~")
_SENDER_END_NOISE = frozenset(MARKS + " \u00a0\u202f")  # French writes "Ana : text"
# A group subject is quoted and may hold ": " (`Ana changed the subject to "Trip: 2022"`);
# a colon after an odd number of quotes is inside one, not after a sender's name, in any
# language's quotes (Dutch writes 'Reis': an apostrophe inside a word, O'Brien, is none).
_QUOTES = re.compile("[\"“”„«»「」]|(?<!\\w)'|'(?!\\w)")
_WHATSAPP_NAME = re.compile("whatsapp", re.IGNORECASE)


def sniff(entry) -> bool:
    """At least two WhatsApp header lines near the top of the file."""
    found = 0
    for line in entry.head_text().splitlines()[:SNIFF_LINES]:
        if loose_match(line) is not None:
            found += 1
            if found == 2:
                return True
    return False


def parse(entry, ctx) -> Iterator[Message]:
    numbered = enumerate(entry.lines(), 1)
    head = _read_head(numbered)
    layout = layout_of([line for _, line in head])
    if layout is None:
        raise InputError(
            f"no WhatsApp message header in the first {len(head)} lines", entry.name
        )
    conversation = conversation_name(entry.relpath, ctx.tree.name, ctx.tree.is_single_file)
    clock = Clock(layout, entry.name)
    raw = _raw_messages(itertools.chain(head, numbered), layout.pattern.match, entry.name, ctx.report)
    senders: set[str] = set()
    for stamp, rest, extra in clock.stamped(raw):
        cut = rest.find(": ")
        if cut < 0 or len(_QUOTES.findall(rest, 0, cut)) % 2:
            sender, text, kind = _without_sender(rest, senders)
        else:
            sender, text = rest[:cut], rest[cut + 2 :]
            if sender[:1] in _SENDER_NOISE or sender[-1:] in _SENDER_END_NOISE:
                sender = sender.strip(_SENDER_STRIP)
            if text[:1] in _MARK_SET:  # iOS marks its notices and placeholders with U+200E
                text = text.lstrip(MARKS)
                kind = body_kind(text) or "system"
            else:
                kind = body_kind(text) or "text"
            if kind == "system":
                sender = _system_actor(text, sender)
            senders.add(sender)
        if extra is not None:
            if kind == "media":  # lines under a file are its caption: the sender's own words
                text, kind = "\n".join(extra), "text"
            else:
                text = "\n".join([text, *extra])
                if kind == "text":  # Android spreads a place over lines; a poll has lines
                    kind = _place_or_poll(text) or "text"
        if text[-1:] == ">":
            text = _without_edit_marker(text)
        yield Message(NAME, conversation, stamp, sender, text, kind)


def conversation_name(relpath: str, tree_name: str, single_file: bool) -> str:
    """WhatsApp's own file name ("WhatsApp Chat with Ana"), from the .txt or its zip."""
    inner = PurePosixPath(relpath)
    stem, folder = inner.stem, inner.parent.name
    outer = "" if single_file else PurePosixPath(tree_name.replace("\\", "/")).stem
    for candidate in (stem, folder, outer):
        if _WHATSAPP_NAME.search(candidate):
            return candidate
    if stem == "_chat":  # iOS names the text "_chat.txt" inside its zip
        return folder or outer or stem
    return stem


def _read_head(numbered: Iterator[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines up to the LAYOUT_HEADERS-th header-shaped one (kept, to be parsed afterwards)."""
    head = []
    headers = 0
    for item in numbered:
        head.append(item)
        if loose_match(item[1]) is not None:
            headers += 1
            if headers == LAYOUT_HEADERS:
                break
        if len(head) == LAYOUT_LINES:  # memory stays bounded on files that are not exports
            break
    return head


def _raw_messages(numbered, match, name, report) -> Iterator[list]:
    """[line number, date text, time text, rest of header line, continuation lines or None]."""
    current = None
    for number, line in numbered:
        header = match(line)
        if header is None:
            if current is None:
                if line.strip():
                    report.skip(name, number, "text before the first WhatsApp message header")
            elif current[4] is None:
                current[4] = [line]
            else:
                current[4].append(line)
            continue
        if current is not None:
            yield current
        current = [number, header["date"], header["time"], header["rest"], None]
    if current is not None:
        yield current


def _without_edit_marker(text: str) -> str:
    """"see you <This message was edited>" -> "see you" (the marker ends the message)."""
    start = text.rfind("<")
    if _key(text[start:]) in _EDITED:
        return text[:start].rstrip(_BEFORE_EDITED)
    return text


def body_kind(text: str) -> str | None:
    """media / deleted / system when a body is WhatsApp's own words (any language), else None."""
    if len(text) <= _LONGEST:  # _key inlined: this runs for every message
        kind = _KINDS.get(text.strip(_KEY_ENDS).casefold())
        if kind is not None:
            return kind
    if text[-1:] in _OPENERS and _is_attachment(text):
        return "media"
    if "\u200e" in text or "\u200f" in text:  # marks inside (LRM, RLM): rare, looked at only then
        kind = _KINDS.get(_key(text)) if len(text) <= _LONGEST else None
        if kind is not None:
            return kind
        # iOS names a left-out document first: "Resume.pdf \u200e• \u200e2 pages \u200edocument omitted"
        last_mark = max(text.rfind("\u200e"), text.rfind("\u200f"))
        if _KINDS.get(_key(text[last_mark:])) == "media":
            return "media"
    if "maps.google.com/?q=" in text and _SHARED_LOCATION.fullmatch(text):
        return "media"
    heads = _NOTICE_HEADS.get(text[:_NOTICE_HEAD])
    if heads is not None and text.startswith(heads):
        return "system"
    return _place_or_poll(text)


# a shared location: "location: https://maps.google.com/?q=52.52,13.40", the first word in
# the phone's language ("Standort", "ubicación", "位置"): a pin, not the sender's words
_SHARED_LOCATION = re.compile(r"\s*[^\W\d_][^\W\d]*(?: [^\W\d]+)?\s?[:：] ?"
                              r"https://maps\.google\.com/\?q=-?[\d.]+,-?[\d.]+\s*")
# a place picked on the map, linked by its bare Foursquare id: "Pimlico Gardens (London,
# United Kingdom): https://foursquare.com/v/4e89…" (iOS), or name, address and link on
# three lines (Android). A link someone pastes names the place: /v/pimlico-gardens/4e89…
_SHARED_PLACE = re.compile(r"[^\n]+(?: \([^\n]*\): |\n[^\n]*\n)"
                           r"https://foursquare\.com/v/[0-9a-f]{24}\s*")
# a poll: its word, the question, then each option with its votes, the words in capitals in
# the phone's language ("POLL:" … "OPTION: pizza (2 votes)", "ENCUESTA:" … "OPCIÓN: …")
_POLL = re.compile(rf"(?P<poll>[^\W\d_]+) ?:\n[^\n]+"
                   rf"(?:\n[{MARKS}]*(?P<option>[^\W\d_]+) ?: [^\n]* \(\d+ [^\W\d_]+\))+\s*")
_POLL_WORD_END = 20  # the poll's word and colon end the first line within this many characters


def _place_or_poll(text: str) -> str | None:
    """media for a shared place, system for a poll: WhatsApp's lines, not the sender's words."""
    if "foursquare.com/v/" in text and _SHARED_PLACE.fullmatch(text):
        return "media"
    if text.find(":\n", 0, _POLL_WORD_END) > 0:
        poll = _POLL.fullmatch(text)
        if poll is not None and all(poll[word].isupper() for word in ("poll", "option")):
            return "system"
    return None


def _is_attachment(text: str) -> bool:
    """"<attached: 00000012-PHOTO.jpg>", "IMG-1.jpg (file attached)": a file of a media export."""
    start = text.rfind(_OPENERS[text[-1]])
    if start < 0:
        return False
    end = text[start:]
    if _INNER_MARKS.search(end):
        end = _INNER_MARKS.sub("", end)
    if _ATTACHED_INSIDE.fullmatch(end):
        return True
    return bool(_ATTACHED_AFTER.fullmatch(end) and _FILE_NAME_END.search(text, 0, start))


def _without_sender(rest: str, senders: set[str]) -> tuple[str, str, str]:
    """A header line with no "Name: ": a system line, or a known sender's "Ana:." message."""
    colon = rest.find(":")
    if colon > 0 and rest[:colon] in senders:
        return rest[:colon], rest[colon + 1 :].lstrip(), "text"
    return _system_actor(rest, ""), rest, "system"


def _system_actor(text: str, fallback: str) -> str:
    """Who did what a system line says ("Ana added Bo" -> Ana); `fallback` when it names no one."""
    if text.startswith(_NOTICES):  # iOS attributes these notices to the chat: no one did them
        return ""
    match = _ACTOR.match(text, 0, _ACTOR_HEAD)
    if match is not None:
        return match.group("actor").strip(MARKS)
    return fallback
