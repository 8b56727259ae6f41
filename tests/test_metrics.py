"""The fixed evaluation metrics on tiny hand-computed examples."""

import math

import pytest

from model.eval.metrics import (
    bits_per_char,
    distinct_n,
    generic_rate,
    hits_at_1,
    length_ratio,
    normalise,
    novel_word_share,
    perplexity,
    persona_accuracy,
    vocabulary,
    words,
)


def test_words_keep_placeholders_and_emoji_and_drop_breaks():
    assert words("Yes! <brk> see you at 8 🎉 <url>") == ["yes", "!", "see", "you", "at", "8",
                                                       "🎉", "<url>"]


def test_perplexity_is_exp_of_the_mean_token_nll():
    nlls = [math.log(2), math.log(8)]  # p = 1/2 and 1/8 -> geometric mean 1/4
    assert perplexity(nlls) == pytest.approx(4.0)
    assert math.isnan(perplexity([]))


def test_perplexity_per_word_and_bits_per_char_divide_the_same_total():
    nlls = [math.log(2)] * 6  # 6 tokens of p = 1/2: 6 bits in all
    # the same text as 3 words: each word costs 2 bits, i.e. p = 1/4
    assert perplexity(nlls, units=3) == pytest.approx(4.0)
    assert bits_per_char(nlls, 12) == pytest.approx(0.5)
    assert math.isnan(bits_per_char(nlls, 0))


def test_hits_at_1_credits_the_real_reply_ranked_first_and_splits_ties():
    knows = [[0.0, -5.0, -3.0], [-1.0, -2.0, -9.0]]  # the real reply (first) always best
    assert hits_at_1(knows) == 1.0
    assert hits_at_1([[-5.0, 0.0, -3.0], [-1.0, -2.0, -9.0]]) == 0.5
    assert hits_at_1([[0.0] * 20] * 7) == pytest.approx(1 / 20)  # a constant scorer: chance
    assert hits_at_1([[1.0, 1.0, 0.0]]) == pytest.approx(0.5)  # tied with one other
    assert math.isnan(hits_at_1([]))


def test_distinct_is_distinct_ngrams_over_all_ngrams():
    replies = [["a", "b", "a"], ["a", "b"]]
    # unigrams {a, b} of 5; bigrams {ab, ba} of 3 (ab, ba, ab: none across replies)
    assert distinct_n(replies, 1) == pytest.approx(2 / 5)
    assert distinct_n(replies, 2) == pytest.approx(2 / 3)
    assert distinct_n([["x", "y", "z"], ["w"]], 1) == 1.0
    assert distinct_n([["x"]], 2) == 0.0  # no bigram at all
    assert distinct_n([], 1) == 0.0


def test_length_ratio_compares_means():
    assert length_ratio([["a"], ["a", "b", "c"]], [["a", "b"], ["a", "b"], ["c", "d"]]) \
        == pytest.approx(1.0)
    assert length_ratio([["a"]], [["a", "b", "c", "d"]]) == pytest.approx(0.25)


def test_normalise_ignores_case_spacing_and_end_marks_only():
    assert normalise("  OK   then!! ") == normalise("ok then") == "ok then"
    assert normalise("yes…") == normalise("Yes?!") == "yes"
    assert normalise("what? ok") == "what? ok"  # marks inside a reply stay


def test_generic_rate_counts_replies_that_repeat_another():
    assert generic_rate([f"reply {i}" for i in range(20)]) == 0.0  # no floor
    assert generic_rate(["haha"] * 9) == 1.0
    # "ok", "OK!" and "ok " are one reply said three times; "lol" twice; x and y once
    assert generic_rate(["ok", "OK!", "ok ", "lol", "lol", "x", "y"]) == pytest.approx(5 / 7)
    assert math.isnan(generic_rate([]))


def test_novel_word_share_counts_letter_words_missing_from_training():
    known = vocabulary(["Are you coming tonight?", "yes! see you at 8 <url>"])
    assert known == {"are", "you", "coming", "tonight", "yes", "see", "at"}
    # letter words: yes, you, coming, tomorow (novel); "9", "!" and <url> do not count
    assert novel_word_share(["Yes 9 you!", "coming tomorow <url>"], known) \
        == pytest.approx(1 / 4)
    assert novel_word_share(["see you"], known) == 0.0
    assert math.isnan(novel_word_share(["!!", "<url>"], known))


def test_persona_accuracy_is_balanced_and_a_constant_reply_cannot_win_it():
    others_rejected = [False] * 8  # a classifier that rejects every other person's turn
    varied = [f"reply {i}" for i in range(8)]
    assert persona_accuracy(varied, [True] * 8, others_rejected) == 1.0
    assert persona_accuracy(varied, [True] * 4 + [False] * 4, [True] * 8) == pytest.approx(0.25)
    # the most-frequent baseline: one stock reply, always taken for the persona's
    constant = ["haha"] * 8
    assert persona_accuracy(constant, [True] * 8, others_rejected) == pytest.approx(
        (1 / 8 + 1) / 2)
    assert persona_accuracy(["lol", "LOL!", "hey"], [True] * 3, [False]) == pytest.approx(
        (2 / 3 + 1) / 2)  # a repeat, up to case and end marks, earns nothing
    assert math.isnan(persona_accuracy(varied, [True] * 8, []))
