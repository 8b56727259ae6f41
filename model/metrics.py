"""The fixed evaluation metrics of DESIGN.md, on plain lists (numpy/stdlib only).

"Token" here means a *word token* of `words` (lower-cased words, emoji and punctuation
marks, `<brk>` left out), so distinct-n, length ratio and generic rate compare across
models with different BPE vocabularies. Perplexity is the exception: it is per model
token, because it measures the model's own predictions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

WORD = re.compile(r"<[a-z]+>|\w+|[^\w\s]", re.UNICODE)
DISTINCT_TOKEN_LIMIT = 20_000
GENERIC_TOP = 10


def words(text: str) -> list[str]:
    """Word tokens of a reply: placeholders like <url> stay whole, <brk> is dropped."""
    return [token for token in WORD.findall(text.lower()) if token != "<brk>"]


def perplexity(token_nlls: Iterable[float]) -> float:
    """exp(mean negative log-likelihood per gold token); NaN when there are none."""
    total, count = 0.0, 0
    for nll in token_nlls:
        total += nll
        count += 1
    return math.exp(total / count) if count else float("nan")


def distinct_n(replies: Sequence[Sequence[str]], n: int,
               limit: int = DISTINCT_TOKEN_LIMIT) -> float:
    """Distinct n-grams ÷ total tokens over the first `limit` generated tokens.

    Dividing by the token count (not the n-gram count) and fixing the token budget is the
    size adjustment cakechat uses, so corpora of different sizes compare.
    """
    seen: set[tuple[str, ...]] = set()
    used = 0
    for reply in replies:
        reply = list(reply[:limit - used])
        used += len(reply)
        seen.update(tuple(reply[i:i + n]) for i in range(len(reply) - n + 1))
        if used >= limit:
            break
    return len(seen) / used if used else 0.0


def length_ratio(generated: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """Mean generated length ÷ mean gold length (in tokens)."""
    if not generated or not gold:
        return float("nan")
    gold_mean = sum(map(len, gold)) / len(gold)
    return (sum(map(len, generated)) / len(generated)) / gold_mean if gold_mean else float("nan")


def generic_rate(replies: Sequence[str], top: int = GENERIC_TOP) -> float:
    """Share of replies that are among the `top` most frequent generated replies."""
    if not replies:
        return float("nan")
    counts = Counter(replies)
    frequent = {reply for reply, _ in counts.most_common(top)}
    return sum(1 for reply in replies if reply in frequent) / len(replies)
