"""Nearest training context → its reply: the retrieval baseline and optional grounding.

TF-IDF with cosine similarity over dict-of-postings (stdlib only). We chose TF-IDF
cosine over BM25 because its similarity is bounded in [0, 1], so one threshold means
the same thing in every bundle (BM25 scores grow with corpus statistics and query
length); and chat contexts are so short that BM25's length saturation buys little.

A context is represented by the words and word bigrams of its last turn (the message
being answered) plus, at half weight, the words of the earlier turns. Only pairs whose
reply comes from the target persona are indexed, so a retrieved reply is in character.

The index is stored as plain texts (`retrieval.json`: contexts and replies) and the
postings are built on load: the file stays small and the weights cannot go stale.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from model.errors import InputError
from model.files import atomic_output
from model.text import words

FILE_NAME = "retrieval.json"
EARLIER_TURN_WEIGHT = 0.5


@dataclass(frozen=True)
class Hit:
    reply: str
    similarity: float  # cosine, 0..1
    index: int  # which indexed pair


def context_terms(turns: Sequence[str]) -> Counter:
    """Weighted term counts of a context (oldest turn first)."""
    terms: Counter = Counter()
    if not turns:
        return terms
    *earlier, last = turns
    last_words = words(last)
    terms.update(last_words)
    terms.update(f"{a} {b}" for a, b in zip(last_words, last_words[1:], strict=False))
    for turn in earlier:
        for word in words(turn):
            terms[word] += EARLIER_TURN_WEIGHT
    return terms


class RetrievalIndex:
    """TF-IDF (sublinear tf, smoothed idf) cosine search over training contexts."""

    def __init__(self, contexts: Sequence[Sequence[str]], replies: Sequence[str]):
        if len(contexts) != len(replies):
            raise ValueError("contexts and replies differ in length")
        self.contexts = [list(c) for c in contexts]
        self.replies = list(replies)
        counts = [context_terms(c) for c in self.contexts]
        df = Counter(term for c in counts for term in c)
        n = len(counts)
        self.idf = {term: math.log((1 + n) / (1 + d)) + 1.0 for term, d in df.items()}
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc, terms in enumerate(counts):
            vector = self._vector(terms)
            for term, weight in vector.items():
                self.postings[term].append((doc, weight))

    def __len__(self) -> int:
        return len(self.replies)

    def _vector(self, terms: Counter) -> dict[str, float]:
        vector = {t: math.log1p(tf) * self.idf[t] for t, tf in terms.items() if t in self.idf}
        norm = math.sqrt(sum(w * w for w in vector.values()))
        return {t: w / norm for t, w in vector.items()} if norm else {}

    def search(self, turns: Sequence[str], exclude: int | None = None) -> Hit | None:
        """Best match for a context (oldest turn first; the last is the message).

        `exclude` skips one indexed pair (leave-one-out on training data). Ties go to the
        earliest pair, so results are deterministic.
        """
        scores: dict[int, float] = defaultdict(float)
        for term, weight in self._vector(context_terms(turns)).items():
            for doc, doc_weight in self.postings.get(term, ()):
                scores[doc] += weight * doc_weight
        scores.pop(exclude, None)
        if not scores:
            return None
        best = min(scores, key=lambda doc: (-scores[doc], doc))
        return Hit(self.replies[best], min(scores[best], 1.0), best)

    # --- building and files -----------------------------------------------------------

    @classmethod
    def from_pairs(cls, pairs: Iterable[dict], persona: str | None = None) -> RetrievalIndex:
        """Index the pairs whose `persona` is `persona` (all pairs when None)."""
        chosen = [p for p in pairs if persona is None or p["persona"] == persona]
        return cls([p["context"] for p in chosen], [p["reply"] for p in chosen])

    def save(self, path: str | Path) -> None:
        with atomic_output(path) as handle:
            json.dump({"format_version": 1, "contexts": self.contexts, "replies": self.replies},
                      handle, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> RetrievalIndex:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["contexts"], data["replies"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot read retrieval index: {exc}", path=str(path)) from exc
