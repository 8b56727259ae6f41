"""Reply rules: who gets an answer, and which words never pass, checked on a real state store."""

from __future__ import annotations

import pytest

from backend.bots.ledger.sqlite import SqliteState
from backend.bots.replies import outgoing
from backend.bots.rules import (
    Blocklist,
    Rules,
    RuleSettings,
    chain_depth,
    strip_mentions,
)
from backend.bots.skips import BLOCKED_OUTGOING, EMPTY_REPLY
from backend.bots.x.client import Tweet
from backend.config import load_config
from model.errors import InputError
from model.pii import strip_placeholders
from model.serve.runtime import Reply

BOT = {"id": "100", "username": "doppel"}
NOW = 1_800_000_000.0


def tweet(tweet_id: str, text: str, author: str = "7", parent: str | None = None,
          in_reply_to_user: str | None = None, age_s: float = 10.0, retweet: bool = False):
    return Tweet(tweet_id, text, author, created_at=NOW - age_s, parent_id=parent,
                 in_reply_to_user_id=in_reply_to_user, retweet=retweet)


@pytest.fixture
def state(tmp_path):
    store = SqliteState(tmp_path / "state.sqlite")
    yield store
    store.close()


@pytest.fixture
def rules():
    return Rules(RuleSettings(max_chain_depth=2, user_replies_per_hour=3, max_age_s=600),
                 Blocklist.load(load_config()["x_blocklist"]))


def test_strip_mentions_and_placeholders():
    assert strip_mentions("@doppel @alice  are you coming? @bob") == "are you coming? @bob"
    assert strip_mentions("@doppel") == ""
    assert strip_placeholders("call me <phone> or mail <email>!") == "call me or mail!"


def test_blocklist_words_are_whole_words_and_regexes_work(tmp_path):
    path = tmp_path / "block.txt"
    path.write_text("# comment\n\nbad word\nre:\\bspa+m\\b\n", encoding="utf-8")
    blocklist = Blocklist.load(path)
    assert blocklist.blocks("what a BAD   word")
    assert not blocklist.blocks("badword is fine")
    assert blocklist.blocks("spaaaam") and not blocklist.blocks("spammer")
    path.write_text("ok\nre:(unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"block\.txt:2: bad regex"):
        Blocklist.load(path)
    with pytest.raises(InputError, match="cannot read blocklist"):
        Blocklist.load(tmp_path / "missing.txt")


def test_the_shipped_blocklist_loads_and_blocks_slurs():
    blocklist = Blocklist.load(load_config()["x_blocklist"])
    assert blocklist.blocks("you are a retard") and not blocklist.blocks("see you at 8")


# Look-alikes of blocked words (the shipped list), and innocent text they must not catch.
DISGUISED = ["you are a \uff23\uff35\uff2e\uff34",  # full-width letters
             "\uff4b\uff49\uff4c\uff4c\u3000\uff59\uff4f\uff55\uff52\uff53\uff45\uff4c\uff46",
             "k\u200bys", "KILL\u00ad YOURSELF", "k\u200dys!",  # zero-width, soft hyphen
             "k1ll y0urs3lf", "r@pe", "\U0001d42b\U0001d41a\U0001d429\U0001d41e"]  # 𝐫𝐚𝐩𝐞
INNOCENT = ["see you at 8", "4chan is old", "i was 1st in 2020", "the skys the limit",
            "\uff48\uff45\uff4c\uff4c\uff4f", "mail me@rapeseed.org", "grape juice",
            "my therapist", "scunthorpe", "call 1488 or 5am"]


def test_the_blocklist_reads_through_look_alike_letters_and_invisible_characters():
    blocklist = Blocklist.load(load_config()["x_blocklist"])
    assert [text for text in DISGUISED if not blocklist.blocks(text)] == []
    assert [text for text in INNOCENT if blocklist.blocks(text)] == []


def test_blocklist_entries_are_normalised_too(tmp_path):
    path = tmp_path / "block.txt"
    path.write_text("\uff33\uff54\uff52\u00e4\u00dfe\n", encoding="utf-8")  # Ｓｔｒäße
    assert Blocklist.load(path).blocks("STRÄSSE")


def test_outgoing_refuses_a_reply_with_a_disguised_blocked_word():
    blocklist = Blocklist.load(load_config()["x_blocklist"])
    for text in DISGUISED:
        assert outgoing(Reply(text, [text], "Ana"), blocklist) == ([], BLOCKED_OUTGOING)

def test_chain_depth_counts_bot_replies_to_this_author():
    thread = [tweet("5", "x", "100", in_reply_to_user="7"), tweet("4", "x", "7"),
              tweet("3", "x", "100", in_reply_to_user="8"), tweet("2", "x", "100",
                                                                in_reply_to_user="7")]
    assert chain_depth(thread, author_id="7", bot_id="100") == 2
    assert chain_depth(thread, author_id="8", bot_id="100") == 1


def check(rules, state, mention, thread=(), planned=0):
    return rules.check(mention, list(thread), BOT, NOW, state, planned)


def test_each_rule_names_its_reason(rules, state):
    ok = tweet("1", "@doppel hi!")
    assert check(rules, state, ok).skip is None
    assert check(rules, state, tweet("2", "@doppel me", author="100")).skip == "own_tweet"
    assert check(rules, state, tweet("3", "RT @doppel x", retweet=True)).skip == "retweet"
    assert check(rules, state, tweet("4", "@doppelganger hi")).skip == "not_mentioned"
    assert check(rules, state, tweet("5", "@doppel hi", age_s=601)).skip == "too_old"
    assert check(rules, state, tweet("6", "@doppel")).skip == "empty_mention"
    assert check(rules, state, tweet("7", "@doppel kys")).skip == "blocked_incoming"
    thread = [tweet("9", "x", "100", in_reply_to_user="7"), tweet("8", "x"),
              tweet("7", "x", "100", in_reply_to_user="7")]
    assert check(rules, state, tweet("10", "@doppel again"), thread).skip == "chain_depth"
    assert check(rules, state, tweet("11", "@doppel again"), thread[:1]).skip is None


def test_hourly_cap_counts_stored_and_planned_replies(rules, state):
    for i in range(2):
        assert state.claim(f"5{i}", "7", "run", now=NOW - 100)
        assert state.confirm(f"5{i}", f"6{i}", now=NOW - 100)
    assert check(rules, state, tweet("60", "@doppel hi")).skip is None
    assert check(rules, state, tweet("60", "@doppel hi"), planned=1).skip == "user_hourly_cap"
    assert check(rules, state, tweet("61", "@doppel hi", author="8"), planned=0).skip is None


def test_stop_and_start(rules, state):
    stop = check(rules, state, tweet("70", "@doppel STOP!"))
    assert (stop.skip, stop.opt_out) == ("opt_out_request", True)
    wide = check(rules, state, tweet("69", "@doppel ｓｔｏｐ"))  # full-width, as phones offer
    assert (wide.skip, wide.opt_out) == ("opt_out_request", True)
    state.set_opted_out("7", True, NOW)
    assert check(rules, state, tweet("71", "@doppel hello?")).skip == "opted_out"
    start = check(rules, state, tweet("72", "@doppel start"))
    assert (start.skip, start.opt_out) == (None, False)
    assert check(rules, state, tweet("73", "@doppel don't stop me now")).skip == "opted_out"


def test_outgoing_cleans_composes_and_checks_what_is_sent(tmp_path):
    path = tmp_path / "blocklist.txt"
    path.write_text("secret plan\n")
    blocklist = Blocklist.load(path)
    reply = Reply("hi <url> <brk> there", ["hi <url>", "  ", "there"], "Ana")
    assert outgoing(reply, blocklist) == (["hi", "there"], None)
    assert outgoing(reply, blocklist, lambda bubbles: [" / ".join(bubbles)]) == (["hi / there"], None)
    assert outgoing(Reply("<url>", ["<url>"], "Ana"), blocklist) == ([], EMPTY_REPLY)
    split = Reply("secret <brk> plan", ["secret", "plan"], "Ana")
    assert outgoing(split, blocklist) == (["secret", "plan"], None)  # each bubble passes
    assert outgoing(split, blocklist, lambda bubbles: [" ".join(bubbles)]) == \
        ([], BLOCKED_OUTGOING)  # the one message actually sent does not
