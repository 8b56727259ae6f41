"""The memorisation guard: a reply that copies a rare stretch of a training reply is withheld.

A fine-tuned model can repeat what a person once wrote verbatim (an address, a code, a
story), and anyone who can message the bot can prompt for it. Scrubbing (model/pii.py)
removes what looks like personal data before training; this guard catches what it
misses, at serving time, by what the model says rather than by what it looks like.

    bundle writing   the stretches of reply tokens the model was trained to write (every
                     8-gram, and every 5-gram holding a digit), counted in distinct
                     training replies; those in at most `max_replies` of them ("rare") are
                     hashed into memorisation.npz (no text is stored)
    serving          a reply is re-encoded with the bundle's tokenizer; if any of its
                     stretches is in the index, the Replier draws it again by sampling
                     (runtime.GUARD_REDRAWS times); if every draw copies, it returns an
                     empty reply, which every channel already treats as "nothing to say"

Rare, not unique: a secret said in 16 chats is no less private, while the phrases many
replies share ("what kinds of things do you like to do") stay allowed. In the demo
corpus, 8-token n-grams shared by 2-16 of 40,759 training replies are mostly one
person's facts repeated across chats (a major, a brother's team); phrases shared more
widely are the generic ones.

Why shorter stretches with digits: a fine-tuned model repeats a secret in words of its
own ("the wifi password is usually 9afza5vp", "I live at 9871 Elmroad Road"), which
breaks every 8-gram, and codes, house numbers and most passwords hold digits that
ordinary chat rarely repeats. On a pretrained model fine-tuned on planted canaries
(bench/canary.py, README "Memorisation"), 8-grams alone let 4 of 39 sampled leaks
through, and 6-grams of any kind refused 8% of 150 ordinary replies; 8-grams plus digit
5-grams caught all 39 and refused one of the 150, which did repeat a canary. Digit
5-grams refused none of 1,500 replies of the LSTM demo.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from model.errors import InputError
from model.files import atomic_output

GUARD_FILE = "memorisation.npz"
NGRAM = 8  # tokens: about five words
DIGIT_NGRAM = 5  # tokens, for stretches that hold a digit
MAX_REPLIES = 16  # a stretch in at most this many distinct training replies is rare
logger = logging.getLogger("doppel.model")
_reported_absent: set[str] = set()


def ngram_hash(gram: Sequence[int]) -> int:
    """A stable 64-bit hash of a token n-gram (the same on every machine and run)."""
    data = np.asarray(gram, dtype="<u4").tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def ngrams(ids: Sequence[int], n: int) -> set[tuple[int, ...]]:
    ids = tuple(ids)
    return {ids[i:i + n] for i in range(len(ids) - n + 1)}


def digit_token_ids(vocab: dict[str, int]) -> frozenset[int]:
    """The ids of a tokenizer's tokens that hold a digit (byte-level BPE keeps digits)."""
    return frozenset(index for token, index in vocab.items()
                     if any(c.isdigit() for c in token))


def stretches(ids: Sequence[int], digit_ids: frozenset[int], n: int = NGRAM,
              digit_n: int = DIGIT_NGRAM) -> set[tuple[int, ...]]:
    """What the guard compares: every n-gram of `ids`, and every digit_n-gram with a digit."""
    with_digit = {gram for gram in ngrams(ids, digit_n) if not digit_ids.isdisjoint(gram)}
    return ngrams(ids, n) | with_digit


def rare_stretch_hashes(replies: Iterable[Sequence[int]], digit_ids: frozenset[int],
                        n: int = NGRAM, digit_n: int = DIGIT_NGRAM,
                        max_replies: int = MAX_REPLIES) -> np.ndarray:
    """Sorted hashes of the stretches found in 1..max_replies of `replies` (token ids)."""
    counts: Counter = Counter()
    for ids in replies:
        counts.update(stretches(ids, digit_ids, n, digit_n))
    hashes = {ngram_hash(gram) for gram, count in counts.items() if count <= max_replies}
    return np.array(sorted(hashes), dtype=np.uint64)


def training_replies(train_pairs: Sequence[dict], train_examples: Sequence[tuple]) -> list:
    """The reply ids a model was trained to write, one per distinct reply of a conversation.

    `train_examples` are the encoded training pairs (reply ids second), aligned with
    `train_pairs`; `pairs.augment` repeats a reply with shorter contexts, and a repeat
    must not make a reply's n-grams look common.
    """
    seen = {(pair["conversation"], tuple(example[1]))
            for pair, example in zip(train_pairs, train_examples, strict=True)}
    return [ids for _, ids in sorted(seen)]


def write_guard_index(bundle_dir: str | Path, train_pairs: Sequence[dict],
                      train_examples: Sequence[tuple], vocab: dict[str, int]) -> Path:
    """Write memorisation.npz into a bundle being assembled (write_bundle lists it).

    `vocab` is the tokenizer's (token -> id). The sorted hashes are stored as
    differences, which compress to about 7 bytes each.
    """
    digit_ids = digit_token_ids(vocab)
    hashes = rare_stretch_hashes(training_replies(train_pairs, train_examples), digit_ids)
    path = Path(bundle_dir) / GUARD_FILE
    with atomic_output(path, mode="wb") as handle:
        np.savez_compressed(handle, deltas=np.diff(hashes, prepend=np.uint64(0)),
                            digit_ids=np.array(sorted(digit_ids), dtype=np.int64),
                            ngram=np.int64(NGRAM), digit_ngram=np.int64(DIGIT_NGRAM),
                            max_replies=np.int64(MAX_REPLIES))
    return path


class MemorisationGuard:
    """Says whether a reply's tokens copy a rare stretch of the training replies."""

    def __init__(self, hashes: np.ndarray, digit_ids: frozenset[int], n: int = NGRAM,
                 digit_n: int = DIGIT_NGRAM, max_replies: int = MAX_REPLIES):
        self.hashes = hashes  # sorted uint64
        self.digit_ids = digit_ids
        self.n = n
        self.digit_n = digit_n
        self.max_replies = max_replies

    @classmethod
    def load(cls, bundle_dir: str | Path) -> MemorisationGuard | None:
        """The bundle's guard; None (logged once per bundle) for bundles made before it."""
        path = Path(bundle_dir) / GUARD_FILE
        if not path.is_file():
            if str(bundle_dir) not in _reported_absent:
                _reported_absent.add(str(bundle_dir))
                logger.warning("bundle %s has no %s: replies are not checked for copied "
                               "training text (retrain to add it)", bundle_dir, GUARD_FILE)
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(np.cumsum(data["deltas"], dtype=np.uint64),
                           frozenset(data["digit_ids"].tolist()), int(data["ngram"]),
                           int(data["digit_ngram"]), int(data["max_replies"]))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"unreadable memorisation index: {exc}", str(path)) from None

    def copies(self, ids: Sequence[int]) -> bool:
        """True when a stretch of `ids` is one of the indexed rare training stretches."""
        grams = stretches(ids, self.digit_ids, self.n, self.digit_n)
        if not grams or not len(self.hashes):
            return False
        wanted = np.array([ngram_hash(gram) for gram in grams], dtype=np.uint64)
        found = np.minimum(np.searchsorted(self.hashes, wanted), len(self.hashes) - 1)
        return bool((self.hashes[found] == wanted).any())
