"""The reply API through Flask's test client, on the real demo bundle and the real runtime."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import pytest
from markupsafe import escape

from backend.web.app import create_app
from backend.web.ratelimit import Buckets, RateLimiter
from backend.web.schema import MAX_BODY_BYTES, MAX_CONTEXT_ITEMS, MAX_MESSAGE_CHARS
from backend.web.sessions import SessionStore, SqliteSessionStore
from model.logs import record_fields
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest


@pytest.fixture(scope="module")
def replier(demo_bundle):
    return load_replier(demo_bundle)


@pytest.fixture
def app(demo_bundle):
    return create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0})


@pytest.fixture
def client(app):
    return app.test_client()


def error_of(response) -> tuple[str, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["code"], body["error"]["message"]


# --- replies --------------------------------------------------------------------------


def test_reply_has_the_documented_shape_and_comes_from_the_model(client, replier):
    response = client.post("/api/reply", json={"message": "are you coming tonight?",
                                               "temperature": 0})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"reply", "messages", "persona", "model", "latency_ms"}
    expected = replier.reply("are you coming tonight?", strategy="greedy")
    assert body["reply"] == expected.text
    assert body["messages"] == expected.messages
    assert body["persona"] == replier.default_persona
    assert body["model"] == replier.name
    assert body["latency_ms"] > 0


def test_sampling_settings_and_seed_reach_the_decoder(client, replier):
    request = {"message": "what are you doing", "temperature": 1.3, "top_p": 0.95, "seed": 11}
    first = client.post("/api/reply", json=request).get_json()
    again = client.post("/api/reply", json=request).get_json()
    expected = replier.reply("what are you doing", strategy="sample", temperature=1.3,
                             top_p=0.95, seed=11)
    assert first["reply"] == again["reply"] == expected.text


def test_explicit_persona_answers(client, replier):
    other = replier.personas[-1]
    body = client.post("/api/reply", json={"message": "hi", "persona": other,
                                           "temperature": 0}).get_json()
    assert body["persona"] == other
    assert body["reply"] == replier.reply("hi", persona=other, strategy="greedy").text


def test_unknown_persona_is_a_400_listing_the_known_ones(client, replier):
    response = client.post("/api/reply", json={"message": "hi", "persona": "Nobody"})
    code, message = error_of(response)
    assert response.status_code == 400 and code == "unknown_persona"
    assert all(name in message for name in replier.personas)


def test_sessions_feed_their_own_history_and_never_share_it(app, client, replier):
    greedy = {"temperature": 0}
    first = client.post("/api/reply", json={"message": "hey, free on friday?",
                                            "session_id": "new", **greedy}).get_json()
    alice = first["session_id"]
    second = client.post("/api/reply", json={"message": "great, see you then",
                                             "session_id": alice, **greedy}).get_json()
    stranger = client.post("/api/reply", json={"message": "great, see you then",
                                               "session_id": "new", **greedy}).get_json()
    bob = stranger["session_id"]
    assert second["session_id"] == alice and len({alice, bob, "new"}) == 3
    persona = replier.default_persona
    with_history = replier.reply_batch([ReplyRequest(
        "great, see you then", ["hey, free on friday?", first["reply"]], None,
        {"strategy": "greedy"}, speakers=[None, persona, None])])[0]
    assert second["reply"] == with_history.text
    assert stranger["reply"] == replier.reply("great, see you then", strategy="greedy").text
    sessions = app.extensions["doppel"].sessions
    assert [text for text, _ in sessions.history(bob)] == ["great, see you then",
                                                           stranger["reply"]]
    assert len(sessions.history(alice)) == 4
    stateless = client.post("/api/reply", json={"message": "hi", **greedy}).get_json()
    assert "session_id" not in stateless


def test_session_ids_are_issued_by_the_server(app, client):
    """Two clients that pick the same guessable id never share a history: an id the
    server did not issue starts a new session under a random id."""
    sessions = app.extensions["doppel"].sessions
    ids = [client.post("/api/reply", json={"message": f"I am client {n}", "session_id": "alice",
                                           "temperature": 0}).get_json()["session_id"]
           for n in (1, 2)]
    assert ids[0] != ids[1] and "alice" not in ids
    assert all(len(i) == 24 and i.isascii() for i in ids)
    assert sessions.history("alice") == []
    assert [text for text, _ in sessions.history(ids[1])][0] == "I am client 2"


def test_explicit_context_is_used(client, replier):
    context = ["did you see the game", "yeah what a finish"]
    body = client.post("/api/reply", json={"message": "unreal", "context": context,
                                           "temperature": 0}).get_json()
    assert body["reply"] == replier.reply("unreal", context=context, strategy="greedy").text


# --- bad input ------------------------------------------------------------------------

BAD_BODIES = [
    ({"context": []}, "message"),
    ({"message": 5}, "message"),
    ({"message": ""}, "message"),
    ({"message": "   "}, "message"),
    ({"message": "\u00a0\u3000\ufeff"}, "message"),  # only whitespace, as ECMA-262 counts it
    ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
    ({"message": "hi", "context": "not a list"}, "context"),
    ({"message": "hi", "context": ["a"] * (MAX_CONTEXT_ITEMS + 1)}, "context"),
    ({"message": "hi", "context": ["ok", 3]}, "context[1]"),
    ({"message": "hi", "temperature": -0.1}, "temperature"),
    ({"message": "hi", "temperature": 2.01}, "temperature"),
    ({"message": "hi", "temperature": "hot"}, "temperature"),
    ({"message": "hi", "top_p": 0}, "top_p"),
    ({"message": "hi", "top_p": 1.5}, "top_p"),
    ({"message": "hi", "seed": -1}, "seed"),
    ({"message": "hi", "seed": 1.5}, "seed"),
    ({"message": "hi", "seed": 1e30}, "seed"),
    ({"message": "hi", "seed": True}, "seed"),
    ({"message": "hi", "session_id": ""}, "session_id"),
    ({"message": "hi", "session_id": "has space"}, "session_id"),
    ({"message": "hi", "session_id": "abc\n"}, "session_id"),  # $ is the end, as in ECMA-262
    ({"message": "hi \ud800"}, "message"),  # a lone surrogate is no text
    ({"message": "hi", "persona": None}, "persona"),
    ({"message": "hi", "temprature": 1}, "temprature"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
def test_bad_fields_are_400_naming_the_field(client, body, field):
    response = client.post("/api/reply", json=body)
    code, message = error_of(response)
    assert response.status_code == 400 and code == "invalid_field"
    assert field in message


@pytest.mark.parametrize("raw", ['{"message": "hi"', "[1, 2]", '"hi"', "\xff\xfe",
                                 '{"message": "hi", "temperature": NaN}', "[" * 5000])
def test_malformed_json_is_400(client, raw):
    response = client.post("/api/reply", data=raw.encode("latin-1"),
                           content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)[0] in ("invalid_json", "invalid_field")


def test_body_over_16_kb_is_413(client):
    body = json.dumps({"message": "x" * MAX_BODY_BYTES})
    response = client.post("/api/reply", data=body, content_type="application/json")
    assert response.status_code == 413 and error_of(response)[0] == "too_large"


def test_limits_at_the_edge_are_accepted(client):
    body = {"message": "y" * MAX_MESSAGE_CHARS, "context": ["ok"] * MAX_CONTEXT_ITEMS,
            "temperature": 2, "top_p": 1, "seed": 0}
    assert client.post("/api/reply", json=body).status_code == 200


def test_unknown_routes_and_methods_are_json(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and error_of(response)[0] == "not_found"
    response = client.get("/api/reply")
    assert response.status_code == 405 and error_of(response)[0] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


# --- API key, rate limit, readiness ---------------------------------------------------


def test_configured_api_key_is_required(demo_bundle):
    client = create_app({"bundle": str(demo_bundle), "api_key": "s3cret",
                         "rate_limit_per_s": 0}).test_client()
    body = {"message": "hi"}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer s3cre"}):
        response = client.post("/api/reply", json=body, headers=headers)
        assert response.status_code == 401 and error_of(response)[0] == "unauthorized"
    for headers in ({"X-API-Key": "s3cret"}, {"Authorization": "Bearer s3cret"}):
        assert client.post("/api/reply", json=body, headers=headers).status_code == 200
    document = client.get("/openapi.json").get_json()
    assert "401" in document["paths"]["/api/reply"]["post"]["responses"]


def test_rate_limit_per_client_answers_429_with_retry_after(demo_bundle):
    client = create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0.01,
                         "rate_limit_burst": 2}).test_client()
    first_ip = {"REMOTE_ADDR": "10.0.0.1"}
    statuses = [client.post("/api/reply", json={"message": "hi"}, environ_base=first_ip)
                .status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = client.post("/api/reply", json={"message": "hi"}, environ_base=first_ip)
    assert error_of(limited)[0] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    other_ip = {"REMOTE_ADDR": "10.0.0.2"}
    assert client.post("/api/reply", json={"message": "hi"},
                       environ_base=other_ip).status_code == 200


def test_token_bucket_refills_at_its_rate():
    now = [0.0]
    limiter = RateLimiter("reply", rate_per_s=2, burst=2, buckets=Buckets(),
                          clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 1]
    now[0] = 0.5  # one token back after 1 / rate seconds
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") == 1
    assert RateLimiter("off", rate_per_s=0, burst=1, buckets=Buckets()).acquire("a") == 0


def test_missing_bundle_serves_503_but_stays_up(tmp_path):
    client = create_app({"bundle": str(tmp_path / "nowhere")}).test_client()
    response = client.post("/api/reply", json={"message": "hi"})
    assert response.status_code == 503 and error_of(response)[0] == "not_ready"
    assert client.get("/api/personas").status_code == 503
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "nowhere" in ready.get_json()["reason"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200


def test_damaged_bundle_is_refused_naming_the_file(demo_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    with open(copy / "decoder_step.onnx", "ab") as handle:
        handle.write(b"\0")
    client = create_app({"bundle": str(copy)}).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "decoder_step.onnx" in ready.get_json()["reason"]
    assert client.post("/api/reply", json={"message": "hi"}).status_code == 503


def test_chat_page_says_the_model_failed_to_load_and_why(demo_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    (copy / "encoder.onnx").write_bytes(b"not an onnx graph")
    meta = json.loads((copy / "bundle.json").read_text())  # the checksum matches: it loads
    meta["files"]["encoder.onnx"] = hashlib.sha256(b"not an onnx graph").hexdigest()
    (copy / "bundle.json").write_text(json.dumps(meta))
    client = create_app({"bundle": str(copy)}).test_client()
    reason = client.get("/readyz").get_json()["reason"]
    assert "encoder.onnx" in reason
    page = client.get("/").get_data(as_text=True)
    assert "could not be loaded" in page and escape(reason) in page  # as the page escapes it
    assert "not loaded yet" not in page  # waiting would not help


def test_readyz_and_personas_when_loaded(client, replier):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["model"] == replier.name
    personas = client.get("/api/personas").get_json()
    assert personas == {"personas": replier.personas, "default": replier.default_persona,
                        "model": replier.name}


# --- sessions -------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def session_store(request, tmp_path):
    """Both stores, on a clock the test moves: (store, clock)."""
    now = [100.0]
    bounds = {"max_sessions": 2, "ttl_s": 60, "max_turns": 3, "clock": lambda: now[0]}
    if request.param == "memory":
        return SessionStore(**bounds), now
    return SqliteSessionStore(tmp_path / "sessions.sqlite", **bounds), now


def test_session_store_bounds_turns_count_and_age(session_store):
    store, now = session_store
    store.record("a", [("1", None), ("2", "Ana")])
    now[0] += 1
    store.record("a", [("3", None), ("4", "Ana")])
    assert store.history("a") == [("2", "Ana"), ("3", None), ("4", "Ana")]
    now[0] += 1
    store.record("b", [("b", None)])
    store.history("a")  # reading does not refresh: only a new turn does
    now[0] += 1
    store.record("c", [("c", None)])
    assert store.history("a") == [] and store.history("b") == [("b", None)]
    store.forget("c")
    assert store.history("c") == [] and len(store) == 1
    now[0] += 60
    assert store.history("b") == [] and len(store) == 0


def test_sqlite_sessions_are_shared_between_store_instances(tmp_path):
    path = tmp_path / "sessions.sqlite"
    worker_a = SqliteSessionStore(path, max_sessions=10, ttl_s=60, max_turns=4)
    worker_b = SqliteSessionStore(path, max_sessions=10, ttl_s=60, max_turns=4)
    worker_a.record("s", [("hi", None), ("hey <brk> what's up", "Ana")])
    assert worker_b.history("s") == [("hi", None), ("hey <brk> what's up", "Ana")]


# --- OpenAPI, metrics, logs -----------------------------------------------------------


def test_openapi_publishes_the_enforced_limits(client, replier):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    schema = document["components"]["schemas"]["ReplyRequest"]
    fields = schema["properties"]
    assert schema["required"] == ["message"] and schema["additionalProperties"] is False
    assert fields["message"]["maxLength"] == MAX_MESSAGE_CHARS
    assert fields["context"]["maxItems"] == MAX_CONTEXT_ITEMS
    assert fields["persona"]["enum"] == replier.personas
    # what the document says is the edge, the server enforces
    for field, limit in (("temperature", fields["temperature"]["maximum"]),
                         ("top_p", fields["top_p"]["maximum"])):
        assert client.post("/api/reply", json={"message": "hi", field: limit}).status_code == 200
        over = client.post("/api/reply", json={"message": "hi", field: limit + 0.01})
        assert over.status_code == 400
    too_long = client.post("/api/reply",
                           json={"message": "m" * (fields["message"]["maxLength"] + 1)})
    assert too_long.status_code == 400


def test_metrics_count_requests_latency_batches_and_model(client, replier):
    client.post("/api/reply", json={"message": "hi"})
    client.post("/api/reply", json={"message": ""})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'doppel_http_requests_total{method="POST",route="/api/reply",status="200"} 1.0' in text
    assert 'doppel_http_requests_total{method="POST",route="/api/reply",status="400"} 1.0' in text
    assert "doppel_reply_latency_seconds_count 1.0" in text
    assert 'doppel_batch_size_bucket{le="1.0"} 1.0' in text
    assert f'doppel_model_info{{format_version="1",kind="{replier.meta["kind"]}",' \
           f'name="{replier.name}"}} 1.0' in text


def test_one_log_line_per_request_without_text_unless_enabled(demo_bundle, caplog):
    secret = "my secret plans for friday"
    caplog.set_level(logging.INFO, logger="doppel")
    for log_text in (False, True):
        client = create_app({"bundle": str(demo_bundle), "log_text": log_text}).test_client()
        caplog.clear()
        client.post("/api/reply", json={"message": secret})
        lines = [record_fields(r) for r in caplog.records if r.name == "doppel.access"]
        assert len(lines) == 1
        line = lines[0]
        assert line["route"] == "/api/reply" and line["status"] == 200
        assert line["batch_size"] == 1 and line["latency_ms"] > 0
        assert (secret in json.dumps(line)) is log_text


def test_chat_page_embeds_personas_and_its_settings(demo_bundle, replier):
    client = create_app({"bundle": str(demo_bundle), "burst_pause_ms": 900}).test_client()
    page = client.get("/").get_data(as_text=True)
    start = page.index('<script id="config" type="application/json">') + len(
        '<script id="config" type="application/json">')
    config = json.loads(page[start:page.index("</script>", start)])
    assert config["personas"] == replier.personas
    assert config["defaultPersona"] == replier.default_persona
    assert config["burstPauseMs"] == 900 and config["ready"] is True
    assert config["maxMessageChars"] == MAX_MESSAGE_CHARS
    assert client.get("/static/chat.js").status_code == 200


def test_telegram_webhook_route_exists_only_when_its_secret_is_set(demo_bundle):
    off = create_app({"bundle": str(demo_bundle)}).test_client()
    assert off.post("/telegram/webhook", json={"update_id": 1}).status_code == 404
    on = create_app({"bundle": str(demo_bundle), "telegram_webhook_secret": "s3cret"}).test_client()
    response = on.post("/telegram/webhook", json={"update_id": 1},
                       headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
    assert response.status_code == 403
