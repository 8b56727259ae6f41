"""Text conventions every stage shares: the `<brk>` bubble break and word tokens.

A turn of several chat messages ("bubbles") is one string with the bubbles joined by
" <brk> ": pairs write it so, the tokenizer keeps `<brk>` as one special token, replies
come back so, and the bots send one message per bubble. Word tokens are what metrics
and retrieval count, the same for every tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BRK = "<brk>"
BRK_JOIN = f" {BRK} "  # the canonical form between two bubbles
WORD = re.compile(r"<[a-z]+>|\w+|[^\w\s]", re.UNICODE)


def bubbles(text: str) -> list[str]:
    """The bubbles of a turn: the parts between `<brk>`s, stripped, empty ones dropped."""
    return [part.strip() for part in text.split(BRK) if part.strip()]


def join_bubbles(parts: Iterable[str]) -> str:
    """Bubbles -> one turn in the canonical " <brk> " form (empty ones dropped)."""
    return BRK_JOIN.join(part for part in parts if part)


def words(text: str) -> list[str]:
    """Word tokens of a reply: placeholders like <url> stay whole, <brk> is dropped."""
    return [token for token in WORD.findall(text.lower()) if token != BRK]
