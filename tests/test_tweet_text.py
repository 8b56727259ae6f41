"""X's weighted length (twitter-text v3) and fitting a multi-bubble reply into 280."""

from __future__ import annotations

import pytest

from backend.bots.x.tweet_text import MAX_WEIGHTED_LENGTH, fit_tweet, weighted_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("é", 1),  # Latin-1 range weighs 1
        ("e\u0301", 1),  # NFC-normalised to é first
        ("日本語", 6),  # CJK weighs 2 per character
        ("한국어 ok", 9),
        ("👍", 2),
        ("👍🏽", 2),  # skin tone modifier is part of the emoji
        ("👨\u200d👩\u200d👧\u200d👦", 2),  # a ZWJ family is one emoji
        ("🇯🇵", 2),  # a flag is one emoji
        ("1\ufe0f\u20e3", 2),  # keycap
        ("©", 1),  # text presentation: a Latin-1 character
        ("©\ufe0f", 2),  # emoji presentation
        ("“quoted” — dash", 15),  # general punctuation U+2010..201F weighs 1
        ("see https://example.com/a/very/long/path?query=1", 27),  # any URL weighs 23
        ("https://example.com/x.", 24),  # trailing full stop is not part of the URL
        ("www.doppel.dev is up", 29),
        ("doppel.dev", 23),  # a bare domain with a known TLD is a URL too
        ("foo.bar", 7),  # unknown TLD: plain text
    ],
)
def test_weighted_length_follows_twitter_text_v3(text, expected):
    assert weighted_length(text) == expected


def test_short_bubbles_are_joined_whole():
    assert fit_tweet(["hi!", "  see you   at 8 "]) == "hi!\nsee you at 8"
    assert fit_tweet(["hi!", "see you"], joiner=" ") == "hi! see you"
    assert fit_tweet(["", "   "]) == ""


def test_bubbles_that_do_not_fit_are_dropped_whole():
    first, second = "a" * 200, "b" * 100
    assert fit_tweet([first, second, "c"]) == first


def test_a_long_bubble_is_cut_at_a_word_boundary_with_an_ellipsis():
    text = " ".join(f"word{i}" for i in range(100))
    fitted = fit_tweet([text])
    assert weighted_length(fitted) <= MAX_WEIGHTED_LENGTH
    assert fitted.endswith("…")
    assert text.startswith(fitted[:-1]) and text[len(fitted) - 1] == " "  # ends on a whole word


def test_cjk_without_spaces_is_cut_between_characters():
    fitted = fit_tweet(["日本語" * 100])
    assert weighted_length(fitted) == MAX_WEIGHTED_LENGTH  # 139 characters * 2 + ellipsis 2
    assert fitted.endswith("…") and set(fitted[:-1]) <= set("日本語")


def test_urls_and_emoji_are_never_split():
    url = "https://example.com/" + "p" * 300
    fitted = fit_tweet(["look " * 50 + url + " more words"])
    assert url in fitted or "https" not in fitted
    assert weighted_length(fitted) <= MAX_WEIGHTED_LENGTH
    family = "👨\u200d👩\u200d👧\u200d👦"
    fitted = fit_tweet([family * 200])
    assert fitted == family * 139 + "…"  # 139 * 2 + 2 (ellipsis) = 280
