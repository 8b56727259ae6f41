"""What `python -m model eval` measures (model/eval/evaluate.py runs it): the scores of a
system's replies against a Reference (real replies, persona classifier, training
vocabulary), and the scores of a model's likelihood of the real replies (perplexity per
token and per word, bits per character, Hits@1). Definitions: model/eval/metrics.py.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.errors import InputError
from model.eval import metrics
from model.serve.runtime import Replier, ReplyRequest
from model.text import bubbles

CLASSIFIER_TEXTS = 20_000  # per class
HITS_CANDIDATES = 20  # the real reply and 19 others: chance is 5%


def plain(reply: str) -> str:
    """A reply as one line of text (bubbles joined by spaces) for BLEU and the classifier."""
    return " ".join(bubbles(reply))


def request_for(pair: dict, persona: str, decoding: dict, seed: int) -> ReplyRequest:
    *context, message = pair["context"]
    return ReplyRequest(message, context, persona, {**decoding, "seed": seed},
                        list(pair.get("context_speakers") or []) or None)



def reply_logprobs(replier: Replier, pairs: Sequence[dict], replies: Sequence[str],
                   batch_size: int) -> list[np.ndarray]:
    """Teacher-forced token log-probs of replies[i] answering pairs[i], in batches."""
    persona = replier.default_persona
    logprobs: list[np.ndarray] = []
    for start in range(0, len(pairs), batch_size):
        requests = [request_for(p, persona, {}, 0) for p in pairs[start:start + batch_size]]
        logprobs += replier.token_logprobs(requests, replies[start:start + batch_size])
    return logprobs


def likelihood(replier: Replier, test: list[dict], batch_size: int) -> dict:
    """How well the model predicts the real replies (its end token included).

    Per model token is the model's own view; per word and per character divide the same
    total by units every tokenizer shares, so the LSTM and the pretrained model compare.
    """
    golds = [p["reply"] for p in test]
    nlls = -np.concatenate(reply_logprobs(replier, test, golds, batch_size))
    return {"perplexity": metrics.perplexity(nlls),
            "perplexity_word": metrics.perplexity(nlls, sum(len(metrics.words(g))
                                                            for g in golds)),
            "bits_per_char": metrics.bits_per_char(nlls, sum(len(plain(g)) for g in golds))}


def candidate_lists(golds: list[str], pool: list[str], seed: int) -> list[list[str]]:
    """For each real reply, itself first, then up to HITS_CANDIDATES - 1 replies of `pool`
    drawn with `seed`, none repeating another of the list (by metrics.normalise)."""
    distinct: dict[str, str] = {}
    for reply in pool:
        distinct.setdefault(metrics.normalise(reply), reply)
    rng = random.Random(seed)
    lists = []
    for gold in golds:
        others = [reply for key, reply in distinct.items() if key != metrics.normalise(gold)]
        lists.append([gold, *rng.sample(others, min(HITS_CANDIDATES - 1, len(others)))])
    return lists


def hits_at_1(replier: Replier, test: list[dict], candidates: list[list[str]],
              batch_size: int) -> float:
    """Hits@1 of the model: candidates[i] (the real reply first) ranked by their mean
    log-probability per token given test[i]'s context.

    Not the total: a sum favours the shortest candidate whatever it says (the pretrained
    demo ranked the real reply first in 0 of 30 contexts by its total).
    """
    # candidates may cover only the first test pairs (--hits-contexts)
    pairs = [pair for pair, listed in zip(test, candidates, strict=False) for _ in listed]
    replies = [reply for listed in candidates for reply in listed]
    means = iter([float(logps.mean()) for logps in
                  reply_logprobs(replier, pairs, replies, batch_size)])
    return metrics.hits_at_1([[next(means) for _ in listed] for listed in candidates])


MODEL_SCORES = ("perplexity", "perplexity_word", "bits_per_char", "hits_at_1")


def model_scores(replier: Replier, test: list[dict], candidates: list[list[str]],
                 batch_size: int) -> dict:
    """The MODEL_SCORES of a model: how likely it finds the real replies."""
    return {**likelihood(replier, test, batch_size),
            "hits_at_1": hits_at_1(replier, test, candidates, batch_size)}


# --- persona classifier --------------------------------------------------------------------


class PersonaClassifier:
    """Character n-gram logistic regression: the persona's replies vs other speakers' turns."""

    def __init__(self, train: list[dict], persona: str, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        mine = {plain(p["reply"]) for p in train if p["persona"] == persona}
        others = turns_of_others(train, persona) - mine
        mine.discard("")
        if not mine or not others:
            raise InputError(f"persona classifier needs replies of {persona!r} and of others")
        mine, others = _spread(sorted(mine)), _spread(sorted(others))
        texts = mine + others
        labels = [1] * len(mine) + [0] * len(others)
        self.pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                            min_df=1),
            LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed))
        self.pipeline.fit(texts, labels)
        self.sizes = {"persona": len(mine), "others": len(others)}

    def says_persona(self, replies: list[str]) -> list[bool]:
        """For each reply, whether the classifier assigns it to the persona."""
        if not replies:
            return []
        return self.pipeline.predict([plain(r) for r in replies]).astype(bool).tolist()

    def share(self, replies: list[str]) -> float:
        """Share of `replies` the classifier assigns to the persona."""
        return float(np.mean(self.says_persona(replies))) if replies else float("nan")


def turns_of_others(pairs: list[dict], persona: str) -> set[str]:
    """Every text of someone but the persona: other personas' replies and other
    speakers' context turns (as `plain` lines)."""
    others = {plain(p["reply"]) for p in pairs if p["persona"] != persona}
    for pair in pairs:
        for turn, speaker in zip(pair["context"], pair.get("context_speakers") or [],
                                 strict=False):
            if speaker != persona:
                others.add(plain(turn))
    others.discard("")
    return others


def _spread(texts: list[str], limit: int = CLASSIFIER_TEXTS) -> list[str]:
    """At most `limit` texts, evenly spaced (deterministic), to bound training time."""
    return texts if len(texts) <= limit else [texts[i * len(texts) // limit]
                                              for i in range(limit)]


# --- scoring -------------------------------------------------------------------------------


@dataclass
class Reference:
    """What every system's replies are measured against, built once per evaluation."""

    golds: list[str]  # the real replies to the test pairs
    classifier: PersonaClassifier
    known_words: set[str]  # letter words of the training pairs (novel-word share)
    others_said_persona: list[bool]  # the classifier on other people's held-out turns

    @classmethod
    def build(cls, train: list[dict], heldout: list[dict], test: list[dict], persona: str,
              seed: int) -> Reference:
        """As many held-out turns of others as test pairs (fewer if there are not) make
        the balanced "other" side of the persona accuracy."""
        classifier = PersonaClassifier(train, persona, seed=seed)
        others = sorted(turns_of_others(heldout, persona))
        others = random.Random(seed).sample(others, min(len(test), len(others)))
        known = metrics.vocabulary(text for p in train for text in [*p["context"], p["reply"]])
        return cls([p["reply"] for p in test], classifier, known,
                   classifier.says_persona(others))


def text_scores(replies: list[str], reference: Reference) -> dict:
    """The metrics that need no gold reply: they apply to the real replies too."""
    lines = [plain(r) for r in replies]
    generated = [metrics.words(r) for r in replies]
    return {
        "distinct_1": metrics.distinct_n(generated, 1),
        "distinct_2": metrics.distinct_n(generated, 2),
        "generic_rate": metrics.generic_rate(lines),
        "novel_word_share": metrics.novel_word_share(replies, reference.known_words),
        "persona_share": reference.classifier.share(replies),
        "persona_accuracy": metrics.persona_accuracy(
            lines, reference.classifier.says_persona(replies), reference.others_said_persona),
    }


def score(replies: list[str], reference: Reference) -> dict:
    import sacrebleu

    golds = reference.golds
    return {
        "bleu": sacrebleu.corpus_bleu([plain(r) for r in replies],
                                      [[plain(g) for g in golds]]).score,
        "length_ratio": metrics.length_ratio([metrics.words(r) for r in replies],
                                             [metrics.words(g) for g in golds]),
        **text_scores(replies, reference),
    }
