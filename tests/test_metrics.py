"""The fixed evaluation metrics on tiny hand-computed examples."""

import math

import pytest

from model.metrics import distinct_n, generic_rate, length_ratio, perplexity, words


def test_words_keep_placeholders_and_emoji_and_drop_breaks():
    assert words("Yes! <brk> see you at 8 🎉 <url>") == ["yes", "!", "see", "you", "at", "8",
                                                       "🎉", "<url>"]


def test_perplexity_is_exp_of_the_mean_token_nll():
    nlls = [math.log(2), math.log(8)]  # p = 1/2 and 1/8 -> geometric mean 1/4
    assert perplexity(nlls) == pytest.approx(4.0)
    assert math.isnan(perplexity([]))


def test_distinct_divides_by_tokens_and_stops_at_the_budget():
    replies = [["a", "b", "a"], ["a", "b"]]
    # unigrams {a, b} over 5 tokens; bigrams {ab, ba} (within replies only) over 5 tokens
    assert distinct_n(replies, 1) == pytest.approx(2 / 5)
    assert distinct_n(replies, 2) == pytest.approx(2 / 5)
    # a budget of 4 tokens keeps "a b a" + "a": unigrams {a, b} / 4
    assert distinct_n(replies, 1, limit=4) == pytest.approx(2 / 4)
    assert distinct_n([["x", "y", "z"], ["w"]], 1, limit=2) == pytest.approx(1.0)
    assert distinct_n([], 1) == 0.0


def test_length_ratio_compares_means():
    assert length_ratio([["a"], ["a", "b", "c"]], [["a", "b"], ["a", "b"], ["c", "d"]]) \
        == pytest.approx(1.0)
    assert length_ratio([["a"]], [["a", "b", "c", "d"]]) == pytest.approx(0.25)


def test_generic_rate_counts_replies_among_the_most_frequent():
    replies = ["ok"] * 5 + ["lol"] * 3 + ["x", "y"]
    assert generic_rate(replies, top=1) == pytest.approx(0.5)
    assert generic_rate(replies, top=2) == pytest.approx(0.8)
    assert generic_rate([f"r{i}" for i in range(20)]) == pytest.approx(0.5)  # 10 of 20
