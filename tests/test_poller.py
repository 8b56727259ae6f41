"""The mention poller against the X sandbox over real HTTP, with the real demo model."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests

from backend.bots.ledger.dynamo import DynamoState, create_table
from backend.bots.ledger.stores import open_state
from backend.bots.x import poller as poller_module
from backend.bots.x.client import make_client
from backend.bots.x.poller import Poller, handle_scheduled
from backend.bots.x.tweet_text import fit_tweet, weighted_length
from backend.config import load_config
from backend.local.x_sandbox import serve
from backend.local.x_world import RATE_LIMITS, World
from model.errors import InputError
from model.logs import record_fields
from model.pii import strip_placeholders
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest

ROOT = Path(__file__).resolve().parent.parent
DEMO_BUNDLE = ROOT / "data" / "models" / "demo"


@pytest.fixture(scope="module")
def replier():
    return load_replier(DEMO_BUNDLE)


@pytest.fixture
def sandbox():
    """A sandbox that takes the same words twice. The demo's replies are often the same
    few ("hey", "yeah"), and X's duplicate-content refusal would make a test of anything
    else depend on which words two mentions happened to get (the sandbox's ids, the
    seeds, follow the clock). It also lets a double reply show. The duplicate tests use
    `strict_sandbox`."""
    running = serve(World(accept_duplicates=True))
    yield running
    running.stop()


@pytest.fixture
def strict_sandbox():
    """X's own rule: the same words twice in a short while are refused (403)."""
    running = serve(World())
    yield running
    running.stop()


class Bot:
    """A poller wired to the sandbox, a SQLite state file and a clock we can move."""

    def __init__(self, sandbox, tmp_path, replier, state=None, **settings):
        self.sandbox, self.offset, self.sleeps = sandbox, 0.0, []
        self.config = load_config({
            "x_api_base": sandbox.url, "bot_state": f"sqlite:///{tmp_path}/state.sqlite",
            "x_backoff_s": 0.01, "x_request_timeout_s": 2.0, "x_claim_timeout_s": 60.0,
            **settings,
        })
        self.state = state or open_state(self.config["bot_state"])
        client = make_client(self.config, sleep=self.sleeps.append, seed=0)
        self.poller = Poller(client, self.state, replier, self.config, clock=self.clock)

    def clock(self) -> float:
        return time.time() + self.offset

    def poll(self) -> dict:
        return self.poller.poll_once()

    def post(self, author: str, text: str, reply_to: str | None = None, **extra) -> dict:
        payload = {"author": author, "text": text, "in_reply_to_tweet_id": reply_to, **extra}
        response = requests.post(f"{self.sandbox.url}/sandbox/tweets",
                                 json={k: v for k, v in payload.items() if v is not None})
        assert response.status_code == 201, response.text
        return response.json()

    def tweets(self, **filters) -> list[dict]:
        return requests.get(f"{self.sandbox.url}/sandbox/tweets", params=filters).json()["tweets"]

    def replies_to(self, tweet_id: str) -> list[dict]:
        return [t for t in self.tweets(in_reply_to=tweet_id) if t["author"] == "doppel"]

    def fault(self, **spec) -> None:
        assert requests.post(f"{self.sandbox.url}/sandbox/faults", json=spec).status_code == 201

    def start(self) -> None:
        """First start (answers no backlog), so later mentions are new."""
        self.poll()
        assert self.state.initialized()


@pytest.fixture
def bot(sandbox, tmp_path, replier):
    made = Bot(sandbox, tmp_path, replier)
    made.start()
    return made


def expected_reply(replier, mention_id: str, message: str, context=(), speakers=None) -> str:
    """What the poller must post: the model's reply, seeded by the mention id, fitted."""
    speakers = speakers or [None] * (len(context) + 1)
    reply = replier.reply_batch([ReplyRequest(message, list(context), None, speakers=speakers,
                                              decoding={"seed": int(mention_id) % 2**31})])[0]
    return fit_tweet([strip_placeholders(m) for m in reply.messages])


def test_first_start_answers_no_backlog(sandbox, tmp_path, replier):
    bot = Bot(sandbox, tmp_path, replier)
    old = [bot.post("alice", f"@doppel old {i}") for i in range(3)]
    assert bot.poll()["replied"] == 0
    assert bot.state.since_id() == old[-1]["id"]
    new = bot.post("alice", "@doppel are you there?")
    totals = bot.poll()
    assert (totals["mentions_seen"], totals["replied"]) == (1, 1)
    assert [len(bot.replies_to(t["id"])) for t in [*old, new]] == [0, 0, 0, 1]
    assert bot.state.mention(new["id"]).status == "done"


def test_replies_land_in_the_thread_with_the_thread_as_context(bot, replier):
    root = bot.post("alice", "@doppel are you coming tonight?")
    assert bot.poll()["replied"] == 1
    (first,) = bot.replies_to(root["id"])
    assert first["text"] == "@alice " + expected_reply(replier, root["id"],
                                                      "are you coming tonight?")
    follow = bot.post("alice", "it starts at 8, don't be late", reply_to=first["id"])
    assert follow["text"].startswith("@doppel ")  # X prefixes the replied-to handle
    assert bot.poll()["replied"] == 1
    (second,) = bot.replies_to(follow["id"])
    assert second["conversation_id"] == root["id"]
    assert second["in_reply_to_user_id"] == root["author_id"]
    context = ["are you coming tonight?", first["text"].removeprefix("@alice ")]
    persona = replier.default_persona
    assert second["text"] == "@alice " + expected_reply(
        replier, follow["id"], "it starts at 8, don't be late", context, [None, persona, None])
    assert weighted_length(second["text"].removeprefix("@alice ")) <= 280


def skip_reasons(bot) -> dict:
    return {r.mention_id: r.reason for r in bot.state.all_mentions() if r.status == "skipped"}


def test_own_tweets_old_mentions_and_opt_out(bot):
    own = bot.post("doppel", "@doppel talking to myself")
    old = bot.post("alice", "@doppel from an hour ago", created_at=time.time() - 3600)
    stop = bot.post("bob", "@doppel stop")
    ignored = bot.post("bob", "@doppel hello?")
    totals = bot.poll()
    assert totals["replied"] == 0
    assert skip_reasons(bot) == {own["id"]: "own_tweet", old["id"]: "too_old",
                                 stop["id"]: "opt_out_request", ignored["id"]: "opted_out"}
    start = bot.post("bob", "@doppel start")
    after = bot.post("bob", "@doppel what's up?")
    assert bot.poll()["replied"] == 2
    assert len(bot.replies_to(start["id"])) == 1 and len(bot.replies_to(after["id"])) == 1


def test_a_stop_covers_what_the_author_wrote_before_it(bot):
    """Once a user said stop nothing more goes to them, not even an answer to a mention
    they wrote before the stop, in the same chunk or an earlier one, "start" after or not."""
    hello = bot.post("bob", "@doppel hello, what do you do for work?")
    stop = bot.post("bob", "@doppel stop")
    assert bot.poll()["replied"] == 0
    assert skip_reasons(bot) == {hello["id"]: "opted_out", stop["id"]: "opt_out_request"}
    start = bot.post("bob", "@doppel start")
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(start["id"])) == 1
    question = bot.post("bob", "@doppel still there?")
    others = [bot.post(f"user{i}", "@doppel hi") for i in range(poller_module.CHUNK)]
    stop_again = bot.post("bob", "@doppel stop")  # in the chunk after the question's
    start_again = bot.post("bob", "@doppel start")
    totals = bot.poll()
    assert totals["skipped"] == {"opted_out": 1, "opt_out_request": 1}
    assert skip_reasons(bot)[question["id"]] == "opted_out"
    assert skip_reasons(bot)[stop_again["id"]] == "opt_out_request"
    assert bot.replies_to(question["id"]) == []
    assert [len(bot.replies_to(t["id"])) for t in (*others, start_again)] == \
        [1] * (1 + len(others))

def test_per_user_hourly_cap(sandbox, tmp_path, replier):
    bot = Bot(sandbox, tmp_path, replier, x_user_replies_per_hour=2)
    bot.start()
    mentions = [bot.post("carol", f"@doppel message number {i}") for i in range(3)]
    other = bot.post("dave", "@doppel hi")
    totals = bot.poll()
    assert totals["replied"] == 3 and totals["skipped"] == {"user_hourly_cap": 1}
    assert [len(bot.replies_to(m["id"])) for m in [*mentions, other]] == [1, 1, 0, 1]
    bot.offset = 3601  # an hour later the window is open again
    later = bot.post("carol", "@doppel back again", created_at=bot.clock())
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(later["id"])) == 1


def test_reply_chain_depth_is_capped(sandbox, tmp_path, replier):
    bot = Bot(sandbox, tmp_path, replier, x_max_chain_depth=2)
    bot.start()
    tweet = bot.post("erin", "@doppel let's talk")
    for _ in range(2):
        assert bot.poll()["replied"] == 1
        (answer,) = bot.replies_to(tweet["id"])
        tweet = bot.post("erin", "and then?", reply_to=answer["id"])
    assert bot.poll()["skipped"] == {"chain_depth": 1}
    assert bot.replies_to(tweet["id"]) == []


def test_blocklist_filters_incoming_and_outgoing(sandbox, tmp_path, replier):
    blocklist = tmp_path / "block.txt"
    blocklist.write_text("re:[a-z]\n", encoding="utf-8")  # every reply has letters; "12 34" not
    bot = Bot(sandbox, tmp_path, replier, x_blocklist=str(blocklist))
    bot.start()
    incoming = bot.post("frank", "@doppel hello")
    outgoing = bot.post("frank", "@doppel 12 34")
    assert bot.poll()["skipped"] == {"blocked_incoming": 1, "blocked_outgoing": 1}
    assert skip_reasons(bot) == {incoming["id"]: "blocked_incoming",
                                 outgoing["id"]: "blocked_outgoing"}
    assert bot.tweets(author="doppel") == []


def test_the_blocklist_is_not_fooled_by_full_width_letters(bot):
    mentions = [bot.post("frank", text) for text in (
        "@doppel you are a \uff23\uff35\uff2e\uff34", "@doppel k\u200bys")]
    assert bot.poll()["skipped"] == {"blocked_incoming": 2}
    assert [bot.replies_to(m["id"]) for m in mentions] == [[], []]

def test_429_stores_reset_time_and_skips_polls_until_then(bot):
    mention = bot.post("gina", "@doppel hi")
    bot.fault(endpoint="mentions", status=429, reset_in=300)
    totals = bot.poll()
    assert totals["errors"] == {"rate_limited": 1}
    assert 290 < bot.state.reset_time() - time.time() <= 301
    calls_before = bot.sandbox.world.windows["mentions"][0]
    assert bot.poll()["skipped"] == {"rate_limit_wait": 1}
    assert bot.sandbox.world.windows["mentions"][0] == calls_before  # no request was made
    bot.offset = 301
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(mention["id"])) == 1


def test_429_without_reset_header_waits_the_default_backoff(bot):
    bot.fault(endpoint="mentions", status=429, omit_reset_header=True)
    bot.poll()
    expected = time.time() + bot.config["x_rate_limit_backoff_s"]
    assert abs(bot.state.reset_time() - expected) < 5


def test_server_errors_are_retried_with_bounded_jittered_backoff(bot):
    mention = bot.post("hank", "@doppel hi")
    bot.fault(endpoint="mentions", status=503, count=2)
    assert bot.poll()["replied"] == 1
    first, second = bot.sleeps
    assert 0.005 <= first <= 0.01 and 0.01 <= second <= 0.02  # base * 2**attempt * [0.5, 1]
    bot.sleeps.clear()
    other = bot.post("hank", "@doppel again")
    bot.fault(endpoint="mentions", status=500, count=3)  # as many as the attempts: give up
    assert bot.poll()["errors"] == {"transient": 1}
    assert len(bot.sleeps) == 2 and bot.replies_to(other["id"]) == []
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(mention["id"])) == 1


def test_timeouts_count_as_transient(sandbox, tmp_path, replier):
    bot = Bot(sandbox, tmp_path, replier, x_request_timeout_s=1.0, x_retry_attempts=1)
    bot.start()
    bot.post("ivan", "@doppel hi")
    bot.fault(endpoint="mentions", delay_s=3.0)
    assert bot.poll()["errors"] == {"transient": 1}
    assert bot.poll()["replied"] == 1


def test_auth_failure_is_one_log_line_per_poll(bot, caplog):
    bot.post("jane", "@doppel hi")
    bot.fault(endpoint="mentions", status=401, count=-1)
    with caplog.at_level(logging.INFO, logger="doppel.poller"):
        assert bot.poll()["errors"] == {"auth": 1}
        assert bot.poll()["errors"] == {"auth": 1}
    events = [record_fields(r)["event"] for r in caplog.records]
    assert events == ["x_auth_failed", "x_auth_failed"]
    assert bot.sleeps == []  # no retry loop


def test_since_id_never_passes_an_unanswered_mention(bot):
    root = bot.post("sam", "@doppel start of a thread")
    middle = bot.post("tess", "butting in", reply_to=root["id"])
    unanswered = bot.post("sam", "@doppel what do you think?", reply_to=middle["id"])
    newer = bot.post("uma", "@doppel hi")
    bot.state.skip(root["id"], root["author_id"], "test", time.time())
    bot.state.skip(newer["id"], newer["author_id"], "test", time.time())
    bot.fault(endpoint="lookup", status=500, count=3)  # the thread lookup fails for good
    assert bot.poll()["errors"] == {"transient": 1}
    since = bot.state.since_id()  # None: nothing seen since the first start
    assert since is None or int(since) < int(unanswered["id"])
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(unanswered["id"])) == 1
    assert bot.state.since_id() == newer["id"]


def test_malformed_responses_are_logged_and_skipped(bot):
    bot.fault(endpoint="mentions", body="<html>upstream error</html>")
    assert bot.poll()["errors"] == {"malformed_response": 1}
    bot.fault(endpoint="mentions", body={"data": "not a list"})
    assert bot.poll()["errors"] == {"malformed_response": 1}
    bot.fault(endpoint="mentions", body={"data": [{"id": "x1"}], "meta": {}})
    assert bot.poll()["errors"] == {"malformed_response": 1}
    mention = bot.post("kim", "@doppel still alive?")
    assert bot.poll()["replied"] == 1 and len(bot.replies_to(mention["id"])) == 1


def test_a_failed_post_is_retried_once_the_claim_is_stale(bot):
    mention = bot.post("lena", "@doppel hi")
    bot.fault(endpoint="create_tweet", status=403)  # e.g. a suspended app, then fixed
    assert bot.poll()["errors"] == {"auth": 1}
    assert bot.state.mention(mention["id"]).status == "claimed"
    assert bot.poll()["replied"] == 0  # the claim is young: nobody touches it
    bot.offset = 61
    assert bot.poll()["replied"] == 1
    assert len(bot.replies_to(mention["id"])) == 1


def test_a_stop_read_in_the_poll_that_recovers_a_claim_covers_it(bot):
    """The author's stop (and a start after it) arrives while their mention's claim is
    stuck: the poll that finds the claim stale reads the stop first, and never answers."""
    hello = bot.post("bob", "@doppel hello, what do you do for work?")
    bot.fault(endpoint="create_tweet", status=403)
    assert bot.poll()["errors"] == {"auth": 1}
    assert bot.state.mention(hello["id"]).status == "claimed"
    stop = bot.post("bob", "@doppel stop")
    start = bot.post("bob", "@doppel start")
    bot.offset = 61
    totals = bot.poll()
    assert (totals["replied"], totals["skipped"]) == (1, {"opted_out": 1, "opt_out_request": 1})
    assert skip_reasons(bot) == {hello["id"]: "opted_out", stop["id"]: "opt_out_request"}
    assert bot.replies_to(hello["id"]) == [] and len(bot.replies_to(start["id"])) == 1


def test_claim_left_by_a_crash_is_confirmed_from_the_bot_timeline(bot, replier):
    mention = bot.post("mia", "@doppel hi there")
    assert bot.state.claim(mention["id"], mention["author_id"], "dead-run", time.time() - 120)
    posted = bot.post("doppel", "already answered", reply_to=mention["id"])
    totals = bot.poll()
    assert totals["recovered"] == 1 and totals["replied"] == 0
    assert bot.state.mention(mention["id"]).reply_id == posted["id"]
    assert len(bot.replies_to(mention["id"])) == 1


DUPLICATE_403 = {"endpoint": "create_tweet", "status": 403,
                 "body": {"title": "Forbidden", "type": "about:blank", "status": 403,
                          "detail": "You are not allowed to create a Tweet with duplicate content."}}


def test_a_reply_refused_as_a_duplicate_of_another_is_said_differently_once(bot, replier):
    mention = bot.post("nora", "@doppel hi there")
    bot.fault(**DUPLICATE_403)  # the same words went to someone else a moment ago
    totals = bot.poll()
    assert (totals["replied"], totals["duplicates"], totals["skipped"]) == (1, 0, {})
    [reply] = bot.replies_to(mention["id"])
    resampled = replier.reply_batch([ReplyRequest(
        "hi there", [], None, speakers=[None],
        decoding={"strategy": "sample", "seed": (int(mention["id"]) + 2) % 2**31})])[0]
    assert reply["text"] == "@nora " + fit_tweet([strip_placeholders(m) for m in resampled.messages])
    assert bot.state.mention(mention["id"]).status == "done"


def test_a_reply_refused_twice_as_a_duplicate_is_a_skip(bot):
    mention = bot.post("nora", "@doppel hi there")
    bot.fault(**DUPLICATE_403, count=2)
    totals = bot.poll()
    assert (totals["replied"], totals["duplicates"]) == (0, 0)
    assert totals["skipped"] == {"duplicate_content": 1}
    record = bot.state.mention(mention["id"])
    assert (record.status, record.reason) == ("skipped", "duplicate_content")
    assert bot.replies_to(mention["id"]) == []


def test_a_stop_handled_while_a_reply_is_made_stops_that_reply(bot, replier):
    """Another poller sharing the state handles the author's stop while this one holds
    the mention's claim and makes its reply again (a duplicate-content refusal, then a
    slow look at the timeline): the opt-out is read again right before posting."""
    hello = bot.post("bob", "@doppel hello")
    bot.fault(**DUPLICATE_403)
    bot.fault(endpoint="user_tweets", delay_s=2.0)

    def other_poller_takes_the_stop():
        while getattr(bot.state.mention(hello["id"]), "status", None) != "claimed":
            time.sleep(0.02)
        bot.post("bob", "@doppel stop")
        other = Poller(make_client(bot.config), open_state(bot.config["bot_state"]), replier,
                       bot.config)
        assert other.poll_once()["skipped"] == {"opt_out_request": 1}

    helper = threading.Thread(target=other_poller_takes_the_stop)
    helper.start()
    totals = bot.poll()
    helper.join()
    assert (totals["replied"], totals["skipped"]) == (0, {"opted_out": 1})
    assert bot.replies_to(hello["id"]) == []
    record = bot.state.mention(hello["id"])
    assert (record.status, record.reason) == ("skipped", "opted_out")

@pytest.fixture
def strict_bot(strict_sandbox, tmp_path, replier):
    made = Bot(strict_sandbox, tmp_path, replier)
    made.start()
    return made


def test_duplicate_content_403_is_done_when_the_timeline_shows_our_reply(strict_bot, replier):
    bot = strict_bot
    mention = bot.post("nina", "@doppel hi there")
    text = expected_reply(replier, mention["id"], "hi there")
    posted = bot.post("doppel", text, reply_to=mention["id"])  # e.g. a state store restored
    totals = bot.poll()
    assert (totals["replied"], totals["duplicates"], totals["skipped"]) == (0, 1, {})
    record = bot.state.mention(mention["id"])
    assert (record.status, record.reply_id) == ("done", posted["id"])
    assert len(bot.replies_to(mention["id"])) == 1



@pytest.mark.parametrize("delay", ["delay_s", "answer_delay_s"])
def test_a_timed_out_post_is_never_resent_and_the_timeline_settles_it(
        sandbox, tmp_path, replier, delay):
    """X carries out the post but the answer comes after X_REQUEST_TIMEOUT_S: either X
    was slow to act on it (delay_s) or slow to answer (answer_delay_s)."""
    bot = Bot(sandbox, tmp_path, replier, x_request_timeout_s=1.0)
    bot.start()
    mention = bot.post("oscar", "@doppel are you there?")
    bot.fault(endpoint="create_tweet", **{delay: 2.0})
    assert bot.poll()["errors"] == {"unconfirmed_post": 1}
    assert bot.state.mention(mention["id"]).status == "claimed"
    assert bot.sleeps == []  # not retried
    deadline = time.monotonic() + 10
    while not bot.replies_to(mention["id"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # delay_s: the post lands after the poller gave up on it
    assert bot.poll()["replied"] == 0  # the claim is young: nobody touches it
    bot.offset = 61
    totals = bot.poll()
    assert (totals["recovered"], totals["replied"]) == (1, 0)
    (reply,) = bot.replies_to(mention["id"])
    assert bot.state.mention(mention["id"]).reply_id == reply["id"]


def test_dry_run_posts_and_stores_nothing(sandbox, tmp_path, replier, caplog):
    bot = Bot(sandbox, tmp_path, replier)
    bot.start()
    mention = bot.post("olga", "@doppel hi")
    bot.poller.dry_run = True
    with caplog.at_level(logging.INFO, logger="doppel.poller"):
        assert bot.poll()["replied"] == 1
    would = [record_fields(r) for r in caplog.records]
    assert [e["mention"] for e in would if e["event"] == "would_reply"] == [mention["id"]]
    assert bot.tweets(author="doppel") == [] and bot.state.mention(mention["id"]) is None


def test_dynamodb_state_on_moto(sandbox, tmp_path, replier):
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        client = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}",
                              region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        create_table(client, "doppel-poller")
        bot = Bot(sandbox, tmp_path, replier, state=DynamoState("doppel-poller", client=client))
        bot.start()
        mentions = [bot.post("pia", "@doppel hi"), bot.post("quinn", "@doppel yo")]
        assert bot.poll()["replied"] == 2
        assert bot.poll()["replied"] == 0  # nothing answered twice
        assert [len(bot.replies_to(m["id"])) for m in mentions] == [1, 1]
        assert bot.state.since_id() == mentions[-1]["id"]
    finally:
        moto.stop()


def test_bad_settings_are_input_errors(sandbox, tmp_path, replier):
    with pytest.raises(InputError, match="X_DECODING: unknown decoding setting 'beams'"):
        Bot(sandbox, tmp_path, replier, x_decoding={"beams": 3})
    with pytest.raises(InputError, match="X_BUBBLE_JOINER must be one of newline, space"):
        Bot(sandbox, tmp_path, replier, x_bubble_joiner="tab")
    with pytest.raises(InputError, match="X_PERSONA 'Nobody' is not in the model"):
        Bot(sandbox, tmp_path, replier, x_persona="Nobody")


def test_scheduled_entry_point_never_raises(sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(poller_module, "_scheduled_poller", None)
    monkeypatch.setenv("X_API_BASE", sandbox.url)
    monkeypatch.setenv("BOT_STATE", f"sqlite:///{tmp_path}/lambda.sqlite")
    monkeypatch.setenv("DOPPEL_BUNDLE", str(DEMO_BUNDLE))
    assert handle_scheduled({"source": "aws.events"}, None)["ok"] is True
    assert handle_scheduled()["ok"] is True  # Zappa may call with other shapes
    monkeypatch.setattr(poller_module, "_scheduled_poller", None)
    monkeypatch.setenv("BOT_STATE", "nonsense://")
    result = handle_scheduled({}, object(), "extra")
    assert result == {"ok": False, "error": "InputError"}


def test_poll_once_command_prints_counters(sandbox, tmp_path):
    env = {"X_API_BASE": sandbox.url, "BOT_STATE": f"sqlite:///{tmp_path}/cli.sqlite",
           "DOPPEL_BUNDLE": str(DEMO_BUNDLE), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "backend", "poll", "--once"]
    first = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stderr.splitlines()[-1])["event"] == "first_start"
    requests.post(f"{sandbox.url}/sandbox/tweets", json={"author": "rita", "text": "@doppel hi"})
    second = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    totals = json.loads(second.stdout)
    assert (totals["mentions_seen"], totals["replied"]) == (1, 1)
    no_keys = subprocess.run(run, cwd=ROOT, env={**env, "X_API_BASE": ""},
                             capture_output=True, text=True, timeout=120)
    assert no_keys.returncode == 2 and "no X credentials" in no_keys.stderr


def test_the_poll_loop_sleeps_until_the_rate_limit_resets(sandbox, tmp_path):
    """An interval must be above 0, and a 429 is waited out to its reset time in one
    sleep: no poll, no log line, no busy loop until then."""
    env = {"X_API_BASE": sandbox.url, "BOT_STATE": f"sqlite:///{tmp_path}/loop.sqlite",
           "DOPPEL_BUNDLE": str(DEMO_BUNDLE), "PATH": "/usr/bin:/bin"}
    poll = [sys.executable, "-m", "backend", "poll"]
    for interval in ("0", "-1"):
        refused = subprocess.run([*poll, "--interval", interval], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2
        assert "expected a number above 0" in refused.stderr.splitlines()[-1]
    refused = subprocess.run(poll, cwd=ROOT, env={**env, "X_POLL_INTERVAL_S": "0"},
                             capture_output=True, text=True, timeout=120)
    assert (refused.returncode, refused.stderr.strip()) == (
        2, "error: bad value for X_POLL_INTERVAL_S: expected a number above 0, got 0.0")
    requests.post(f"{sandbox.url}/sandbox/faults",
                  json={"endpoint": "mentions", "status": 429, "reset_in": 300})
    state = open_state(env["BOT_STATE"])
    process = subprocess.Popen([*poll, "--interval", "0.01"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while state.reset_time() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.reset_time() > time.time() + 290
        time.sleep(1.5)  # a hundred polls' time at --interval 0.01
    finally:
        process.terminate()
        log = process.communicate(timeout=30)[1]
    assert '"rate_limited"' in log and '"rate_limit_wait"' not in log
    assert sandbox.world.windows["mentions"][0] == RATE_LIMITS["mentions"] - 1  # one request
