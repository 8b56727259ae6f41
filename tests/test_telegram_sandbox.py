"""The local Telegram Bot API stand-in, over real HTTP: the behaviour the bot's tests rely on."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from flask import Flask, request

from backend.local.telegram_sandbox import TelegramWorld, serve


@pytest.fixture
def sandbox():
    running = serve(TelegramWorld(token="42:test"))
    yield running
    running.stop()


def api(sandbox, method: str, **params) -> requests.Response:
    return requests.post(f"{sandbox.url}/bot42:test/{method}", data=params, timeout=30)


def say(sandbox, chat_id: int, text: str, **fields) -> dict:
    response = requests.post(f"{sandbox.url}/control/messages",
                             json={"chat_id": chat_id, "text": text, **fields}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def update_ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [u["update_id"] for u in response.json()["result"]]


def test_offsets_confirm_updates_as_telegram_does(sandbox):
    ids = [say(sandbox, 1, f"m{i}")["update_id"] for i in range(4)]
    assert update_ids(api(sandbox, "getUpdates")) == ids  # nothing confirmed yet
    assert update_ids(api(sandbox, "getUpdates", offset=ids[2])) == ids[2:]
    assert update_ids(api(sandbox, "getUpdates")) == ids[2:]  # the first two are gone
    assert update_ids(api(sandbox, "getUpdates", offset=-1)) == ids[3:]
    assert update_ids(api(sandbox, "getUpdates", offset=ids[3] + 1)) == []


def test_long_poll_returns_the_update_injected_while_it_waits(sandbox):
    timer = threading.Timer(0.3, say, args=(sandbox, 1, "late"))
    timer.start()
    result = api(sandbox, "getUpdates", timeout=20).json()["result"]
    timer.join()
    assert [u["message"]["text"] for u in result] == ["late"]


def test_group_mentions_commands_and_replies_carry_telegrams_fields(sandbox):
    mention = say(sandbox, -5, "hi there", mention=True, user={"id": 9, "first_name": "Eve"})
    sent = api(sandbox, "sendMessage", chat_id=-5, text="hello Eve",
               reply_parameters=json.dumps({"message_id": mention["message_id"]})).json()["result"]
    say(sandbox, -5, "/persona@doppel_bot Bo", user={"id": 9, "first_name": "Eve"},
        reply_to=sent["message_id"])
    first, second = (u["message"] for u in api(sandbox, "getUpdates").json()["result"])
    assert first["chat"] == {"id": -5, "type": "group", "title": "Group -5"}
    assert first["text"] == "@doppel_bot hi there"
    assert first["entities"] == [{"type": "mention", "offset": 0, "length": 11}]
    assert sent["reply_to_message"]["message_id"] == mention["message_id"]
    assert second["entities"] == [{"type": "bot_command", "offset": 0, "length": 19}]
    assert second["reply_to_message"]["from"]["is_bot"] is True


def test_flood_limit_fault_and_calls_made_too_early_are_counted(sandbox):
    requests.post(f"{sandbox.url}/control/faults", timeout=5, json={
        "method": "sendMessage", "chat_id": 3, "kind": "429", "retry_after": 30})
    first = api(sandbox, "sendMessage", chat_id=3, text="a")
    assert first.status_code == 429
    assert first.json()["parameters"] == {"retry_after": 30}
    early = api(sandbox, "sendChatAction", chat_id=3, action="typing")  # still limited
    assert early.status_code == 429
    assert api(sandbox, "sendMessage", chat_id=4, text="b").status_code == 200  # other chat
    calls = requests.get(f"{sandbox.url}/control/calls", timeout=5).json()
    assert calls["flood_violations"] == 1
    assert [c["status"] for c in calls["calls"]] == [429, 429, 200]


def test_faults_skip_then_hit_the_given_number_of_calls(sandbox):
    requests.post(f"{sandbox.url}/control/faults", timeout=5, json={
        "method": "sendMessage", "kind": "500", "after": 1, "times": 2})
    statuses = [api(sandbox, "sendMessage", chat_id=1, text="x").status_code for _ in range(4)]
    assert statuses == [200, 500, 500, 200]
    requests.post(f"{sandbox.url}/control/faults", timeout=5, json={
        "method": "sendMessage", "kind": "403"})
    blocked = api(sandbox, "sendMessage", chat_id=1, text="x")
    assert blocked.status_code == 403 and "blocked" in blocked.json()["description"]
    bad = requests.post(f"{sandbox.url}/control/faults", timeout=5,
                        json={"method": "sendMessage", "kind": "teapot"})
    assert bad.status_code == 400


def test_a_held_call_is_served_once_faults_are_cleared(sandbox):
    requests.post(f"{sandbox.url}/control/faults", timeout=5, json={
        "method": "sendChatAction", "kind": "hang", "seconds": 60})
    result = {}
    caller = threading.Thread(target=lambda: result.update(
        response=api(sandbox, "sendChatAction", chat_id=1, action="typing")))
    caller.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not sandbox.world.calls:
        time.sleep(0.05)
    assert sandbox.world.calls[0]["status"] == "held"
    requests.delete(f"{sandbox.url}/control/faults", timeout=5)
    caller.join(10)
    assert result["response"].status_code == 200


def test_webhook_excludes_get_updates_and_receives_updates_with_the_secret(sandbox, live_server):
    received = []
    app = Flask(__name__)

    @app.post("/hook")
    def hook():
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), request.json))
        return "ok"

    url = live_server(app) + "/hook"
    assert api(sandbox, "setWebhook", url=url, secret_token="abc").json()["result"] is True
    assert api(sandbox, "getWebhookInfo").json()["result"]["url"] == url
    assert api(sandbox, "getUpdates").status_code == 409
    update = say(sandbox, 1, "pushed")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not received:
        time.sleep(0.05)
    assert received[0][0] == "abc" and received[0][1]["update_id"] == update["update_id"]
    api(sandbox, "deleteWebhook")
    assert api(sandbox, "getUpdates").status_code == 200


def test_wrong_token_and_unknown_method(sandbox):
    wrong = requests.post(f"{sandbox.url}/botnope/getMe", timeout=5)
    assert wrong.status_code == 401 and wrong.json()["ok"] is False
    assert api(sandbox, "getMe").json()["result"]["username"] == "doppel_bot"
    assert api(sandbox, "sendPigeon").status_code == 404
