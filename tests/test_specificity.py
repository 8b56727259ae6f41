"""Levels of detail for conditional training (model/data/specificity.py)."""

import pytest

from model.data.specificity import MIN_DOCS, Specificity, words

REPLIES = (["yeah", "yeah lol", "ok", "haha yeah", "lol ok"] * 4
           + ["i went hiking near the lake with my dog",
              "the lake was cold but my dog loved hiking",
              "my dog chased ducks at the lake after hiking"] * MIN_DOCS
           + ["zzyzx"] * (MIN_DOCS - 1))


def test_levels_rise_with_uncommon_content_and_split_the_replies_evenly():
    specificity = Specificity.fit(REPLIES, 3)
    assert specificity.levels == 3 and list(specificity.bounds) == sorted(specificity.bounds)
    assert specificity.level("yeah") == 1
    assert specificity.level("we took my dog hiking to the lake") == 3
    assert specificity.score("the dog") < specificity.score("the dog at the lake")
    counts = [sum(specificity.level(r) == k for r in REPLIES) for k in (1, 2, 3)]
    assert all(count > 0 for count in counts)


def test_rare_words_and_empty_replies_say_nothing():
    specificity = Specificity.fit(REPLIES, 2)
    assert "zzyzx" not in specificity.nidf  # fewer than MIN_DOCS replies: a typo or a name
    assert specificity.score("zzyzx zzyzx!") == 0.0 == specificity.score("")
    assert specificity.level("zzyzx") == 1
    assert words("Don't STOP, can't-stop") == ["don't", "stop", "can't", "stop"]


def test_too_few_levels_or_words_are_refused():
    with pytest.raises(ValueError, match="1 specificity levels"):
        Specificity.fit(REPLIES, 1)
    with pytest.raises(ValueError, match="need 2"):
        Specificity.fit(["just one"], 3)
