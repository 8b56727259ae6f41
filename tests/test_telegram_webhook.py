"""The webhook route on a minimal Flask app: the secret header, then real replies sent to
the local Bot API stand-in over HTTP, once per update."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask

from backend.bots.ledger.dynamo import create_table
from backend.bots.ledger.stores import open_state
from backend.bots.telegram.webhook import SECRET_HEADER, configure, telegram_webhook
from backend.config import load_config
from backend.local.telegram_sandbox import BOT_ID, TelegramWorld, serve
from model.pii import strip_placeholders
from model.serve.load import load_replier
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-token_1"


@pytest.fixture(scope="module")
def replier(demo_bundle):
    return load_replier(demo_bundle)


@pytest.fixture
def sandbox():
    running = serve(TelegramWorld())
    yield running
    running.stop()


@pytest.fixture(params=["sqlite", "dynamodb"])
def state_url(request, tmp_path):
    """Where the webhook keeps its claims: a SQLite file, or DynamoDB as on Lambda."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    aws = request.getfixturevalue("aws")
    create_table(aws.client("dynamodb"), "doppel-telegram")
    return "dynamodb://doppel-telegram"


def make_client(sandbox, replier, tmp_path, secret=SECRET, state_url=None, **overrides):
    settings = load_config({
        "telegram_bot_token": "42:test", "telegram_api_base": sandbox.url,
        "telegram_webhook_secret": secret, "telegram_typing_s": 0.0,
        "telegram_state": state_url or f"sqlite:///{tmp_path / 'state.sqlite'}", **overrides})
    app = Flask(__name__)
    app.register_blueprint(telegram_webhook)
    configure(app, settings, replier)
    return app.test_client()


def user_update(sandbox, chat_id: int, text: str) -> dict:
    """An update as Telegram would push it (the stand-in builds it; no webhook is set)."""
    sandbox.world.inject({"chat_id": chat_id, "text": text})
    return sandbox.world.updates[-1]


def sent_texts(sandbox, chat_id: int) -> list[str]:
    return [e["text"] for e in sandbox.world.sent
            if e["chat_id"] == chat_id and e["method"] == "sendMessage"]


def test_good_secret_is_answered_once_even_when_telegram_delivers_twice(sandbox, replier,
                                                                        tmp_path, state_url):
    client = make_client(sandbox, replier, tmp_path, state_url=state_url)
    update = user_update(sandbox, 21, "hello")
    response = client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert response.status_code == 200, response.get_json()
    want = [t for t in map(strip_placeholders, replier.reply(
        "hello", seed=update["update_id"]).messages) if t]
    assert sent_texts(sandbox, 21) == want
    again = client.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert again.status_code == 200
    assert sent_texts(sandbox, 21) == want


def test_an_update_another_process_holds_gets_503_until_its_claim_is_stale(
        sandbox, replier, tmp_path, state_url):
    update = user_update(sandbox, 25, "hello")
    crashed = open_state(state_url)  # a worker that claimed the update ten minutes ago, then died
    assert crashed.claim(f"tg{BOT_ID}:{update['update_id']}", "tg:25", "dead-worker",
                         time.time() - 600)
    patient = make_client(sandbox, replier, tmp_path, state_url=state_url,
                          telegram_claim_timeout_s=3600.0)
    busy = patient.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert sent_texts(sandbox, 25) == []
    taker = make_client(sandbox, replier, tmp_path, state_url=state_url,
                        telegram_claim_timeout_s=60.0)
    taken = taker.post("/telegram/webhook", json=update, headers={SECRET_HEADER: SECRET})
    assert taken.status_code == 200
    want = [t for t in map(strip_placeholders, replier.reply(
        "hello", seed=update["update_id"]).messages) if t]
    assert sent_texts(sandbox, 25) == want


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}])
def test_missing_or_wrong_secret_is_refused_and_nothing_is_sent(sandbox, replier, tmp_path,
                                                                headers):
    client = make_client(sandbox, replier, tmp_path)
    response = client.post("/telegram/webhook", json=user_update(sandbox, 22, "hello"),
                           headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert sandbox.world.sent == [] and sandbox.world.calls == []


def test_route_is_off_without_a_configured_secret(sandbox, replier, tmp_path):
    client = make_client(sandbox, replier, tmp_path, secret="")
    response = client.post("/telegram/webhook", json=user_update(sandbox, 23, "hello"),
                           headers={SECRET_HEADER: ""})
    assert response.status_code == 404
    assert sandbox.world.sent == []


def test_a_body_that_is_not_an_update_is_a_400(sandbox, replier, tmp_path):
    client = make_client(sandbox, replier, tmp_path)
    response = client.post("/telegram/webhook", data="not json",
                           headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_set_webhook_command_then_telegram_pushes_to_the_live_route(sandbox, replier, tmp_path,
                                                                    live_server):
    app = Flask(__name__)
    app.register_blueprint(telegram_webhook)
    settings = load_config({
        "telegram_bot_token": "42:test", "telegram_api_base": sandbox.url,
        "telegram_webhook_secret": SECRET, "telegram_typing_s": 0.0,
        "telegram_state": f"sqlite:///{tmp_path / 'state.sqlite'}"})
    configure(app, settings, replier)
    url = live_server(app) + "/telegram/webhook"
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": "42:test", "TELEGRAM_API_BASE": sandbox.url,
           "TELEGRAM_WEBHOOK_SECRET": SECRET}
    result = subprocess.run([sys.executable, "-m", "backend", "telegram", "--set-webhook", url],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sandbox.world.webhook == {"url": url, "secret_token": SECRET}
    update = sandbox.world.inject({"chat_id": 24, "text": "hello"})
    want = [t for t in map(strip_placeholders, replier.reply(
        "hello", seed=update["update_id"]).messages) if t]
    deadline = time.monotonic() + 30
    while sent_texts(sandbox, 24) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sent_texts(sandbox, 24) == want
