"""The evaluation metrics (README, "What `python -m model eval` measures"), on plain lists (numpy/stdlib only).

"Token" here means a *word token* of `words` (lower-cased words, emoji and punctuation
marks, `<brk>` left out), so distinct-n, length ratio, generic rate and novel words
compare across models with different BPE vocabularies. Likelihoods come from each
model's own tokens; dividing their total by words or characters of the scored text
(`perplexity(nlls, units)`, `bits_per_char`) makes them compare across tokenizers too.
"""

from __future__ import annotations

import math
import string
from collections import Counter
from collections.abc import Iterable, Sequence

from model.text import words

# Marks that end a reply without making it a different reply ("ok!" repeats "ok").
TRAILING_MARKS = string.punctuation + "…“”‘’«»¡¿ "


def letter_words(text: str) -> list[str]:
    """The word tokens made of letters only: no numbers, marks, emoji or placeholders."""
    return [token for token in words(text) if token.isalpha()]


def normalise(reply: str) -> str:
    """A reply as compared for repeats: lower-cased, whitespace collapsed, end marks gone."""
    return " ".join(reply.lower().split()).rstrip(TRAILING_MARKS)


def perplexity(nlls: Iterable[float], units: int | None = None) -> float:
    """exp(total negative log-likelihood ÷ units); NaN when there are none.

    `units` defaults to the number of NLLs, i.e. perplexity per model token. Per word,
    `units` is the word count of the scored text, which compares across tokenizers.
    """
    nlls = list(nlls)
    units = len(nlls) if units is None else units
    return math.exp(sum(nlls) / units) if units else float("nan")


def bits_per_char(nlls: Iterable[float], chars: int) -> float:
    """Total negative log-likelihood (nats) in bits per character of the scored text."""
    return sum(nlls) / (chars * math.log(2)) if chars else float("nan")


def hits_at_1(scores: Sequence[Sequence[float]]) -> float:
    """Share of candidate lists whose first candidate (the real reply) scores highest.

    A tie for the top shares the hit (1/k among k tied), so a scorer that cannot tell the
    candidates apart gets exactly chance rather than a free win.
    """
    if not scores:
        return float("nan")
    hits = 0.0
    for row in scores:
        top = max(row)
        if row[0] == top:
            hits += 1 / sum(1 for score in row if score == top)
    return hits / len(scores)


def distinct_n(replies: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams ÷ all n-grams of the replies (n-grams do not cross replies)."""
    grams = [tuple(reply[i:i + n]) for reply in replies for i in range(len(reply) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def length_ratio(generated: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    """Mean generated length ÷ mean gold length (in tokens)."""
    if not generated or not gold:
        return float("nan")
    gold_mean = sum(map(len, gold)) / len(gold)
    return (sum(map(len, generated)) / len(generated)) / gold_mean if gold_mean else float("nan")


def generic_rate(replies: Sequence[str]) -> float:
    """Share of replies that repeat another reply of the set (compared by `normalise`).

    0 when every reply differs, 1 for one reply said every time.
    """
    if not replies:
        return float("nan")
    counts = Counter(map(normalise, replies))
    return sum(1 for reply in replies if counts[normalise(reply)] > 1) / len(replies)


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every letter word of `texts` (see `letter_words`)."""
    return {word for text in texts for word in letter_words(text)}


def novel_word_share(replies: Iterable[str], known: set[str]) -> float:
    """Share of the replies' letter words that `known` (a training vocabulary) lacks."""
    found = [word for reply in replies for word in letter_words(reply)]
    return sum(1 for word in found if word not in known) / len(found) if found \
        else float("nan")


def persona_accuracy(replies: Sequence[str], said_persona: Sequence[bool],
                     others_said_persona: Sequence[bool]) -> float:
    """A persona classifier's balanced accuracy on `replies` (all labelled "persona") and
    on other people's real replies (all labelled "other"): the mean of the two recalls.

    On the persona's side a reply earns its hit once: a repeat of an earlier reply (by
    `normalise`) earns nothing, because saying it again tells the persona apart no better.
    Without that rule one in-character stock reply said every time would get a perfect
    recall; with it a constant reply's recall is 1/N and its accuracy at most about 0.5.
    """
    if not replies or not others_said_persona:
        return float("nan")
    credited = {normalise(reply) for reply, hit in zip(replies, said_persona, strict=True)
                if hit}
    rejected = sum(1 for hit in others_said_persona if not hit)
    return (len(credited) / len(replies) + rejected / len(others_said_persona)) / 2
