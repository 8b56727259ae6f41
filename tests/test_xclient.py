"""XClient's retry rule over real sockets: reads are retried, a post only when it never left."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from backend.bots.x.client import TransientError, UnconfirmedPost, make_client
from backend.config import load_config
from backend.local.x_sandbox import serve
from backend.local.x_world import RATE_LIMITS, World


class DroppingServer:
    """Accepts connections on 127.0.0.1, reads each request whole, then resets the
    connection without an answer: what a failure after the request reached X looks like."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[tuple[bytes, bytes]] = []  # (request line, body)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            with connection:
                head, body = self._read_request(connection)
                self.requests.append((head.split(b"\r\n")[0], body))
                # linger 0: close with a reset, as a dropped connection does
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))

    @staticmethod
    def _read_request(connection) -> tuple[bytes, bytes]:
        """(head, body) of one HTTP request, read up to its Content-Length or EOF."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:
                break
            body += chunk
        return head, body

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def dropping():
    server = DroppingServer()
    yield server
    server.close()


def client_for(base_url: str, sleeps: list):
    config = load_config({"x_api_base": base_url, "x_backoff_s": 0.01,
                          "x_request_timeout_s": 5.0, "x_retry_attempts": 3})
    return make_client(config, sleep=sleeps.append, seed=0)


def test_a_post_reset_after_sending_is_unconfirmed_and_not_retried(dropping):
    sleeps = []
    with pytest.raises(UnconfirmedPost, match="may have posted"):
        client_for(dropping.url, sleeps).post_reply("hi", "123")
    ((line, body),) = dropping.requests  # sent whole, once
    assert line == b"POST /2/tweets HTTP/1.1" and b'"text": "hi"' in body and sleeps == []


def test_a_read_reset_is_retried(dropping):
    sleeps = []
    with pytest.raises(TransientError):
        client_for(dropping.url, sleeps).lookup(["123"])
    assert len(dropping.requests) == 3 and len(sleeps) == 2


def test_a_post_refused_before_connecting_is_retried():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    sleeps = []
    with pytest.raises(TransientError) as raised:
        client_for(f"http://127.0.0.1:{port}", sleeps).post_reply("hi", "123")
    assert not isinstance(raised.value, UnconfirmedPost)
    assert len(sleeps) == 2


def test_a_server_error_on_a_post_is_unconfirmed_and_not_retried():
    sandbox = serve(World())
    try:
        sandbox.world.add_fault({"endpoint": "create_tweet", "status": 503, "count": -1})
        sleeps = []
        with pytest.raises(UnconfirmedPost, match="503"):
            client_for(sandbox.url, sleeps).post_reply("hi", "123")
        remaining, _ = sandbox.world.windows["create_tweet"]
        assert remaining == RATE_LIMITS["create_tweet"] - 1 and sleeps == []  # one request
    finally:
        sandbox.stop()
