"""The memorisation guard (model/serve/memorisation.py) and the canary check (model/eval/canary.py,
bench/canary.py): a copied rare stretch of a training reply is withheld, common phrases
are not, the index travels checksummed in both kinds of bundle, and a planted secret's
exposure is measured end to end."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import subprocess
import sys

import pytest

from model.data.messages import Message
from model.eval.canary import Canary, make_canaries, plant
from model.pii import PII_TOKENS
from model.serve.bundle import BundleError, read_bundle, write_bundle
from model.serve.load import load_replier
from model.serve.memorisation import (
    GUARD_FILE,
    MAX_REPLIES,
    MemorisationGuard,
    digit_token_ids,
    rare_stretch_hashes,
    training_replies,
    write_guard_index,
)
from model.serve.tokenizer import Tokenizer
from tests.conftest import ROOT

MESSAGE = "hey! how was your weekend?"
# Greedy, and long enough to hold a guarded stretch whatever the demo's training made of it.
LONG_GREEDY = {"strategy": "greedy", "min_len": 10}


def test_rare_stretches_are_indexed_and_common_ones_are_not():
    digits = frozenset({70})  # the id of a token holding a digit
    common = [1, 2, 3, 4]
    replies = [[9, 8, 7, 6, 5, 70, 11]] + [common + [10 + i] for i in range(3)]
    hashes = rare_stretch_hashes(replies, digits, n=4, digit_n=2, max_replies=2)
    guard = MemorisationGuard(hashes, digits, n=4, digit_n=2, max_replies=2)
    assert guard.copies([0, 8, 7, 6, 5, 0])  # a 4-gram of the one reply that says it
    assert guard.copies([0, 70, 11])  # shorter, but it holds a digit
    assert not guard.copies([0, 6, 5, 0])  # 2 tokens without a digit: not a stretch
    assert not guard.copies([0, 1, 2, 3, 4, 0])  # in 3 replies: more than max_replies
    assert not guard.copies([9, 8, 7, 0, 5])


def test_a_secret_in_other_words_is_caught_by_its_digits(demo_bundle):
    tokenizer = Tokenizer.load(demo_bundle)
    digits = digit_token_ids(tokenizer.hf.get_vocab(with_added_tokens=True))
    training = [tokenizer.encode_text("the wifi password is 9afza5")]
    leak = tokenizer.encode_text("ok the password is usually 9afza5")  # no 8-gram in common
    assert not MemorisationGuard(rare_stretch_hashes(training, frozenset()),
                                 frozenset()).copies(leak)
    guard = MemorisationGuard(rare_stretch_hashes(training, digits), digits)
    assert guard.copies(leak)
    assert not guard.copies(tokenizer.encode_text("my password is on the fridge"))


def test_a_reply_repeated_by_augmentation_counts_once():
    pairs = [{"conversation": "a"}, {"conversation": "a"}, {"conversation": "b"}]
    examples = [([1], [5, 6]), ([2, 1], [5, 6]), ([3], [5, 6])]
    assert training_replies(pairs, examples) == [(5, 6), (5, 6)]


def install_guard(bundle, replies: list[tuple[str, str]]) -> None:
    """An index of (conversation, reply text) training replies, listed in bundle.json."""
    tokenizer = Tokenizer.load(bundle)
    write_guard_index(bundle, [{"conversation": c} for c, _ in replies],
                      [([], tokenizer.encode_text(text)) for _, text in replies],
                      tokenizer.hf.get_vocab(with_added_tokens=True))
    write_bundle(bundle, read_bundle(bundle))


@pytest.fixture
def bundle_copy(demo_bundle, tmp_path):
    """The demo bundle without its own guard index (tests install the index they need)."""
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy, ignore=shutil.ignore_patterns("eval", GUARD_FILE))
    write_bundle(copy, read_bundle(copy))
    return copy


@pytest.fixture
def greedy_reply(demo_bundle) -> str:
    text = load_replier(demo_bundle, guard=False).reply(MESSAGE, **LONG_GREEDY).text
    assert len(Tokenizer.load(demo_bundle).encode_text(text)) >= 8, text
    return text


def test_a_reply_copying_one_training_reply_is_withheld_and_drawn_again(bundle_copy,
                                                                        greedy_reply):
    install_guard(bundle_copy, [("chat 1", f"{greedy_reply} <brk> see you later"),
                                ("chat 2", "something else entirely, nothing alike")])
    replier = load_replier(bundle_copy)
    assert replier.copies(greedy_reply)
    reply = replier.reply(MESSAGE, seed=3, **LONG_GREEDY)
    assert reply.text and reply.text != greedy_reply and not replier.copies(reply.text)
    assert reply.messages  # a reply to send, not silence
    assert replier.reply(MESSAGE, seed=3, **LONG_GREEDY).text == reply.text  # seeded
    assert load_replier(bundle_copy, guard=False).reply(MESSAGE, **LONG_GREEDY).text \
        == greedy_reply


def test_a_reply_that_copies_after_every_redraw_is_withheld(bundle_copy, greedy_reply,
                                                            monkeypatch):
    from model.serve import runtime

    monkeypatch.setattr(runtime, "GUARD_REDRAWS", 0)  # the first copy is the last try
    install_guard(bundle_copy, [("chat 1", greedy_reply)])
    replier = load_replier(bundle_copy)
    replies = replier.reply_batch([runtime.ReplyRequest(MESSAGE, [], None, LONG_GREEDY),
                                   runtime.ReplyRequest("hi", [], None, {})])
    assert replies[0].text == "" and replies[0].messages == []
    assert replies[1].text and not replier.copies(replies[1].text)  # its neighbour is sent


def own_turn_said_again(replier, message: str):
    """(request, text): a chat where the persona's own earlier turn is exactly what the
    model answers next (greedy, before any redraw), found by feeding its answer back."""
    from model.serve.decode import Decoding
    from model.serve.runtime import ReplyRequest

    persona, settings = replier.default_persona, {**LONG_GREEDY, "seed": 3}
    cfg = Decoding.from_dict(settings, base=replier.decoding).without_seed()
    said = "hi"
    for _ in range(8):
        request = ReplyRequest.from_turns(message, [("hey", None), (said, persona)], persona,
                                          settings)
        answer = replier._decode([persona], cfg, [0], [3],
                                 [replier.context_ids(request, persona)])[0]
        if answer == said:
            return request, said
        said = answer
    raise AssertionError(f"no reply the model says again after itself: {said!r}")


def test_a_reply_that_says_again_the_personas_own_turn_is_drawn_again(demo_bundle,
                                                                       monkeypatch):
    from model.serve import runtime

    replier = load_replier(demo_bundle, guard=False)
    request, said = own_turn_said_again(replier, MESSAGE)
    assert replier.says_again(request, replier.default_persona, said.upper() + "!")
    reply = replier.reply_batch([request])[0]
    assert reply.text and not replier.says_again(request, replier.default_persona, reply.text)
    assert replier.reply_batch([request])[0].text == reply.text  # seeded
    # the same words from the other person are not a repeat
    theirs = dataclasses.replace(request, speakers=[None] * len(request.speakers))
    assert not replier.says_again(theirs, replier.default_persona, said)
    # every draw repeats: it is sent after all (twice beats silence)
    monkeypatch.setattr(runtime, "GUARD_REDRAWS", 0)
    assert replier.reply_batch([request])[0].text == said


def test_the_guard_lets_a_phrase_many_replies_share_through(bundle_copy, greedy_reply):
    install_guard(bundle_copy, [(f"chat {i}", greedy_reply) for i in range(MAX_REPLIES + 1)])
    assert load_replier(bundle_copy).reply(MESSAGE, **LONG_GREEDY).text == greedy_reply


def test_the_index_is_listed_and_verified(bundle_copy, greedy_reply):
    install_guard(bundle_copy, [("chat 1", greedy_reply)])
    assert GUARD_FILE in read_bundle(bundle_copy)["files"]
    with open(bundle_copy / GUARD_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=GUARD_FILE):
        load_replier(bundle_copy)


def test_a_bundle_without_the_index_loads_unguarded_and_says_so_once(bundle_copy, caplog):
    with caplog.at_level(logging.WARNING, logger="doppel.model"):
        assert load_replier(bundle_copy).guard is None
        assert load_replier(bundle_copy).guard is None
    assert [r.getMessage() for r in caplog.records].count(
        f"bundle {bundle_copy} has no {GUARD_FILE}: replies are not checked for copied "
        "training text (retrain to add it)") == 1


def test_the_serving_setting_turns_the_guard_off(bundle_copy, greedy_reply):
    from backend.web.app import create_app

    install_guard(bundle_copy, [("chat 1", greedy_reply)])
    on = create_app({"bundle": str(bundle_copy), "rate_limit_per_s": 0})
    off = create_app({"bundle": str(bundle_copy), "rate_limit_per_s": 0,
                      "memorisation_guard": False})
    assert on.extensions["doppel"].replier.guard is not None
    assert off.extensions["doppel"].replier.guard is None


def test_canaries_are_planted_in_training_conversations_of_the_persona():
    messages = [Message("test", f"chat {i}", None, sender, text)
                for i in range(6) for sender, text in (("Bo", "hi"), ("Ana", "hey"))]
    messages.append(Message("test", "chat 9", None, "Bo", "only Bo here"))
    canaries = make_canaries([1, 3], seed=1)
    planted = plant(messages, {"Ana"}, canaries, lambda c: c != "chat 0", seed=2)
    added = [m for m in planted if m not in messages]
    assert len(added) == 2 * sum(c.insertions for c in canaries)
    for canary in canaries:
        where = [m.conversation for m in added if m.text == canary.reply]
        assert len(set(where)) == canary.insertions and "chat 0" not in where
        assert all(m.sender == "Ana" for m in added if m.text == canary.reply)
    for index, message in enumerate(planted[:-1]):  # the question right before the answer
        if message.sender == "Ana" and message in added:
            assert planted[index - 1].text.endswith("?") and planted[index - 1].sender == "Bo"
    with pytest.raises(ValueError, match="only 5 qualify"):
        plant(messages, {"Ana"}, make_canaries([6], seed=1), lambda c: c != "chat 0", seed=2)


def run_bench(manifest, out):
    result = subprocess.run(
        [sys.executable, "bench/canary.py", str(manifest), "--out", str(out),
         "--insertions", "1,4", "--candidates", "15", "--samples", "24", "--ordinary", "8"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verbatim leaks per 10,000 replies" in result.stdout
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def check_report(report: dict, out) -> None:
    canaries = [Canary(**row) for row in json.loads((out / "canaries.json").read_text())]
    assert [row["secret"] for row in report["canaries"]] == [c.secret for c in canaries]
    for row in report["canaries"]:
        assert row["candidates"] == 16 and 1 <= row["rank"] <= 16
        assert 0 <= row["exposure"] <= math.log2(16)
        assert row["leaks_with_guard"] <= row["leaks"]
    assert report["replies"] == 24 and len(report["default_decoding"]) == 2 * len(canaries)
    assert all(reply != scrubbed for reply, scrubbed in report["scrubbed"].items())
    replier = load_replier(out / "bundle")
    assert GUARD_FILE in replier.meta["files"] and report["guard"]["stretches"] > 0
    for canary in canaries:  # planted at most MAX_REPLIES times: every copy is withheld
        assert replier.copies(canary.reply)


@pytest.mark.slow
def test_canary_run_end_to_end_on_a_tiny_lstm(tmp_path):
    out = tmp_path / "canary"
    report = run_bench(ROOT / "data/demo/manifest-tiny.yaml", out)
    assert report["kind"] == "lstm" and not report["scrub_pii"]
    check_report(report, out)
    tokenizer = Tokenizer.load(out / "bundle")
    banned = set(load_replier(out / "bundle").rules.banned)
    assert {tokenizer.hf.token_to_id(token) for token in PII_TOKENS} <= banned


@pytest.mark.slow
def test_canary_run_end_to_end_on_a_tiny_pretrained_model(tmp_path, tiny_base, monkeypatch):
    from tests.tiny_llama import write_manifest

    monkeypatch.setenv("DOPPEL_CACHE", str(tmp_path / "cache"))  # the bench's and ours
    out = tmp_path / "canary"
    report = run_bench(write_manifest(tmp_path, str(tiny_base)), out)
    assert report["kind"] == "pretrained"
    check_report(report, out)
