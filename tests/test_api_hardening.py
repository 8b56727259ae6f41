"""Hostile input on the HTTP side (issue 18): security headers, the CSP under a real browser,
JSON-only bodies, pattern semantics, and rate limits on failed keys, per client and shared."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest
import requests

from backend.web.app import SECURITY_HEADERS, create_app
from backend.web.ratelimit import Buckets, RateLimiter
from backend.web.schema import MAX_BODY_BYTES, ValidationError, reply_request_schema, validate
from tests.test_chat_page import CHROMIUM, browser, page, send, serve, wait_for  # noqa: F401

BODY = json.dumps({"message": "hi"})
KEY = "s3cret"


def error_of(response) -> tuple[str, str]:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["code"], body["error"]["message"]


# --- security headers -----------------------------------------------------------------


def test_every_response_carries_the_security_headers(demo_bundle):
    app = create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0})
    app.add_url_rule("/boom", view_func=lambda: 1 / 0)
    client = app.test_client()
    responses = {
        "reply": client.post("/api/reply", json={"message": "hi"}),
        "chat page": client.get("/"),
        "static": client.get("/static/chat.js"),
        "openapi": client.get("/openapi.json"),
        "400": client.post("/api/reply", json={"message": ""}),
        "404": client.get("/nothing"),
        "405": client.get("/api/reply"),
        "415": client.post("/api/reply", data=BODY, content_type="text/plain"),
        "500": client.get("/boom"),
    }
    assert [r.status_code for r in responses.values()] == [200, 200, 200, 200, 400, 404, 405,
                                                           415, 500]
    for name, response in responses.items():
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe" not in policy
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["Referrer-Policy"] == "no-referrer"


VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.violations.push(event.violatedDirective));
"""


@pytest.mark.slow
def test_chat_page_works_under_its_csp_and_the_browser_enforces_it(page, live_server,  # noqa: F811
                                                                    demo_bundle):
    page.add_init_script(VIOLATIONS)
    page.goto(serve(live_server, demo_bundle))
    send(page, "hi there")
    page.locator(".row.bot:not(.typing) .bubble").first.wait_for()
    assert page.evaluate("window.violations") == []  # the page needs nothing the CSP forbids
    # ... and an injected inline script (what an XSS would add) does not run
    page.evaluate("""() => {
      const script = document.createElement("script");
      script.textContent = "window.injected = true";
      document.body.appendChild(script);
    }""")
    wait_for(page, lambda: page.evaluate("window.violations.length") > 0)
    assert page.evaluate("window.injected") is None
    assert page.evaluate("window.violations")[0].startswith("script-src")


# --- JSON bodies only -----------------------------------------------------------------


@pytest.fixture
def client(demo_bundle):
    return create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0}).test_client()


@pytest.mark.parametrize("content_type", [
    "text/plain",  # what a cross-site form or fetch may send without a CORS preflight
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",  # the body is read as UTF-8, whatever it says
    "application/json; version=2",
    "application/jsonx",
    "application/merge-patch+json",
])
def test_reply_bodies_not_sent_as_json_are_415_naming_the_type(client, content_type):
    response = client.post("/api/reply", data=BODY, content_type=content_type)
    code, message = error_of(response)
    assert response.status_code == 415 and code == "unsupported_media_type"
    assert repr(content_type) in message


def test_reply_body_without_a_content_type_is_415(client):
    response = client.post("/api/reply", data=BODY)
    assert response.status_code == 415 and "got none" in error_of(response)[1]


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8",
    'application/json;charset="utf-8"',
])
def test_json_with_or_without_a_utf8_charset_is_accepted(client, content_type):
    assert client.post("/api/reply", data=BODY, content_type=content_type).status_code == 200


def test_openapi_documents_the_415(client):
    responses = client.get("/openapi.json").get_json()["paths"]["/api/reply"]["post"]["responses"]
    assert "415" in responses


def assert_bodies_over_the_limit_are_413_chunked_or_not(url: str) -> int:
    """A body sent chunked (no Content-Length) is measured like a declared one: over the
    limit it is refused, never cut at the limit and read as a whole body. Returns how
    many requests it sent."""
    def post(body: bytes, chunked: bool) -> requests.Response:
        # requests sends a generator's pieces chunked and bytes with a Content-Length
        data = (body[at:at + 4096] for at in range(0, len(body), 4096)) if chunked else body
        return requests.post(f"{url}/api/reply", data=data, timeout=30,
                             headers={"Content-Type": "application/json"})

    def padded(size: int, tail: bytes = b"") -> bytes:
        head = b'{"message": "hi"}'
        return head + b" " * (size - len(head) - len(tail)) + tail

    # cut at the limit, the first two would be valid JSON and the last invalid
    too_large = (padded(MAX_BODY_BYTES + 1), padded(37_000, b"GARBAGE"),
                 padded(100_000, b"GARBAGE"))
    for chunked in (True, False):
        assert post(padded(MAX_BODY_BYTES), chunked).status_code == 200
        for body in too_large:
            response = post(body, chunked)
            assert response.status_code == 413, (len(body), chunked, response.text)
            assert response.json()["error"]["code"] == "too_large"
    return 2 * (1 + len(too_large))


def test_bodies_over_the_limit_are_413_chunked_or_not(live_server, demo_bundle):
    url = live_server(create_app({"bundle": str(demo_bundle), "rate_limit_per_s": 0}))
    assert_bodies_over_the_limit_are_413_chunked_or_not(url)


def test_telegram_webhook_refuses_non_json_bodies_like_the_api(demo_bundle):
    client = create_app({"bundle": str(demo_bundle),
                         "telegram_webhook_secret": KEY}).test_client()
    response = client.post("/telegram/webhook", data=json.dumps({"update_id": 1}),
                           content_type="text/plain",
                           headers={"X-Telegram-Bot-Api-Secret-Token": KEY})
    assert response.status_code == 415
    assert error_of(response)[0] == "unsupported_media_type"


# --- patterns mean what JSON Schema (ECMA-262) says -----------------------------------

SESSION_ID = reply_request_schema([])["properties"]["session_id"]["pattern"]
MESSAGE = reply_request_schema([])["properties"]["message"]["pattern"]
PATTERNS = [SESSION_ID, MESSAGE, r"^\d+$", r"^\w+$", r"^\s+$", r"^.$", r"^a.c$",
            r"[\s\d]", r"^(?:ab|c\.)+$", r"^[\^\]-]$"]
STRINGS = ["abc", "abc\n", "\nabc", "a\r", "abc\r\n", "", "12", "\u0663", "\u00e9", "ab_9",
           "x y", "a:b.c-d_e", "\u00a0", "\ufeff", "\u3000", "\x1c", "\u2028", "a\u2029c",
           "a\nc", "\U0001f600", "abc.", "^", "]", "-"]


def matches(string: str, pattern: str) -> bool:
    try:
        validate(string, {"type": "string", "pattern": pattern})
    except ValidationError:
        return False
    return True


def test_dollar_is_the_end_of_the_string():
    assert not matches("abc\n", SESSION_ID)
    assert matches("abc", SESSION_ID)
    assert not matches("\u00a0\u2028\ufeff", MESSAGE) and matches("\x1c", MESSAGE)


@pytest.mark.skipif(not shutil.which("node"), reason="no node to run ECMA-262 regexes")
def test_patterns_agree_with_an_ecma_262_engine():
    script = ("const [patterns, strings] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(patterns.map(p => "
              "strings.map(s => new RegExp(p, 'u').test(s)))));")
    result = subprocess.run(["node", "-e", script], input=json.dumps([PATTERNS, STRINGS]),
                            capture_output=True, text=True, timeout=60, check=True)
    ecma = json.loads(result.stdout)
    ours = [[matches(string, pattern) for string in STRINGS] for pattern in PATTERNS]
    disagree = [(pattern, string) for pattern, want, got in zip(PATTERNS, ecma, ours, strict=True)
                for string, w, g in zip(STRINGS, want, got, strict=True) if w != g]
    assert disagree == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"a": [1.0, float("-inf")]}])
def test_nan_and_infinities_are_not_numbers(value):
    schema = {"type": "number"} if isinstance(value, float) else \
        {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "number"}}}}
    with pytest.raises(ValidationError, match="must be a number"):
        validate(value, schema)


@pytest.mark.parametrize("pattern", [r"\bword", r"\p{L}", r"(a)\1", r"(?<name>a)", r"[]",
                                     r"[\S]"])
def test_pattern_syntax_whose_meaning_may_differ_is_refused(pattern):
    with pytest.raises(AssertionError, match="not supported"):
        validate("x", {"type": "string", "pattern": pattern})


# --- rate limits ----------------------------------------------------------------------


def keyed_client(demo_bundle, **settings):
    return create_app({"bundle": str(demo_bundle), "api_key": KEY, "rate_limit_per_s": 0,
                       "auth_fail_per_s": 0.001, "auth_fail_burst": 3, **settings}).test_client()


def post(client, address: str, key: str | None):
    headers = {"X-API-Key": key} if key else {}
    return client.post("/api/reply", json={"message": "hi"}, headers=headers,
                       environ_base={"REMOTE_ADDR": address})


def test_wrong_keys_are_limited_per_address_then_no_key_is_checked(demo_bundle):
    client = keyed_client(demo_bundle)
    statuses = [post(client, "10.0.0.1", key).status_code
                for key in ("guess1", None, "guess3", "guess4")]
    assert statuses == [401, 401, 401, 429]
    limited = post(client, "10.0.0.1", KEY)  # a right guess now would tell nothing
    code, message = error_of(limited)
    assert limited.status_code == 429 and code == "rate_limited" and "API key" in message
    assert int(limited.headers["Retry-After"]) >= 1
    assert post(client, "10.0.0.2", KEY).status_code == 200  # other addresses are unaffected
    assert post(client, "10.0.0.2", "guess").status_code == 401


def test_right_keys_do_not_use_up_the_failure_budget(demo_bundle):
    client = keyed_client(demo_bundle)
    assert [post(client, "10.0.0.1", KEY).status_code for _ in range(5)] == [200] * 5
    assert [post(client, "10.0.0.1", "guess").status_code for _ in range(4)] == [401] * 3 + [429]


def test_each_key_holder_address_has_its_own_reply_bucket(demo_bundle):
    client = keyed_client(demo_bundle, rate_limit_per_s=0.001, rate_limit_burst=2)
    assert [post(client, "10.0.0.1", KEY).status_code for _ in range(3)] == [200, 200, 429]
    assert post(client, "10.0.0.2", KEY).status_code == 200  # not starved by 10.0.0.1


@pytest.mark.parametrize("path", ["/api/personas", "/openapi.json", "/metrics"])
def test_read_routes_need_the_key_only_when_configured(demo_bundle, path):
    assert keyed_client(demo_bundle).get(path).status_code == 200
    guarded = keyed_client(demo_bundle, api_key_for_reads=True)
    assert error_of(guarded.get(path)) == ("unauthorized", "missing or wrong API key "
                                           "(Authorization: Bearer KEY or X-API-Key)")
    assert guarded.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert guarded.get("/healthz").status_code == 200  # probes stay open


def test_workers_sharing_a_buckets_file_share_the_burst(tmp_path):
    path = str(tmp_path / "ratelimit.sqlite")
    now = [1000.0]
    worker_a, worker_b = (RateLimiter("reply", rate_per_s=1, burst=3, buckets=Buckets(path),
                                      clock=lambda: now[0]) for _ in range(2))
    waits = [limiter.acquire("10.0.0.1") for limiter in (worker_a, worker_b) * 3]
    assert waits == [0, 0, 0, 1, 1, 1]
    worker_b.release("10.0.0.1")  # a token given back on one worker is there for the other
    assert worker_a.acquire("10.0.0.1") == 0


def test_buckets_of_clients_gone_quiet_are_dropped(tmp_path):
    path = str(tmp_path / "ratelimit.sqlite")
    now = [1000.0]
    limiter = RateLimiter("reply", rate_per_s=1, burst=2, buckets=Buckets(path),
                          clock=lambda: now[0])
    for client in ("a", "b", "c"):
        limiter.acquire(client)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM buckets").fetchone()[0] == 3
    now[0] += 2  # every bucket is full again: forgetting it changes no answer
    assert limiter.acquire("d") == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT key FROM buckets").fetchall() == [("reply:d",)]
