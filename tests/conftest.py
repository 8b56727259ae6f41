"""Shared fixtures. Every test runs offline and on 127.0.0.1 only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_BUNDLE = ROOT / "data" / "models" / "demo"

# TensorFlow is chatty and greedy with threads; tests run on 2 shared cores.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Servers and pollers the tests start serve the LSTM demo (milliseconds a reply) unless a
# test says otherwise; `make run`'s default, the pretrained demo, has tests of its own kind.
os.environ.setdefault("DOPPEL_BUNDLE", str(DEMO_BUNDLE))


def require(available: bool, what: str) -> None:
    """Skip a test whose tool this machine lacks, except under CI=true: there it fails,
    so a green CI run means the browser and Lambda tests really ran."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required under CI=true (see the Makefile's test target)", pytrace=False)
    pytest.skip(what)


@pytest.fixture
def utc(monkeypatch):
    """Read local times in UTC: formats that store instants (Slack, Meta) convert them to
    the machine's zone, which tests must not depend on."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def run_cli(tmp_path):
    """Run `python -m PACKAGE ...` in a fresh process from the repository root."""
    import subprocess

    def run(package: str, *args: str, input: str | None = None, timeout: float = 300):
        return subprocess.run(
            [sys.executable, "-m", package, *map(str, args)],
            cwd=ROOT,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --- reply service fixtures (added by the reply-service helper) --------------------------


@pytest.fixture(scope="session")
def demo_bundle() -> Path:
    """The shipped demo model bundle; tests that serve replies use the real thing."""
    if not (DEMO_BUNDLE / "bundle.json").is_file():
        pytest.skip("no demo model bundle at data/models/demo")
    return DEMO_BUNDLE


@pytest.fixture
def live_server():
    """`url = live_server(app)`: serve a WSGI app on a free 127.0.0.1 port in a thread."""
    import threading

    from werkzeug.serving import make_server

    running = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(timeout=10)


# --- the pretrained path at test size (tests/tiny_llama.py) ----------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh serving-graph cache folder (DOPPEL_CACHE) for the test."""
    monkeypatch.setenv("DOPPEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A 2-block llama GGUF with random weights (tests/tiny_llama.py)."""
    from tests.tiny_llama import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("base") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_base) -> Path:
    """One real fine-tune of the tiny base on the chitchat sample (CLI, fresh process)."""
    import subprocess

    from tests.tiny_llama import write_manifest

    folder = tmp_path_factory.mktemp("tiny-pretrained")
    manifest = write_manifest(folder, str(tiny_base))
    out = folder / "bundle"
    result = subprocess.run(
        [sys.executable, "-m", "model", "train", str(manifest), "--out", str(out),
         "--work", str(folder / "work")], cwd=ROOT, capture_output=True, text=True,
        timeout=600, env={**os.environ, "DOPPEL_CACHE": str(folder / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    return out
