"""The real Telegram bot process (`python -m backend telegram`) against the local Bot API
stand-in over HTTP, answering with the real Replier on the demo bundle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from backend.bots.ledger.records import CLAIMED
from backend.bots.ledger.sqlite import SqliteState
from backend.local.telegram_sandbox import TelegramWorld, serve
from model.pii import strip_placeholders
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest

ROOT = Path(__file__).resolve().parent.parent
BRK = " <brk> "
CANDIDATES = ["are you coming?", "what are you doing", "how was your day?", "any news?"]


@pytest.fixture(scope="module")
def replier(demo_bundle):
    return load_replier(demo_bundle)


@pytest.fixture(scope="module")
def sandbox():
    running = serve(TelegramWorld())
    yield running
    running.stop()


def expected(replier, message, update_id, history=(), persona=None) -> list[str]:
    """The bubbles the bot must send: its reply request, built independently here."""
    speakers = [speaker for _, speaker in history] + [None]
    request = ReplyRequest(message, [text for text, _ in history], persona,
                           {"seed": update_id}, speakers if any(speakers) else None)
    reply = replier.reply_batch([request])[0]
    return [text for text in map(strip_placeholders, reply.messages) if text]


def multi_bubble_message(replier, sandbox) -> str | None:
    """A message the model answers with several bubbles, sent next, if one can be found.

    Replies are seeded by the update id, so the search also tries later ids, reached by
    first posting group chatter the bot is not addressed in (and ignores).
    """
    start = sandbox.world.next_update_id
    for skip in range(300):
        for message in CANDIDATES:
            if len(expected(replier, message, start + skip)) >= 2:
                for _ in range(skip):
                    say(sandbox, -1, "chatter", user={"id": 2, "first_name": "Bo"})
                return message
    return None


class BotProcess:
    def __init__(self, sandbox, state_path: Path, bundle: Path, **env):
        self.env = {**os.environ, "TELEGRAM_BOT_TOKEN": "42:test", "TELEGRAM_API_BASE":
                    sandbox.url, "TELEGRAM_STATE": f"sqlite:///{state_path}",
                    "DOPPEL_BUNDLE": str(bundle), "TELEGRAM_TYPING_S": "0.1",
                    "TELEGRAM_BURST_S": "1.0", "TELEGRAM_POLL_TIMEOUT_S": "2",
                    "TELEGRAM_BACKOFF_S": "0.1", **env}
        self.log: list[str] = []

    def start(self, *args: str) -> BotProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend", "telegram", *args], cwd=ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.log.append(line)
                if "telegram_bot_polling" in line:
                    ready.set()
            ready.set()  # it exited

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60) or self.process.poll() is not None:
            self.stop()
            raise AssertionError("bot did not start:\n" + "".join(self.log))
        return self

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def bot(sandbox, demo_bundle, tmp_path_factory):
    state = tmp_path_factory.mktemp("telegram") / "state.sqlite"
    process = BotProcess(sandbox, state, demo_bundle).start()
    process.state_path = state
    yield process
    process.stop()


def say(sandbox, chat_id: int, text: str, **fields) -> dict:
    response = requests.post(f"{sandbox.url}/control/messages",
                             json={"chat_id": chat_id, "text": text, **fields}, timeout=5)
    response.raise_for_status()
    return response.json()


def fault(sandbox, **spec) -> None:
    requests.post(f"{sandbox.url}/control/faults", json=spec, timeout=5).raise_for_status()


def sent(sandbox, chat_id: int) -> list[dict]:
    response = requests.get(f"{sandbox.url}/control/sent", params={"chat_id": chat_id}, timeout=5)
    return response.json()["events"]


def texts(sandbox, chat_id: int) -> list[str]:
    return [e["text"] for e in sent(sandbox, chat_id) if e["method"] == "sendMessage"]


def calls(sandbox, chat_id: int) -> list[dict]:
    return [c for c in requests.get(f"{sandbox.url}/control/calls", timeout=5).json()["calls"]
            if c["chat_id"] == chat_id]


def wait_for(condition, what: str, timeout: float = 60.0, log=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n" + "".join(log))


def wait_texts(sandbox, chat_id: int, count: int, bot) -> list[str]:
    wait_for(lambda: len(texts(sandbox, chat_id)) >= count,
             f"{count} message(s) in chat {chat_id}", log=bot.log)
    return texts(sandbox, chat_id)


def test_a_send_that_timed_out_after_going_out_is_recorded_unconfirmed_not_resent(
        sandbox, replier, demo_bundle, tmp_path):
    """Telegram cannot say whether a timed-out send arrived: the bot never sends it again."""
    state = tmp_path / "state.sqlite"
    process = BotProcess(sandbox, state, demo_bundle, TELEGRAM_REQUEST_TIMEOUT_S="1").start()
    try:
        fault(sandbox, method="sendMessage", chat_id=1200, kind="hang", seconds=3, times=1)
        update = say(sandbox, 1200, "hello")
        want = expected(replier, "hello", update["update_id"])
        # the held first bubble arrives after the second one
        assert sorted(wait_texts(sandbox, 1200, len(want), process)) == sorted(want)
        wait_for(lambda: any('"event": "bubble_unconfirmed"' in line for line in process.log),
                 "the unconfirmed bubble", log=process.log)
    finally:
        process.stop()
        fault_clear = requests.delete(f"{sandbox.url}/control/faults", timeout=5)
        fault_clear.raise_for_status()
    assert sorted(texts(sandbox, 1200)) == sorted(want)  # once, though the bot saw a timeout
    assert len([c for c in calls(sandbox, 1200)
                if c["method"] == "sendMessage" and c["status"] != "held"]) == len(want)
    first = [record for record in SqliteState(state).all_mentions()
             if record.mention_id.endswith(f":{update['update_id']}#0")]
    assert [record.status for record in first] == [CLAIMED]


def test_private_chat_gets_the_personas_reply_after_a_typing_action(sandbox, bot, replier):
    update = say(sandbox, 101, "hello")
    want = expected(replier, "hello", update["update_id"])
    assert wait_texts(sandbox, 101, len(want), bot) == want
    first = sent(sandbox, 101)[0]
    assert (first["method"], first["action"]) == ("sendChatAction", "typing")
    # The next message carries the chat's context: the first turn and the bot's reply.
    second = say(sandbox, 101, "and you?")
    history = [("hello", None), (BRK.join(want), replier.default_persona)]
    want_second = expected(replier, "and you?", second["update_id"], history)
    assert wait_texts(sandbox, 101, len(want) + len(want_second), bot)[len(want):] == want_second


def test_group_answers_mentions_and_replies_to_the_bot_only(sandbox, bot, replier):
    group, user = -200, {"id": 7, "first_name": "Eve"}
    say(sandbox, group, "nobody asked the bot", user=user)
    mention = say(sandbox, group, "what do you think?", mention=True, user=user)
    want = expected(replier, "what do you think?", mention["update_id"])
    assert wait_texts(sandbox, group, len(want), bot) == want
    first = [e for e in sent(sandbox, group) if e["method"] == "sendMessage"][0]
    assert first["reply_to"] == mention["message_id"]  # threaded under the mention
    # Replying to the bot's message addresses it without a mention.
    reply = say(sandbox, group, "really?", user=user, reply_to=first["message_id"])
    history = [("what do you think?", None), (BRK.join(want), replier.default_persona)]
    want_reply = expected(replier, "really?", reply["update_id"], history)
    assert wait_texts(sandbox, group, len(want) + len(want_reply), bot)[len(want):] == want_reply
    state = SqliteState(bot.state_path)
    recorded = {m.mention_id.split(":")[1] for m in state.all_mentions() if "#" not in m.mention_id}
    assert str(mention["update_id"] - 1) not in recorded  # the unaddressed message: untouched


def test_a_quick_burst_is_answered_as_one_turn(sandbox, bot, replier):
    updates = [say(sandbox, 300, text) for text in ("wait", "i have news", "big news")]
    want = expected(replier, "wait <brk> i have news <brk> big news", updates[0]["update_id"])
    assert wait_texts(sandbox, 300, len(want), bot) == want
    time.sleep(1.5)  # a second reply would come after one more burst window
    assert texts(sandbox, 300) == want
    state = SqliteState(bot.state_path)
    records = [state.mention(f"tg7000000001:{u['update_id']}") for u in updates]
    assert [r.status for r in records] == ["done"] * 3
    assert [r.reason for r in records[1:]] == [f"burst:{updates[0]['update_id']}"] * 2


def test_multi_bubble_reply_has_a_typing_action_between_messages(sandbox, bot, replier):
    message = multi_bubble_message(replier, sandbox)
    if message is None:
        pytest.skip("the demo model answers none of the candidate messages with several bubbles")
    update = say(sandbox, 400, message)
    want = expected(replier, message, update["update_id"])
    assert wait_texts(sandbox, 400, len(want), bot) == want
    kinds = [e["method"] for e in sent(sandbox, 400)]
    assert kinds == ["sendChatAction"] + ["sendMessage", "sendChatAction"] * (len(want) - 1) \
        + ["sendMessage"]


def test_stop_opts_the_chat_out_and_start_back_in(sandbox, bot, replier):
    say(sandbox, 500, "/stop")
    assert wait_texts(sandbox, 500, 1, bot) == [
        "Okay, I'll stay quiet here. Send /start to talk again."]
    ignored = say(sandbox, 500, "are you there?")
    say(sandbox, 500, "/start")
    wait_texts(sandbox, 500, 2, bot)
    back = say(sandbox, 500, "hello again")
    want = expected(replier, "hello again", back["update_id"])
    got = wait_texts(sandbox, 500, 2 + len(want), bot)
    assert got[1].startswith("Hi! I'm ") and got[2:] == want
    record = SqliteState(bot.state_path).mention(f"tg7000000001:{ignored['update_id']}")
    assert (record.status, record.reason) == ("skipped", "opted_out")


def test_a_stop_right_after_a_message_leaves_that_message_unanswered(sandbox, bot):
    """Said 0.3 s later, within the burst window: the /stop ends the burst, and the
    message before it, not answered yet, never gets an answer."""
    hello = say(sandbox, 510, "hello, are you there?")
    time.sleep(0.3)
    say(sandbox, 510, "/stop")
    assert wait_texts(sandbox, 510, 1, bot) == [
        "Okay, I'll stay quiet here. Send /start to talk again."]
    state = SqliteState(bot.state_path)
    wait_for(lambda: state.mention(f"tg7000000001:{hello['update_id']}").status != CLAIMED,
             "the message's record", log=bot.log)
    record = state.mention(f"tg7000000001:{hello['update_id']}")
    assert (record.status, record.reason) == ("skipped", "opted_out")
    time.sleep(1.5)
    assert len(texts(sandbox, 510)) == 1


def test_a_stop_handled_while_the_reply_is_made_cancels_it(sandbox, bot):
    """Another process (a webhook worker) handles the chat's /stop while this one types
    and generates: the opt-out is read again before the reply is sent."""
    fault(sandbox, method="sendChatAction", chat_id=520, kind="hang", seconds=30)
    update = say(sandbox, 520, "hello")
    try:
        wait_for(lambda: any(c["status"] == "held" for c in calls(sandbox, 520)),
                 "the held typing action", log=bot.log)
        SqliteState(bot.state_path).set_opted_out("tg:520", True, time.time())
    finally:
        requests.delete(f"{sandbox.url}/control/faults", timeout=5).raise_for_status()
    state = SqliteState(bot.state_path)
    key = f"tg7000000001:{update['update_id']}"
    wait_for(lambda: state.mention(key).status != CLAIMED, "the message's record", log=bot.log)
    assert (state.mention(key).status, state.mention(key).reason) == ("skipped", "opted_out")
    assert texts(sandbox, 520) == []

def test_the_blocklist_is_not_fooled_by_full_width_letters(sandbox, bot):
    update = say(sandbox, 530, "you are a \uff23\uff35\uff2e\uff34")
    state = SqliteState(bot.state_path)
    key = f"tg7000000001:{update['update_id']}"
    wait_for(lambda: getattr(state.mention(key), "status", CLAIMED) != CLAIMED,
             "the message's record", log=bot.log)
    assert (state.mention(key).status, state.mention(key).reason) == \
        ("skipped", "blocked_incoming")
    assert texts(sandbox, 530) == []

def test_persona_command_lists_and_switches_and_forget_clears_context(sandbox, bot, replier):
    if len(replier.personas) < 2:
        pytest.skip("the demo bundle has one persona")
    other = replier.personas[1]
    say(sandbox, 600, "/persona")
    listing = wait_texts(sandbox, 600, 1, bot)[0]
    assert all(name in listing for name in replier.personas)
    say(sandbox, 600, f"/persona {other}")
    assert wait_texts(sandbox, 600, 2, bot)[1] == f"Now talking as {other}."
    first = say(sandbox, 600, "hi")
    want = expected(replier, "hi", first["update_id"], persona=other)
    wait_texts(sandbox, 600, 2 + len(want), bot)
    say(sandbox, 600, "/forget")
    assert wait_texts(sandbox, 600, 3 + len(want), bot)[-1] == "Done, I forgot our conversation."
    fresh = say(sandbox, 600, "hi")
    want_fresh = expected(replier, "hi", fresh["update_id"], persona=other)  # no history
    assert wait_texts(sandbox, 600, 3 + len(want) + len(want_fresh), bot)[-len(want_fresh):] \
        == want_fresh


def test_flood_limit_is_waited_out_then_the_reply_goes_once(sandbox, bot, replier):
    fault(sandbox, method="sendMessage", chat_id=700, kind="429", retry_after=2)
    update = say(sandbox, 700, "hello")
    want = expected(replier, "hello", update["update_id"])
    assert wait_texts(sandbox, 700, len(want), bot) == want
    statuses = [c["status"] for c in calls(sandbox, 700) if c["method"] == "sendMessage"]
    assert statuses == [429] + [200] * len(want)
    assert requests.get(f"{sandbox.url}/control/calls", timeout=5).json()["flood_violations"] == 0


def test_a_blocked_bot_is_recorded_and_not_retried(sandbox, bot, replier):
    fault(sandbox, method="sendMessage", chat_id=800, kind="403")
    update = say(sandbox, 800, "hello")
    wait_for(lambda: any(c["status"] == 403 for c in calls(sandbox, 800)), "the 403", log=bot.log)
    after = say(sandbox, 801, "hello")  # the bot goes on with other chats
    wait_texts(sandbox, 801, len(expected(replier, "hello", after["update_id"])), bot)
    assert [c["status"] for c in calls(sandbox, 800) if c["method"] == "sendMessage"] == [403]
    record = SqliteState(bot.state_path).mention(f"tg7000000001:{update['update_id']}")
    assert (record.status, record.reason) == ("skipped", "blocked")


@pytest.fixture
def own_sandbox():
    """A Telegram of its own, for tests that run their own bot processes."""
    running = serve(TelegramWorld())
    yield running
    running.stop()


def test_sigkill_mid_reply_then_restart_neither_duplicates_nor_loses(own_sandbox, demo_bundle,
                                                                    replier, tmp_path):
    sandbox = own_sandbox
    message = multi_bubble_message(replier, sandbox)
    # Hold the typing action between bubble 1 and 2 (or, for a one-bubble reply, the one
    # before it) and kill the bot while it waits.
    sent_before_kill = 1 if message else 0
    fault(sandbox, method="sendChatAction", chat_id=900, kind="hang", after=sent_before_kill,
          seconds=60)
    message = message or "hello"
    process = BotProcess(sandbox, tmp_path / "state.sqlite", demo_bundle,
                         TELEGRAM_CLAIM_TIMEOUT_S="1").start()
    update = say(sandbox, 900, message)
    want = expected(replier, message, update["update_id"])
    wait_for(lambda: any(c["status"] == "held" for c in calls(sandbox, 900)),
             "the held typing action", log=process.log)
    process.process.kill()
    process.process.wait()
    assert texts(sandbox, 900) == want[:sent_before_kill]
    requests.delete(f"{sandbox.url}/control/faults", timeout=5).raise_for_status()
    meanwhile = say(sandbox, 901, "hello")  # arrives while the bot is down
    restarted = BotProcess(sandbox, tmp_path / "state.sqlite", demo_bundle,
                           TELEGRAM_CLAIM_TIMEOUT_S="1").start()
    try:
        assert wait_texts(sandbox, 900, len(want), restarted) == want
        want_meanwhile = expected(replier, "hello", meanwhile["update_id"])
        assert wait_texts(sandbox, 901, len(want_meanwhile), restarted) == want_meanwhile
        time.sleep(1.5)
        assert texts(sandbox, 900) == want
        assert any('"event": "claim_taken_over"' in line for line in restarted.log)
    finally:
        restarted.stop()


def test_sigterm_mid_reply_finishes_the_reply_then_exits(own_sandbox, demo_bundle, replier,
                                                         tmp_path):
    sandbox = own_sandbox
    message = multi_bubble_message(replier, sandbox) or "hello"
    process = BotProcess(sandbox, tmp_path / "state.sqlite", demo_bundle,
                         TELEGRAM_TYPING_S="1.5").start()
    update = say(sandbox, 950, message)
    want = expected(replier, message, update["update_id"])
    wait_texts(sandbox, 950, 1, process)
    process.process.send_signal(signal.SIGTERM)
    assert process.process.wait(60) == 0
    assert texts(sandbox, 950) == want


def test_dry_run_once_prints_replies_and_confirms_nothing(own_sandbox, demo_bundle, replier,
                                                          tmp_path):
    sandbox = own_sandbox
    update = say(sandbox, 1000, "hello")
    process = BotProcess(sandbox, tmp_path / "state.sqlite", demo_bundle)
    result = subprocess.run([sys.executable, "-m", "backend", "telegram", "--once", "--dry-run"],
                            cwd=ROOT, env=process.env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines() if "would_send" in line]
    want = expected(replier, "hello", update["update_id"])
    assert [p["would_send"] for p in printed if p["chat_id"] == 1000] == want
    assert texts(sandbox, 1000) == []
    assert update["update_id"] in [u["update_id"] for u in sandbox.world.updates]


def test_a_backlog_is_answered_in_order_with_the_senders_timing(own_sandbox, demo_bundle,
                                                                replier, tmp_path):
    """Updates read at once are handled in order; a command ends a burst (/forget forgets
    the message before it, which is answered first); bursts follow the messages' own
    dates, not when the bot read them."""
    sandbox, sent_at = own_sandbox, int(time.time()) - 60
    name = say(sandbox, 1010, "my name is bob", date=sent_at)
    say(sandbox, 1010, "/forget", date=sent_at + 2)
    question = say(sandbox, 1010, "what is my name?", date=sent_at + 5)
    burst = [say(sandbox, 1020, text, date=sent_at + offset)
             for text, offset in (("wait", 0), ("i have news", 1))]
    later = say(sandbox, 1020, "big news", date=sent_at + 4)
    process = BotProcess(sandbox, tmp_path / "state.sqlite", demo_bundle)
    result = subprocess.run([sys.executable, "-m", "backend", "telegram", "--once"],
                            cwd=ROOT, env=process.env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    want_name = expected(replier, "my name is bob", name["update_id"])
    assert texts(sandbox, 1010) == want_name + ["Done, I forgot our conversation."] + \
        expected(replier, "what is my name?", question["update_id"])  # no history
    want_burst = expected(replier, "wait <brk> i have news", burst[0]["update_id"])
    history = [("wait <brk> i have news", None), (BRK.join(want_burst), replier.default_persona)]
    assert texts(sandbox, 1020) == want_burst + expected(replier, "big news", later["update_id"],
                                                          history)

def test_a_stop_read_with_a_stale_claims_update_covers_it(own_sandbox, demo_bundle, tmp_path):
    """A crash left the message claimed; Telegram delivers it again with the /stop (and a
    /start) sent while the bot was down: the taken-over message is never answered."""
    sandbox, state_path = own_sandbox, tmp_path / "state.sqlite"
    hello = say(sandbox, 1300, "hello, are you there?")
    say(sandbox, 1300, "/stop")
    say(sandbox, 1300, "/start")
    key = f"tg7000000001:{hello['update_id']}"
    assert SqliteState(state_path).claim(key, "tg:1300", "crashed", time.time() - 120)
    env = BotProcess(sandbox, state_path, demo_bundle, TELEGRAM_CLAIM_TIMEOUT_S="1").env
    result = subprocess.run([sys.executable, "-m", "backend", "telegram", "--once"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"event": "claim_taken_over"' in result.stdout + result.stderr
    stop_answer, start_answer = texts(sandbox, 1300)
    assert stop_answer.startswith("Okay, I'll stay quiet") and start_answer.startswith("Hi!")
    record = SqliteState(state_path).mention(key)
    assert (record.status, record.reason) == ("skipped", "opted_out")


def test_server_errors_are_retried_and_the_reply_goes_once(sandbox, bot, replier):
    fault(sandbox, method="sendMessage", chat_id=1100, kind="500", times=2)
    update = say(sandbox, 1100, "hello")
    want = expected(replier, "hello", update["update_id"])
    assert wait_texts(sandbox, 1100, len(want), bot) == want
    statuses = [c["status"] for c in calls(sandbox, 1100) if c["method"] == "sendMessage"]
    assert statuses == [500, 500] + [200] * len(want)


def test_a_refused_token_is_a_one_line_error_and_exit_2(tmp_path, demo_bundle):
    running = serve(TelegramWorld(token="42:right"))
    try:
        env = BotProcess(running, tmp_path / "state.sqlite", demo_bundle).env
        result = subprocess.run([sys.executable, "-m", "backend", "telegram", "--once"],
                                cwd=ROOT, env={**env, "TELEGRAM_BOT_TOKEN": "42:wrong"},
                                capture_output=True, text=True, timeout=120)
    finally:
        running.stop()
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: Telegram refused TELEGRAM_BOT_TOKEN")
    assert "Traceback" not in result.stderr
