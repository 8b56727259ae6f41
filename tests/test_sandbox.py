"""The local X API v2 sandbox, over real HTTP on 127.0.0.1, with raw requests and tweepy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import tweepy

from backend.bots.x.client import SANDBOX_CREDENTIALS, BaseUrlAdapter
from backend.local.x_sandbox import serve
from backend.local.x_world import SANDBOX_USER_BEARER, World

APP = {"Authorization": f"Bearer {SANDBOX_CREDENTIALS['bearer_token']}"}
USER = {"Authorization": f"Bearer {SANDBOX_USER_BEARER}"}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox(tmp_path):
    running = serve(World(state_path=tmp_path / "world.json"))
    yield running
    running.stop()


def post(sandbox, author: str, text: str, reply_to: str | None = None, **extra) -> dict:
    payload = {"author": author, "text": text, **extra}
    if reply_to:
        payload["in_reply_to_tweet_id"] = reply_to
    response = requests.post(f"{sandbox.url}/sandbox/tweets", json=payload, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def tweepy_client(sandbox, **keys) -> tweepy.Client:
    client = tweepy.Client(**(keys or SANDBOX_CREDENTIALS))
    client.session.mount("https://api.twitter.com/", BaseUrlAdapter(sandbox.url, timeout=5))
    return client


def test_tweepy_reads_and_writes_through_the_sandbox(sandbox):
    client = tweepy_client(sandbox)
    me = client.get_me(user_auth=True).data
    assert (me.username, me.id) == ("doppel", int(sandbox.world.bot["id"]))
    root = post(sandbox, "alice", "@doppel are you coming?")
    mentions = client.get_users_mentions(
        me.id, expansions=["author_id", "referenced_tweets.id"],
        tweet_fields=["conversation_id", "created_at", "in_reply_to_user_id"],
    )
    assert [t.id for t in mentions.data] == [int(root["id"])]
    assert mentions.includes["users"][0].username == "alice"
    assert mentions.data[0].conversation_id == int(root["id"])
    created = client.create_tweet(text="yes! see you at 8", in_reply_to_tweet_id=root["id"])
    reply = client.get_tweet(created.data["id"], tweet_fields=["in_reply_to_user_id",
                                                               "referenced_tweets"]).data
    assert reply.text == "@alice yes! see you at 8"  # X puts the handle in front of replies
    assert reply.in_reply_to_user_id == int(root["author_id"])
    assert reply.referenced_tweets[0].id == int(root["id"])
    assert client.delete_tweet(created.data["id"]).data == {"deleted": True}
    assert client.get_tweet(created.data["id"]).errors[0]["title"] == "Not Found Error"


def test_mentions_paginate_newest_first_after_since_id_with_rate_limit_headers(sandbox):
    bot = sandbox.world.bot["id"]
    ids = [post(sandbox, f"user{i % 3}", f"@doppel number {i}")["id"] for i in range(12)]
    post(sandbox, "bob", "no mention here")
    url = f"{sandbox.url}/2/users/{bot}/mentions"
    first = requests.get(url, params={"since_id": ids[1], "max_results": 5}, headers=APP)
    body = first.json()
    assert [t["id"] for t in body["data"]] == ids[:1:-1][:5]
    assert body["meta"]["result_count"] == 5 and "next_token" in body["meta"]
    limit = int(first.headers["x-rate-limit-limit"])
    remaining = first.headers["x-rate-limit-remaining"]
    assert int(remaining) == limit - 1 and int(first.headers["x-rate-limit-reset"]) > time.time()
    seen, token = [t["id"] for t in body["data"]], body["meta"]["next_token"]
    while token:
        page = requests.get(url, params={"since_id": ids[1], "max_results": 5,
                                         "pagination_token": token}, headers=APP)
        seen += [t["id"] for t in page.json()["data"]]
        token = page.json()["meta"].get("next_token")
        assert int(page.headers["x-rate-limit-remaining"]) < int(remaining)
    assert seen == ids[:1:-1]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"max_results": 1}, "max_results"), ({"max_results": 101}, "max_results"),
     ({"since_id": "abc"}, "since_id"), ({"expansions": "nonsense"}, "expansions"),
     ({"tweet.fields": "secret"}, "tweet.fields")],
)
def test_invalid_parameters_answer_400_in_x_shape(sandbox, params, parameter):
    response = requests.get(f"{sandbox.url}/2/users/{sandbox.world.bot['id']}/mentions",
                            params=params, headers=APP)
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert parameter in body["errors"][0]["parameters"]


def test_auth_is_checked_like_x(sandbox):
    root = post(sandbox, "alice", "@doppel hi")
    create = {"text": "hello", "reply": {"in_reply_to_tweet_id": root["id"]}}
    none = requests.post(f"{sandbox.url}/2/tweets", json=create)
    assert none.status_code == 401 and none.json()["title"] == "Unauthorized"
    app_only = requests.post(f"{sandbox.url}/2/tweets", json=create, headers=APP)
    assert app_only.status_code == 403
    assert app_only.json()["type"].endswith("unsupported-authentication")
    wrong_secret = tweepy_client(sandbox, **{**SANDBOX_CREDENTIALS, "consumer_secret": "nope"})
    with pytest.raises(tweepy.Unauthorized):
        wrong_secret.create_tweet(text="hello", in_reply_to_tweet_id=root["id"])
    oauth1_only = tweepy_client(sandbox, **{k: v for k, v in SANDBOX_CREDENTIALS.items()
                                            if k != "bearer_token"})
    signed_query = oauth1_only.get_users_mentions(sandbox.world.bot["id"], max_results=5,
                                                  tweet_fields=["author_id"], user_auth=True)
    assert [t.id for t in signed_query.data] == [int(root["id"])]  # query params are signed too
    assert requests.post(f"{sandbox.url}/2/tweets", json=create, headers=USER).status_code == 201
    me = requests.get(f"{sandbox.url}/2/users/me", headers=USER).json()
    assert me["data"]["username"] == "doppel"


def test_duplicate_content_is_refused_with_x_error_body(sandbox):
    root = post(sandbox, "alice", "@doppel hi")
    create = {"text": "same words", "reply": {"in_reply_to_tweet_id": root["id"]}}
    assert requests.post(f"{sandbox.url}/2/tweets", json=create, headers=USER).status_code == 201
    again = requests.post(f"{sandbox.url}/2/tweets", json=create, headers=USER)
    assert again.status_code == 403
    assert again.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "status": 403, "title": "Forbidden", "type": "about:blank",
    }
    too_long = requests.post(f"{sandbox.url}/2/tweets", headers=USER, json={
        "text": "日本" * 141, "reply": {"in_reply_to_tweet_id": root["id"]}})
    assert too_long.status_code == 400 and "564 weighted" in too_long.json()["errors"][0]["message"]
    missing = requests.post(f"{sandbox.url}/2/tweets", headers=USER,
                            json={"text": "x", "reply": {"in_reply_to_tweet_id": "1"}})
    assert missing.status_code == 400 and missing.json()["errors"]


def test_answer_delay_fault_posts_first_and_answers_late(sandbox):
    root = post(sandbox, "alice", "@doppel hi")
    requests.post(f"{sandbox.url}/sandbox/faults",
                  json={"endpoint": "create_tweet", "answer_delay_s": 1.0})
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sandbox.url}/2/tweets", headers=USER, timeout=0.3,
                      json={"text": "late", "reply": {"in_reply_to_tweet_id": root["id"]}})
    replies = requests.get(f"{sandbox.url}/sandbox/tweets", params={"in_reply_to": root["id"]})
    assert [t["text"] for t in replies.json()["tweets"]] == ["@alice late"]  # posted already


def test_sandbox_command_can_accept_duplicate_content():
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "sandbox", "--port", "0", "--accept-duplicates"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        assert started["accept_duplicates"] is True
        root = requests.post(f"{started['url']}/sandbox/tweets", timeout=5,
                             json={"author": "alice", "text": "@doppel hi"}).json()
        create = {"text": "same words", "reply": {"in_reply_to_tweet_id": root["id"]}}
        codes = [requests.post(f"{started['url']}/2/tweets", json=create, headers=USER,
                               timeout=5).status_code for _ in range(2)]
        assert codes == [201, 201]
    finally:
        process.kill()
        process.wait()


def test_lookup_reports_missing_tweets_in_errors(sandbox):
    tweet = post(sandbox, "alice", "@doppel hi")
    body = requests.get(f"{sandbox.url}/2/tweets", params={"ids": f"{tweet['id']},42"},
                        headers=APP).json()
    assert [t["id"] for t in body["data"]] == [tweet["id"]]
    assert body["errors"][0]["resource_id"] == "42"
    assert body["errors"][0]["type"].endswith("resource-not-found")


def test_faults_answer_the_requested_status_and_headers(sandbox):
    url = f"{sandbox.url}/2/users/{sandbox.world.bot['id']}/mentions"
    faults = f"{sandbox.url}/sandbox/faults"
    requests.post(faults, json={"endpoint": "mentions", "status": 429, "reset_in": 90})
    limited = requests.get(url, headers=APP)
    assert limited.status_code == 429 and limited.headers["x-rate-limit-remaining"] == "0"
    assert 80 < int(limited.headers["x-rate-limit-reset"]) - time.time() <= 91
    requests.post(faults, json={"endpoint": "mentions", "status": 429, "omit_reset_header": True})
    assert "x-rate-limit-reset" not in requests.get(url, headers=APP).headers
    requests.post(faults, json={"endpoint": "mentions", "status": 503, "count": 2})
    assert [requests.get(url, headers=APP).status_code for _ in range(3)] == [503, 503, 200]
    requests.post(faults, json={"endpoint": "lookup", "body": "<html>oops"})
    assert requests.get(f"{sandbox.url}/2/tweets?ids=1", headers=APP).text == "<html>oops"
    bad = requests.post(faults, json={"endpoint": "timeline", "status": 500})
    assert bad.status_code == 400
    requests.post(faults, json={"endpoint": "mentions", "status": 500, "count": -1})
    assert requests.get(faults).json()["faults"][0]["count"] == -1
    requests.delete(faults)
    assert requests.get(url, headers=APP).status_code == 200


def test_exhausted_window_answers_429(tmp_path):
    running = serve(World(rate_limits={"mentions": 2}))
    try:
        url = f"{running.url}/2/users/{running.world.bot['id']}/mentions"
        codes = [requests.get(url, headers=APP).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        running.stop()


def test_control_api_filters_and_state_file_survives_a_restart(sandbox, tmp_path):
    root = post(sandbox, "alice", "@doppel hi")
    reply = post(sandbox, "bob", "hey alice", reply_to=root["id"])
    post(sandbox, "carol", "@doppel elsewhere")
    listing = requests.get(f"{sandbox.url}/sandbox/tweets",
                           params={"conversation_id": root["id"]}).json()["tweets"]
    assert [t["id"] for t in listing] == [root["id"], reply["id"]]
    by_bob = requests.get(f"{sandbox.url}/sandbox/tweets", params={"author": "bob"}).json()
    assert [t["text"] for t in by_bob["tweets"]] == ["@alice hey alice"]
    replies = requests.get(f"{sandbox.url}/sandbox/tweets", params={"in_reply_to": root["id"]})
    assert [t["id"] for t in replies.json()["tweets"]] == [reply["id"]]
    reloaded = World(state_path=tmp_path / "world.json")
    assert set(reloaded.tweets) == {t["id"] for t in requests.get(
        f"{sandbox.url}/sandbox/tweets").json()["tweets"]}
    assert reloaded.bot["id"] == sandbox.world.bot["id"]
    page = requests.get(sandbox.url + "/")
    assert page.status_code == 200 and "sandbox.js" in page.text
    assert "setInterval(refresh, 1000)" in requests.get(sandbox.url + "/static/sandbox.js").text


def test_sandbox_command_serves_on_the_port_it_prints(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "sandbox", "--port", "0", "--bot-username", "ana_bot",
         "--state", str(tmp_path / "w.json")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        started = json.loads(process.stdout.readline())
        assert started["accept_duplicates"] is False
        me = requests.get(started["url"] + "/2/users/me", headers=USER, timeout=5).json()
        assert me["data"]["username"] == "ana_bot"
    finally:
        process.kill()
        process.wait()
