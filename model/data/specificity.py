"""How much a reply says, in levels a prompt can ask for (conditional training).

A fine-tuned model's most likely reply is a bland one ("yeah that is a good idea"): beam
search finds the mode, and the mode of chat replies is short and generic. See et al.
(2019, "What makes a good conversation?") trained with the reply's specificity bucket in
the input and asked for a higher bucket at inference; their readers found the replies
more engaging. Their measure is the *normalised inverse document frequency* of words,

    idf(w)  = log(R / df(w))          R replies, df(w) of them contain w
    nidf(w) = (idf(w) - min idf) / (max idf - min idf)      in [0, 1]

over the training replies. Their mean per reply ranks a bare "Hey again" above a
thoughtful sentence in common words, so a reply's score here is the *sum* over its
distinct words: how much uncommon content it carries. Words in fewer than MIN_DOCS
replies (typos, names) count nothing. Levels 1..L split the training replies into L
equally large groups by that score (on the demo's chats, 5 levels average 4, 9, 15, 25
and 54 words).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# Letters and digits only, contractions whole: model.text.words also yields punctuation
# and splits "don't", which would count "?" and "t" as content.
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
MIN_DOCS = 3


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass(frozen=True)
class Specificity:
    nidf: dict[str, float]
    bounds: tuple[float, ...]  # L - 1 ascending scores between the levels

    @property
    def levels(self) -> int:
        return len(self.bounds) + 1

    @classmethod
    def fit(cls, replies: Iterable[str], levels: int) -> Specificity:
        replies = list(replies)
        docs = Counter(word for reply in replies for word in set(words(reply)))
        idf = {w: math.log(len(replies) / n) for w, n in docs.items() if n >= MIN_DOCS}
        if levels < 2 or len(idf) < 2:
            raise ValueError(f"{levels} specificity levels from {len(replies)} replies "
                             f"({len(idf)} words in {MIN_DOCS}+ of them): need 2+ of each")
        low, high = min(idf.values()), max(idf.values())
        nidf = {w: (v - low) / ((high - low) or 1.0) for w, v in idf.items()}
        scorer = cls(nidf, ())
        scores = sorted(scorer.score(reply) for reply in replies)
        bounds = tuple(scores[len(scores) * k // levels] for k in range(1, levels))
        return cls(nidf, bounds)

    def score(self, text: str) -> float:
        """Sum of the nidf of the reply's distinct words (0 for "hahahahah")."""
        return sum(self.nidf.get(word, 0.0) for word in set(words(text)))

    def level(self, text: str) -> int:
        """1 (the barest fifth of replies, for 5 levels) .. levels (the fullest)."""
        return 1 + bisect.bisect_right(self.bounds, self.score(text))
