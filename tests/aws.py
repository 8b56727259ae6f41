"""A real moto server on 127.0.0.1 for the deploy tests (import the fixtures you use).

`moto_server` starts one ThreadedMotoServer per test session; `aws` (import `aws_fixture`) resets its state
before each test and points boto3 (in this process and in any subprocess started from
it) at the server with dummy credentials, so nothing can reach AWS.
"""

from __future__ import annotations

import urllib.request

import pytest

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


class AwsFixture:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.region = REGION

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def args(self) -> list[str]:
        """The command-line options that point a deploy command at the server."""
        return ["--endpoint-url", self.endpoint, "--region", REGION]


@pytest.fixture(name="aws")
def aws_fixture(moto_server, monkeypatch):
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=30).read()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return AwsFixture(moto_server)
