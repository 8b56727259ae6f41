"""`python -m backend serve` for real: gunicorn workers on 127.0.0.1, hit over HTTP, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest
from tests.test_api_hardening import assert_bodies_over_the_limit_are_413_chunked_or_not

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log_path: Path, limit_s: float = 120):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: "
                                 f"{log_path.read_text()}")
        try:
            if requests.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        time.sleep(0.2)
    raise AssertionError("server never became ready")


def test_gunicorn_workers_serve_replies_and_metrics_then_stop_cleanly(demo_bundle, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--bundle", str(demo_bundle),
             "--port", str(port), "--workers", "2", "--threads", "4"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(url, process, log_path)
        replies = [requests.post(f"{url}/api/reply", timeout=30,
                                 json={"message": f"hello number {i}", "temperature": 0})
                   for i in range(6)]
        assert [r.status_code for r in replies] == [200] * 6
        assert all(r.json()["messages"] for r in replies)
        assert requests.post(f"{url}/api/reply", json={"message": ""}, timeout=30) \
            .json()["error"]["code"] == "invalid_field"
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        # whichever worker answers, the counts of both workers are added up
        assert 'doppel_http_requests_total{method="POST",route="/api/reply",status="200"} 6.0' \
            in metrics
        assert "doppel_reply_latency_seconds_count 6.0" in metrics
        wait_workers(url, 2)  # one live model_info series per worker
        assert_session_continues_across_workers(url, demo_bundle)
        assert_unparseable_requests_get_json_errors(url)
        sized = assert_bodies_over_the_limit_are_413_chunked_or_not(url)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # gunicorn's own lines too ("Handling signal: term"): one JSON line per event
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {"Handling signal: term", "Shutting down: Master"} <= {
        line.get("message") for line in lines if line["logger"] == "gunicorn.error"}
    replies_logged = [line for line in lines
                      if line["event"] == "request" and line["route"] == "/api/reply"]
    assert len(replies_logged) == 7 + len(SESSION_TURNS) + sized
    assert {line["status"] for line in replies_logged} == {200, 400, 413}
    assert "hello number" not in log_path.read_text()  # message text is not logged


def wait_workers(url: str, count: int, limit_s: float = 60) -> None:
    """Until `count` workers have loaded the model: each adds its model_info series."""
    deadline = time.monotonic() + limit_s
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    while metrics.count("doppel_model_info{") < count and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert metrics.count("doppel_model_info{") == count


def test_rate_limits_hold_across_workers(demo_bundle, tmp_path):
    """Two workers share the buckets (`serve` gives them one file): the reply burst and the
    failed-key burst are each granted once per client, not once per worker. The requests
    come on many fresh connections at once, so both workers answer some of them."""
    burst, failures, key = 4, 3, "s3cret"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    # no refill while the test runs: 1 token per 1000 s
    env = {**os.environ, "DOPPEL_API_KEY": key, "DOPPEL_RATE_LIMIT_PER_S": "0.001",
           "DOPPEL_RATE_LIMIT_BURST": str(burst), "DOPPEL_AUTH_FAIL_PER_S": "0.001",
           "DOPPEL_AUTH_FAIL_BURST": str(failures)}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--bundle", str(demo_bundle),
             "--port", str(port), "--workers", "2", "--threads", "4"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(url, process, log_path)
        wait_workers(url, 2)

        def post(given_key: str) -> int:
            return requests.post(f"{url}/api/reply", json={"message": "hi"}, timeout=30,
                                 headers={"X-API-Key": given_key}).status_code

        with ThreadPoolExecutor(8) as pool:
            replies = sorted(pool.map(post, [key] * 24))
            guesses = sorted(pool.map(post, ["guess"] * 24))
        assert replies == [200] * burst + [429] * (24 - burst)
        assert guesses == [401] * failures + [429] * (24 - failures)
    finally:
        process.terminate()
        process.wait(timeout=60)


SESSION_TURNS = ["hey, free on friday?", "great, see you then", "should I bring anything?",
                 "ok cool"]


def assert_unparseable_requests_get_json_errors(url: str) -> None:
    """gunicorn refuses these before the app runs; the answer is still our JSON error."""
    for status, code, request in (
        (431, "headers_too_large", dict(headers={"X-Big": "a" * 9000})),
        (414, "uri_too_long", dict(params={"q": "b" * 5000})),
    ):
        response = requests.get(f"{url}/healthz", timeout=10, **request)
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.json()["error"]["code"] == code


def assert_session_continues_across_workers(url: str, bundle: Path) -> None:
    """Whichever worker answers, it sees the session's earlier turns (shared SQLite)."""
    replier = load_replier(bundle)
    history: list[tuple[str, str | None]] = []
    session_id = "new"
    for message in SESSION_TURNS:
        got = requests.post(f"{url}/api/reply", timeout=30, json={
            "message": message, "session_id": session_id, "temperature": 0,
            "seed": 5}).json()  # seeded: a reply that repeats the bot is drawn again
        assert session_id in ("new", got["session_id"])  # one session throughout
        session_id = got["session_id"]
        expected = replier.reply_batch([ReplyRequest(
            message, [text for text, _ in history], None, {"strategy": "greedy", "seed": 5},
            speakers=[speaker for _, speaker in history] + [None] if history else None)])[0]
        assert got["reply"] == expected.text
        history = (history + [(message, None), (expected.text, expected.persona)])[-6:]


def test_serve_refuses_a_missing_bundle_with_one_line(run_cli, tmp_path):
    result = run_cli("backend", "serve", "--bundle", tmp_path / "nowhere", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "nowhere" in result.stderr


@pytest.mark.parametrize(("flag", "value"), [
    ("--workers", "0"),  # gunicorn would start with no worker and hang every request
    ("--threads", "0"), ("--port", "99999"), ("--port", "0"), ("--timeout", "0"),
])
def test_serve_refuses_bad_flags_before_gunicorn_starts(run_cli, demo_bundle, flag, value):
    result = run_cli("backend", "serve", "--bundle", demo_bundle, flag, value, timeout=60)
    assert result.returncode == 2
    assert f"error: argument {flag}: expected" in result.stderr
    assert "Traceback" not in result.stderr and "gunicorn" not in result.stderr


@pytest.mark.parametrize("dev", [[], ["--dev"]], ids=["gunicorn", "dev"])
def test_serve_refuses_a_bad_setting_with_one_line(run_cli, demo_bundle, monkeypatch, dev):
    monkeypatch.setenv("DOPPEL_RATE_LIMIT_PER_S", "abc")
    result = run_cli("backend", "serve", "--bundle", demo_bundle, "--port", str(free_port()),
                     *dev, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "DOPPEL_RATE_LIMIT_PER_S" in result.stderr


def test_a_worker_that_fails_to_boot_is_logged_as_json_lines(run_cli, demo_bundle, tmp_path,
                                                            monkeypatch):
    monkeypatch.setenv("DOPPEL_SESSIONS_DB", str(tmp_path / "no-such-folder" / "s.sqlite"))
    result = run_cli("backend", "serve", "--bundle", demo_bundle, "--port", str(free_port()),
                     "--workers", "1", timeout=120)
    assert result.returncode == 3  # gunicorn's "worker failed to boot"
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    failed = [line for line in lines if line["event"] == "worker_boot_failed"]
    assert len(failed) == 1 and "unable to open database file" in failed[0]["traceback"]
    assert "Reason: Worker failed to boot." in [line.get("message") for line in lines]


def test_dev_server_serves_the_same_app(demo_bundle, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--dev", "--bundle", str(demo_bundle),
             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, process, log_path)
        reply = requests.post(f"{url}/api/reply", json={"message": "hi"}, timeout=30)
        assert reply.status_code == 200 and reply.json()["messages"]
        assert "<title>" in requests.get(url, timeout=10).text
    finally:
        process.terminate()
        process.wait(timeout=30)
