"""X's weighted tweet length (twitter-text v3 rules) and fitting a reply into it.

twitter-text v3 (the configuration X uses since 2017): the text is NFC-normalised, then
every code point weighs 1 if it falls in one of a few "light" ranges (Latin, Greek,
Cyrillic, Hebrew, Arabic, Devanagari... up to U+10FF, and some punctuation) and 2
otherwise (CJK, most other scripts); a whole emoji sequence (ZWJ families, flags, skin
tones, keycaps) weighs 2; every URL weighs 23 whatever its length (t.co wrapping).
The limit is 280. We implement the rules here rather than depend on a port.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
HEAVY_WEIGHT = 2
# (first, last) code points that weigh 1; everything else weighs HEAVY_WEIGHT.
LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
ELLIPSIS = "…"  # U+2026 is outside the light ranges: weighs 2

# Emoji: a pictographic base, optional variation selector / skin tone / tag sequence,
# then any number of ZWJ-joined bases; or a flag (two regional indicators); or a keycap.
_PICTO = (
    "\U0001F000-\U0001FAFF\u2600-\u27BF\u2300-\u23FF\u2B00-\u2BFF\u2190-\u21FF"
    "\u2934\u2935\u3030\u303D\u3297\u3299\u00A9\u00AE\u203C\u2049\u2122\u2139"
)
_MODIFIERS = "\uFE0F\U0001F3FB-\U0001F3FF"
_EMOJI_UNIT = f"[{_PICTO}][{_MODIFIERS}]*(?:[\U000E0020-\U000E007F]+)?"
_EMOJI = (
    f"(?:[\U0001F1E6-\U0001F1FF]{{2}}"
    f"|[0-9#*]\uFE0F?\u20E3"
    f"|{_EMOJI_UNIT}(?:\u200D{_EMOJI_UNIT})*)"
)
# Text-presentation symbols (©, ™, arrows...) only count as emoji with U+FE0F after them.
_TEXT_DEFAULT = re.compile("[\u00A9\u00AE\u203C\u2049\u2122\u2139\u2190-\u21FF]")
_TLDS = (
    "com|net|org|io|co|dev|ai|app|me|ly|gl|tv|info|biz|edu|gov|uk|de|fr|es|it|nl|jp|br|"
    "ru|cn|in|us|ca|au|ch|se|no|fi|pl|be|at|xyz|site|online|tech|blog|news|page"
)
_URL = (
    r"(?:https?://[^\s<>\"]+"
    rf"|(?<![\w@.-])(?:www\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b"
    r"(?:[/?#][^\s<>\"]*)?)"
)
_URL_TRAILING = ".,;:!?'\")]}…"
TOKEN = re.compile(f"(?P<url>{_URL})|(?P<emoji>{_EMOJI})|(?P<space>\\s+)|(?P<char>.)",
                   re.IGNORECASE | re.DOTALL)


def _units(text: str) -> list[tuple[str, str]]:
    """Split NFC text into (kind, text) units that are never cut: URL, emoji, space, char."""
    units = []
    for match in TOKEN.finditer(unicodedata.normalize("NFC", text)):
        kind, piece = match.lastgroup, match.group()
        if kind == "url":
            stripped = piece.rstrip(_URL_TRAILING)
            units.append(("url", stripped))
            units.extend(("char", c) for c in piece[len(stripped):])
        elif kind == "emoji" and len(piece) == 1 and _TEXT_DEFAULT.match(piece):
            units.append(("char", piece))
        else:
            units.append((kind, piece))
    return units


def _char_weight(char: str) -> int:
    point = ord(char)
    return 1 if any(first <= point <= last for first, last in LIGHT_RANGES) else HEAVY_WEIGHT


def _unit_weight(kind: str, piece: str) -> int:
    if kind == "url":
        return URL_WEIGHT
    if kind == "emoji":
        return EMOJI_WEIGHT
    return sum(_char_weight(c) for c in piece)


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (what must stay <= 280)."""
    return sum(_unit_weight(kind, piece) for kind, piece in _units(text))


def _truncate(text: str, limit: int) -> str:
    """Cut `text` to fit `limit` with an ellipsis, at a word boundary when there is one.

    Texts without spaces (CJK) are cut between characters; URLs and emoji sequences are
    never split.
    """
    units = _units(text)
    budget = limit - weighted_length(ELLIPSIS)
    kept, used = [], 0
    for kind, piece in units:
        weight = _unit_weight(kind, piece)
        if used + weight > budget:
            break
        kept.append((kind, piece))
        used += weight
    spaces = [i for i, (kind, _) in enumerate(kept) if kind == "space"]
    # Prefer a word boundary unless it would throw away more than half of what fits.
    if spaces and spaces[-1] >= len(kept) // 2:
        kept = kept[: spaces[-1]]
    head = "".join(piece for _, piece in kept).rstrip()
    return head + ELLIPSIS if head else ""


def fit_tweet(messages: list[str], limit: int = MAX_WEIGHTED_LENGTH, joiner: str = "\n") -> str:
    """Join reply bubbles into one tweet of at most `limit` weighted characters.

    Whole bubbles are kept from the start while they fit; if even the first bubble is too
    long it is cut at a word boundary and ends with an ellipsis. Returns "" when nothing
    printable is left.
    """
    bubbles = [" ".join(m.split()) for m in messages]
    bubbles = [b for b in bubbles if b]
    if not bubbles:
        return ""
    kept = [bubbles[0]]
    if weighted_length(kept[0]) > limit:
        return _truncate(kept[0], limit)
    for bubble in bubbles[1:]:
        candidate = joiner.join([*kept, bubble])
        if weighted_length(candidate) > limit:
            break
        kept.append(bubble)
    return joiner.join(kept)
