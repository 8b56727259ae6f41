"""SSM secrets and the DynamoDB state table, against a real moto server."""

from __future__ import annotations

from backend.bots.ledger.dynamo import DynamoState
from backend.config import SETTINGS
from deploy.secrets_store import SECRET_ENV, load_secrets
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)

SECRETS = {"X_API_KEY": "ck-Zq81", "X_API_SECRET": "cs-77aa", "X_ACCESS_TOKEN": "at-19ff",
           "X_ACCESS_SECRET": "as-0b0b", "X_BEARER_TOKEN": "bt-5e5e"}


def test_secret_names_are_backend_settings():
    assert set(SECRET_ENV) <= {setting.env for setting in SETTINGS.values()}


def test_put_from_environment_stores_securestrings_and_never_prints_values(
        aws, run_cli, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    put = run_cli("deploy", "secrets", "put", "--stage", "dev", *aws.args())
    assert put.returncode == 0, put.stderr
    assert put.stdout.splitlines() == [f"/doppel/dev/{name}: stored" for name in sorted(SECRETS)]
    again = run_cli("deploy", "secrets", "put", "--stage", "dev", *aws.args())
    assert again.stdout.splitlines() == [
        f"/doppel/dev/{name}: unchanged" for name in sorted(SECRETS)]
    listed = run_cli("deploy", "secrets", "list", "--stage", "dev", *aws.args())
    assert listed.stdout.splitlines() == [
        f"/doppel/dev/{name}\tSecureString" for name in sorted(SECRETS)]
    for result in (put, again, listed):
        for value in SECRETS.values():
            assert value not in result.stdout + result.stderr

    ssm = aws.client("ssm")
    assert ssm.get_parameter(Name="/doppel/dev/X_API_KEY")["Parameter"]["Type"] == "SecureString"
    environ = {}
    assert load_secrets(ssm, "dev", environ) == sorted(SECRETS)
    assert environ == SECRETS
    assert load_secrets(ssm, "prod", environ := {}) == [] and environ == {}


def test_put_from_stdin_and_delete(aws, run_cli, monkeypatch):
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    piped = "# the bot's credentials\nX_API_KEY=ck-stdin\n\nX_ACCESS_TOKEN = at-stdin\n"
    put = run_cli("deploy", "secrets", "put", "--stage", "prod", "--stdin", *aws.args(),
                  input=piped)
    assert put.returncode == 0, put.stderr
    environ = {}
    load_secrets(aws.client("ssm"), "prod", environ)
    assert environ == {"X_API_KEY": "ck-stdin", "X_ACCESS_TOKEN": "at-stdin"}

    deleted = run_cli("deploy", "secrets", "delete", "--stage", "prod", *aws.args())
    assert deleted.stdout.splitlines() == [
        "deleted /doppel/prod/X_ACCESS_TOKEN", "deleted /doppel/prod/X_API_KEY"]
    assert load_secrets(aws.client("ssm"), "prod", {}) == []


def test_bad_secret_input_is_a_clear_error_without_the_value(aws, run_cli, monkeypatch):
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    bad = run_cli("deploy", "secrets", "put", "--stage", "dev", "--stdin", *aws.args(),
                  input="X_API_KEY=fine\nsk-live-pasted-secret\n")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: <stdin>:2: expected NAME=value with NAME one of ")
    assert "sk-live-pasted-secret" not in bad.stderr + bad.stdout
    assert load_secrets(aws.client("ssm"), "dev", {}) == []  # nothing half-stored

    empty = run_cli("deploy", "secrets", "put", "--stage", "dev", *aws.args())
    assert empty.returncode == 2 and "no secrets given" in empty.stderr


def test_state_table_create_is_idempotent_and_is_what_the_poller_uses(aws, run_cli):
    first = run_cli("deploy", "state", "create", "--stage", "dev", *aws.args())
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "doppel-dev-state: created (BOT_STATE=dynamodb://doppel-dev-state)")
    second = run_cli("deploy", "state", "create", "--stage", "dev", *aws.args())
    assert second.stdout.startswith("doppel-dev-state: exists")
    assert aws.client("dynamodb").list_tables()["TableNames"] == ["doppel-dev-state"]

    state = DynamoState("doppel-dev-state", client=aws.client("dynamodb"))
    assert state.claim("1001", "42", owner="run-a", now=100.0)
    assert not state.claim("1001", "42", owner="run-b", now=101.0)
    status = run_cli("deploy", "state", "status", "--stage", "dev", *aws.args())
    assert status.stdout.startswith("doppel-dev-state: ACTIVE, keys pk (HASH), sk (RANGE)")

    deleted = run_cli("deploy", "state", "delete", "--table", "doppel-dev-state", *aws.args())
    assert deleted.stdout.strip() == "doppel-dev-state: deleted"
    gone = run_cli("deploy", "state", "status", "--stage", "dev", *aws.args())
    assert (gone.returncode, gone.stdout.strip()) == (1, "doppel-dev-state: absent")
