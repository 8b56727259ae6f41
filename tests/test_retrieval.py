"""TF-IDF retrieval over training contexts."""

import json

import pytest

from model.errors import InputError
from model.serve.retrieval import RetrievalIndex, context_terms

PAIRS = [
    {"persona": "Ana", "context": ["are you coming tonight?"], "reply": "yes! see you at 8"},
    {"persona": "Ana", "context": ["what did you cook?"], "reply": "pasta again lol"},
    {"persona": "Bo", "context": ["are you coming tonight?"], "reply": "no, sorry"},
    {"persona": "Ana", "context": ["did you see the match", "who won?"], "reply": "we did 🎉"},
]


def test_finds_the_most_similar_context_of_the_persona_only():
    index = RetrievalIndex.from_pairs(PAIRS, persona="Ana")
    assert len(index) == 3
    hit = index.search(["hey", "Are you coming tonight??"])
    assert hit.reply == "yes! see you at 8" and hit.index == 0
    assert 0.5 < hit.similarity <= 1.0
    assert index.search(["who won"]).reply == "we did 🎉"
    assert index.search(["completely unrelated words"]) is None


def test_identical_context_has_similarity_one_and_exclude_skips_it():
    index = RetrievalIndex.from_pairs(PAIRS, persona="Ana")
    hit = index.search(["what did you cook?"])
    assert hit.similarity == pytest.approx(1.0)
    other = index.search(["what did you cook?"], exclude=hit.index)
    assert other is None or other.index != hit.index


def test_last_turn_weighs_more_than_earlier_turns():
    terms = context_terms(["pasta", "who won"])
    assert terms["who"] == 1 and terms["who won"] == 1 and terms["pasta"] == 0.5


def test_round_trips_through_a_file(tmp_path):
    index = RetrievalIndex.from_pairs(PAIRS, persona="Ana")
    path = tmp_path / "retrieval.json"
    index.save(path)
    loaded = RetrievalIndex.load(path)
    assert loaded.search(["cook?"]) == index.search(["cook?"])
    path.write_text(json.dumps({"contexts": []}))
    with pytest.raises(InputError, match="retrieval.json"):
        RetrievalIndex.load(path)
