"""The real Lambda package, built once per session, unzipped and driven through Zappa's
handler in a fresh Python 3.12 (`-I -S`: the package and the standard library only),
with S3, SSM and DynamoDB on a moto server and the X sandbox on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.bots.x.client import SANDBOX_CREDENTIALS
from backend.local.telegram_sandbox import TelegramWorld
from backend.local.telegram_sandbox import serve as serve_telegram
from backend.local.x_sandbox import serve
from backend.local.x_world import World
from deploy.artifacts import upload_bundle
from deploy.lambda_package import (
    BOTOCORE_SERVICES,
    DATA_FILES,
    MAX_UNZIPPED_BYTES,
    build_tree,
    find_python312,
    project_files,
)
from deploy.secrets_store import put_secrets
from deploy.state import ensure_table
from deploy.zappa_config import StageValues, stage_settings
from tests.aws import REGION, aws_fixture, moto_server  # noqa: F401  (fixtures)
from tests.conftest import require
from tests.lambda_driver import MARK

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).with_name("lambda_driver.py")
BUCKET = "doppel-lambda-e2e"
TELEGRAM_TOPS = {"telegram", "httpx", "httpcore", "anyio", "h11"}  # top-level import names
# In the packaging environment on purpose: none of it may end up in the zip or the output.
CANARIES = {"X_API_KEY": "canary-ck-5f1e", "X_API_SECRET": "canary-cs-77d0",
            "X_ACCESS_TOKEN": "canary-at-9b2c", "X_ACCESS_SECRET": "canary-as-0e4a",
            "X_BEARER_TOKEN": "canary-bt-c3d1", "DOPPEL_API_KEY": "canary-api-6a6a"}


# Every module of ours in the default package, by file: an import that drags a stand-in
# (backend/local/), test code or training into the Lambda zip shows up here as a diff.
ZIP_MODULES = {f"{name}.py" for name in (
    "backend/__init__", "backend/config", "backend/sqlite_file",
    "backend/web/__init__", "backend/web/api", "backend/web/app", "backend/web/batcher",
    "backend/web/metrics", "backend/web/pages", "backend/web/ratelimit", "backend/web/schema",
    "backend/web/service", "backend/web/sessions",
    "backend/bots/__init__", "backend/bots/replies", "backend/bots/rules", "backend/bots/skips",
    "backend/bots/ledger/__init__", "backend/bots/ledger/dynamo", "backend/bots/ledger/records",
    "backend/bots/ledger/sqlite", "backend/bots/ledger/stores",
    "backend/bots/x/__init__", "backend/bots/x/client", "backend/bots/x/poller",
    "backend/bots/x/tweet_text",
    "deploy/__init__", "deploy/artifacts", "deploy/aws", "deploy/bootstrap", "deploy/lambda_entry",
    "deploy/secrets_store",
    "model/__init__", "model/cli", "model/errors", "model/files", "model/logs", "model/pii",
    "model/text",
    "model/serve/__init__", "model/serve/beam", "model/serve/bundle", "model/serve/decode",
    "model/serve/generate", "model/serve/load",
    "model/serve/memorisation", "model/serve/retrieval", "model/serve/runtime",
    "model/serve/tokenizer", "model/serve/pretrained/__init__", "model/serve/pretrained/assemble",
    "model/serve/pretrained/base", "model/serve/pretrained/cache", "model/serve/pretrained/prompt",
    "model/serve/pretrained/replier",
)}
# --with-telegram adds the webhook route and the bot it drives.
TELEGRAM_ZIP_MODULES = ZIP_MODULES | {"backend/bots/telegram/__init__.py", "backend/bots/telegram/api.py",
                                      "backend/bots/telegram/chat.py",
                                      "backend/bots/telegram/webhook.py"}


@dataclass
class Built:
    zip_path: Path
    output: str
    unzipped: Path


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    build = tmp_path_factory.mktemp("lambda-build")
    env = dict(os.environ, AWS_DEFAULT_REGION=REGION, **CANARIES)
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "lambda", "package", "--stage", "dev",
         "--build-dir", str(build)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    zip_path = build / "doppel-dev.zip"
    unzipped = tmp_path_factory.mktemp("lambda-unzipped")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(unzipped)
    return Built(zip_path, result.stdout + result.stderr, unzipped)


@pytest.fixture(scope="session")
def python312() -> str:
    found = find_python312()
    require(found is not None, "no Python 3.12 interpreter here to run the python3.12 package")
    return found


def test_only_the_allowlisted_data_files_ship():
    """Non-Python files come from an allowlist: the sandbox's page and a stray file stay home."""
    import sysconfig

    stray = ROOT / "backend" / "web" / "static" / "stray-local-notes.txt"
    stray.write_text("not for Lambda")
    try:
        files = project_files(Path(sysconfig.get_paths()["purelib"]), with_telegram=False)
    finally:
        stray.unlink()
    data = {name for name in files if not name.endswith(".py")}
    assert data == set(DATA_FILES) and all(files[name].is_file() for name in data)


def test_the_package_takes_exactly_these_modules_of_ours():
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    for with_telegram, expected in ((False, ZIP_MODULES), (True, TELEGRAM_ZIP_MODULES)):
        files = project_files(site, with_telegram=with_telegram)
        assert {name for name in files if name.endswith(".py")} == expected


def test_the_built_zip_holds_no_stand_in_and_no_test_code(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        names = archive.namelist()
    ours = {name for name in names
            if name.split("/")[0] in ("model", "backend", "deploy", "tests")
            and name.endswith(".py")}
    assert ours == ZIP_MODULES
    assert not [name for name in names if name.startswith(("backend/local/", "tests/"))]


def test_package_holds_the_serving_code_and_nothing_of_training(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        infos = archive.infolist()
        settings_py = archive.read("zappa_settings.py").decode()
    names = {info.filename for info in infos}
    unzipped = sum(info.file_size for info in infos)

    assert {"handler.py", "zappa_settings.py", "zappa/wsgi.py", "deploy/lambda_entry.py",
            "backend/web/app.py", "backend/bots/x/poller.py", "backend/bots/ledger/dynamo.py",
            "backend/web/templates/chat.html", "model/serve/runtime.py", "model/serve/tokenizer.py",
            "onnxruntime/__init__.py", "numpy/__init__.py", "tokenizers/__init__.py",
            "model/serve/pretrained/replier.py", "gguf/__init__.py", "yaml/__init__.py",
            "flask/__init__.py", "tweepy/__init__.py", "boto3/__init__.py"} <= names
    tops = {name.split("/")[0] for name in names}
    for forbidden in ("tensorflow", "keras", "tf_keras", "tensorboard", "onnx", "torch",
                      "gunicorn", "huggingface_hub", "hf_xet", "bin", "google",
                      "packaging", "flatbuffers"):
        assert forbidden not in tops
    # The Telegram webhook is opt-in (--with-telegram): not in the default package.
    assert not TELEGRAM_TOPS & tops
    assert not names & {"backend/bots/telegram/webhook.py", "backend/bots/telegram/chat.py"}
    assert not [name for name in names if name.startswith(("onnxruntime/transformers/",
                                                            "onnxruntime/tools/", "numpy/f2py/"))]
    assert not names & {"model/train/trainer.py", "model/train/seq2seq.py", "model/train/layers.py",
                        "model/train/export.py", "deploy/ec2.py", "deploy/lambda_package.py"}
    assert not [name for name in names if "/tests/" in name]
    services = {name.split("/")[2] for name in names
                if name.startswith("botocore/data/") and name.count("/") >= 3}
    assert services == set(BOTOCORE_SERVICES)
    # Byte-compiled whenever a Python 3.12 is at hand: /var/task is read-only, so otherwise
    # every cold start compiles every module it imports.
    compiled = "model/serve/__pycache__/runtime.cpython-312.pyc" in names
    assert compiled == (find_python312() is not None)
    assert compiled == ("(byte-compiled for python3.12; without the Telegram webhook)"
                        in built.output)

    sizes = re.search(r"([\d.]+) MiB zipped, ([\d.]+) MiB unzipped, (\d+) files", built.output)
    assert sizes, built.output
    assert float(sizes[1]) == round(built.zip_path.stat().st_size / 2**20, 1)
    assert float(sizes[2]) == round(unzipped / 2**20, 1)
    assert int(sizes[3]) == len(infos)
    assert unzipped < MAX_UNZIPPED_BYTES

    assert "APP_MODULE='deploy.lambda_entry'\nAPP_FUNCTION='app'\n" in settings_py
    assert f"ENVIRONMENT_VARIABLES={{'AWS_REGION': '{REGION}'}}\n" in settings_py


def test_no_secret_from_the_environment_reaches_the_zip_or_the_output(built):
    with zipfile.ZipFile(built.zip_path) as archive:
        for info in archive.infolist():
            content = archive.read(info)
            for value in CANARIES.values():
                assert value.encode() not in content, info.filename
    for value in CANARIES.values():
        assert value not in built.output


def api_event(path: str, method: str = "GET", body: dict | None = None,
              headers: dict | None = None) -> dict:
    """An API Gateway (REST, proxy integration) event, as Zappa's handler receives it."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com",
               "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
               "X-Forwarded-Port": "443", "Content-Type": "application/json", **(headers or {})}
    return {"resource": "/{proxy+}", "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
            "requestContext": {"stage": "dev", "path": f"/dev{path}", "httpMethod": method,
                               "resourcePath": "/{proxy+}", "requestId": "test-request",
                               "identity": {"sourceIp": "203.0.113.9"}},
            "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}


def scheduled_event() -> dict:
    """The CloudWatch event of the rule Zappa names `<lambda>-<function>` for our schedule."""
    from zappa.core import Zappa

    rule = Zappa.get_event_name("doppel-dev", "deploy.lambda_entry.handle_scheduled")
    return {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "region": REGION, "detail": {},
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{rule}"]}


def drive(python312: str, package: Built | Path, steps: list[dict], env: dict, tmp_path: Path):
    """Run the steps through the handler of `package` (built, or a package directory) in
    a fresh interpreter; parsed lines."""
    steps_path = tmp_path / "steps.json"
    steps_path.write_text(json.dumps(steps))
    package_dir = package.unzipped if isinstance(package, Built) else package
    result = subprocess.run([python312, "-I", "-S", str(DRIVER), str(package_dir),
                             str(steps_path)], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [json.loads(line[len(MARK):]) for line in result.stdout.splitlines()
             if line.startswith(MARK)]
    return {line["step"]: line.get("result") for line in lines}, result.stderr


def seed_aws(aws, demo_bundle, secrets: dict) -> str:
    url = upload_bundle(aws.client("s3"), demo_bundle, BUCKET, "models", REGION).url
    ensure_table(aws.client("dynamodb"), "doppel-dev-state")
    put_secrets(aws.client("ssm"), "dev", secrets)
    return url


def lambda_env(bundle_url: str, tmp_path: Path, **extra) -> dict:
    """The function's environment: exactly what `deploy lambda deploy` has Zappa set."""
    values = StageValues(stage="dev", region=REGION, bucket=BUCKET, bundle_url=bundle_url,
                         state_table="doppel-dev-state")
    deployed = stage_settings(values)["dev"]["aws_environment_variables"]
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("X_", "DOPPEL_", "BOT_"))}
    return env | deployed | {"DOPPEL_BUNDLE_CACHE": str(tmp_path / "lambda-tmp")} | extra


def test_api_reply_through_zappa_handler_with_secrets_from_ssm(
        aws, built, python312, demo_bundle, tmp_path):
    bundle_url = seed_aws(aws, demo_bundle, {"DOPPEL_API_KEY": "key-from-ssm-31"})
    env = lambda_env(bundle_url, tmp_path, X_API_BASE="http://127.0.0.1:9",
                     BOT_STATE="dynamodb://no-such-table")
    question = {"message": "hey, are you coming tonight?", "seed": 3}
    results, stderr = drive(python312, built, [
        {"event": api_event("/api/reply", "POST", question)},
        {"event": api_event("/api/reply", "POST", question,
                            {"Authorization": "Bearer key-from-ssm-31"})},
        {"event": api_event("/readyz")},
        {"event": scheduled_event()},
    ], env, tmp_path)

    assert results[0]["statusCode"] == 401  # the API key came from SSM at cold start
    assert json.loads(results[0]["body"])["error"]["code"] == "unauthorized"
    assert results[1]["statusCode"] == 200, results[1]
    answer = json.loads(results[1]["body"])
    meta = json.loads((demo_bundle / "bundle.json").read_text())
    assert answer["model"] == meta["name"]
    assert answer["persona"] == meta["default_persona"]
    assert isinstance(answer["reply"], str) and answer["messages"]
    assert results[2]["statusCode"] == 200
    # The poll fails (no state table) inside handle_scheduled, which reports it once and
    # returns: had a TypeError escaped, Zappa would have retried it with fewer arguments.
    assert results[3] == {"ok": False, "error": "ResourceNotFoundException"}
    assert stderr.count("scheduled_poll_failed") == 1
    assert "Function signature is invalid" not in stderr
    assert not {"tensorflow", "keras", "torch"} & set(results["modules"])
    cached = list((tmp_path / "lambda-tmp" / meta["name"]).iterdir())
    assert [path.name for path in cached] == [bundle_url.rsplit("/", 1)[1]]


def test_pretrained_bundle_answers_on_lambda_with_its_base_from_s3(
        aws, built, python312, tiny_bundle, tmp_path):
    # As if trained on another machine: the base path the bundle records exists only
    # while uploading, and Lambda has no base wheel: the base must come from S3.
    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    meta = json.loads((bundle / "bundle.json").read_text())
    moved = tmp_path / "trainer-disk" / "tiny-llama.gguf"
    moved.parent.mkdir()
    shutil.copyfile(meta["base"]["path"], moved)
    (bundle / "bundle.json").write_text(json.dumps(
        {**meta, "base": {**meta["base"], "path": str(moved)}}))
    bundle_url = seed_aws(aws, bundle, {"DOPPEL_API_KEY": "key-31"})
    shutil.rmtree(moved.parent)
    cache = tmp_path / "lambda-cache"
    env = lambda_env(bundle_url, tmp_path, X_API_BASE="http://127.0.0.1:9",
                     DOPPEL_CACHE=str(cache))
    results, stderr = drive(python312, built, [
        {"event": api_event("/readyz")},
        {"event": api_event("/api/reply", "POST", {"message": "hi there!", "seed": 1},
                            {"Authorization": "Bearer key-31"})},
    ], env, tmp_path)

    assert results[0]["statusCode"] == 200, json.loads(results[0]["body"])["reason"]
    assert results[1]["statusCode"] == 200, results[1]
    answer = json.loads(results[1]["body"])
    assert answer["model"] == "tiny-pretrained" and isinstance(answer["reply"], str)
    stored = cache / "bases" / meta["base"]["sha256"] / "tiny-llama.gguf"
    assert stored.is_file()  # fetched at cold start, verified by its sha256
    assert not {"tensorflow", "keras", "torch"} & set(results["modules"])


def test_default_package_with_the_webhook_turned_on_fails_with_a_clear_message(
        aws, built, python312, demo_bundle, tmp_path):
    bundle_url = seed_aws(aws, demo_bundle, {"TELEGRAM_WEBHOOK_SECRET": "tg-secret-8d8d"})
    steps = tmp_path / "steps.json"
    steps.write_text(json.dumps([{"event": api_event("/readyz")}]))
    result = subprocess.run([python312, "-I", "-S", str(DRIVER), str(built.unzipped), str(steps)],
                            env=lambda_env(bundle_url, tmp_path), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("model.errors.InputError: TELEGRAM_WEBHOOK_SECRET is set but the Telegram "
                    "webhook cannot be imported here (no module 'backend.bots.telegram'); "
                    "install python-telegram-bot, or on Lambda package with --with-telegram")
    assert "ModuleNotFoundError" not in result.stderr
    assert "tg-secret-8d8d" not in result.stdout + result.stderr


def test_with_telegram_the_webhook_answers_an_update_through_zappa_handler(
        aws, built, python312, demo_bundle, tmp_path):
    """The --with-telegram layout, not zipped again (same cached site, same code): a
    Telegram update pushed to the webhook is answered through the Bot API stand-in."""
    with zipfile.ZipFile(built.zip_path) as archive:
        settings_py = archive.read("zappa_settings.py").decode()
    tree = build_tree(settings_py, built.zip_path.parent, ROOT / ".cache" / "lambda-wheels",
                      python312, with_telegram=True)
    assert {path.name for path in tree.iterdir()} >= TELEGRAM_TOPS
    bundle_url = seed_aws(aws, demo_bundle, {"TELEGRAM_BOT_TOKEN": "42:lambda",
                                             "TELEGRAM_WEBHOOK_SECRET": "tg-secret-4b4b"})
    # the stage's one table, as `deploy lambda deploy` makes it: the function's environment
    # points the webhook's ledger there too (its keys are "tg<bot>:<update>", never a tweet id)
    ensure_table(aws.client("dynamodb"), "doppel-dev-state")
    telegram = serve_telegram(TelegramWorld())
    try:
        telegram.world.inject({"chat_id": 31, "text": "are you coming tonight?"})
        update = telegram.world.updates[-1]
        results, stderr = drive(python312, tree, [
            {"event": api_event("/telegram/webhook", "POST", update)},
            {"event": api_event("/telegram/webhook", "POST", update,
                                {"X-Telegram-Bot-Api-Secret-Token": "tg-secret-4b4b"})},
        ], lambda_env(bundle_url, tmp_path, TELEGRAM_API_BASE=telegram.url,
                      TELEGRAM_TYPING_S="0"),
            tmp_path)
        sent = [e for e in telegram.world.sent if e["method"] == "sendMessage"]
    finally:
        telegram.stop()
    assert results[0]["statusCode"] == 403  # the route is on; the secret came from SSM
    assert results[1]["statusCode"] == 200, (results[1], stderr[-2000:])
    assert sent and {e["chat_id"] for e in sent} == {31}
    assert "telegram" in results["modules"]


@pytest.fixture
def sandbox():
    running = serve(World(bot_username="doppel"), port=0)
    yield running.url
    running.stop()


def test_scheduled_poll_answers_a_mention_exactly_once(
        aws, built, python312, demo_bundle, sandbox, tmp_path):
    oauth = {"X_API_KEY": SANDBOX_CREDENTIALS["consumer_key"],
             "X_API_SECRET": SANDBOX_CREDENTIALS["consumer_secret"],
             "X_ACCESS_TOKEN": SANDBOX_CREDENTIALS["access_token"],
             "X_ACCESS_SECRET": SANDBOX_CREDENTIALS["access_token_secret"],
             "X_BEARER_TOKEN": SANDBOX_CREDENTIALS["bearer_token"]}
    bundle_url = seed_aws(aws, demo_bundle, oauth)
    mention = {"author": "ana", "text": "@doppel are you coming tonight?"}
    results, stderr = drive(python312, built, [
        {"event": scheduled_event()},  # first start: the backlog is left alone
        {"http": {"method": "POST", "url": f"{sandbox}/sandbox/tweets", "json": mention}},
        {"event": scheduled_event()},
        {"event": scheduled_event()},
        {"http": {"url": f"{sandbox}/sandbox/tweets?author=doppel"}},
        {"expr": "sys.modules['backend.bots.x.poller']._scheduled_poller.replier is "
                 "sys.modules['deploy.lambda_entry'].app.extensions['doppel'].replier"},
    ], lambda_env(bundle_url, tmp_path, X_API_BASE=sandbox), tmp_path)

    assert results[0]["ok"] is True and results[0]["replied"] == 0, stderr[-2000:]
    assert results[2]["ok"] is True and results[2]["replied"] == 1, stderr[-2000:]
    assert results[3] == {**results[3], "ok": True, "replied": 0, "mentions_seen": 0}
    replies = results[4]["tweets"]
    assert len(replies) == 1
    assert replies[0]["referenced_tweets"] == [
        {"type": "replied_to", "id": results[1]["id"]}]
    assert results[5] is True  # the poller answers with the model the app loaded: one per container

    items = aws.client("dynamodb").get_item(
        TableName="doppel-dev-state", Key={"pk": {"S": f"mention#{results[1]['id']}"},
                                           "sk": {"S": "-"}})["Item"]
    assert items["status"]["S"] == "done"
    assert items["reply_id"]["S"] == replies[0]["id"]
