"""Lambda deployment without the package build: Zappa settings, the zappa command line
(--dry-run) with everything it prepares in a moto server, and the packager's checks."""

from __future__ import annotations

import json
import shlex
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from deploy.artifacts import bundle_version, upload_bundle
from deploy.iam import ensure_role, lambda_policy
from deploy.lambda_package import (
    ENTRY_MODULES,
    PROJECT_PACKAGES,
    TELEGRAM_MODULES,
    check_imports,
    check_no_forbidden,
    module_closure,
    prune_site,
    remove_distributions,
)
from deploy.source import ROOT
from deploy.state import ensure_table
from deploy.zappa_config import StageValues, stage_settings, zappa_executable, zappa_settings_py
from model.errors import InputError
from model.files import sha256_file
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)

BUCKET = "doppel-lambda-test"


def stage_values(**changes) -> StageValues:
    values = dict(stage="dev", region="eu-west-1", bucket=BUCKET,
                  bundle_url=f"s3://{BUCKET}/models/tiny/0123abcd", state_table="doppel-dev-state",
                  role_arn="arn:aws:iam::123456789012:role/doppel-dev-lambda")
    return StageValues(**{**values, **changes})


def test_stage_settings_put_deploy_values_in_the_function_environment_only():
    settings = stage_settings(stage_values())
    assert list(settings) == ["dev"]
    dev = settings["dev"]
    assert dev["runtime"] == "python3.12"
    assert dev["app_function"] == "deploy.lambda_entry.app"
    assert (dev["aws_region"], dev["s3_bucket"]) == ("eu-west-1", BUCKET)
    assert dev["events"] == [{"function": "deploy.lambda_entry.handle_scheduled",
                              "expression": "rate(1 minute)"}]
    assert dev["environment_variables"] == {}  # Zappa bakes these into the zip
    assert dev["aws_environment_variables"] == {
        "DOPPEL_BUNDLE_S3": f"s3://{BUCKET}/models/tiny/0123abcd",
        "DOPPEL_SECRETS_STAGE": "dev",
        "BOT_STATE": "dynamodb://doppel-dev-state",
        "TELEGRAM_STATE": "dynamodb://doppel-dev-state",  # the webhook's ledger, same table
        "INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT": "true",  # cold-start work in Lambda's init
    }
    # Zappa's own role is broad and `zappa deploy --zip` would not create it: ours instead.
    assert dev["manage_roles"] is False
    assert dev["role_arn"] == "arn:aws:iam::123456789012:role/doppel-dev-lambda"
    assert "extra_permissions" not in dev


def test_settings_template_that_would_bake_values_into_the_zip_is_refused(tmp_path):
    template = tmp_path / "zappa_settings.json"
    template.write_text(json.dumps({"${stage}": {"environment_variables": {"X_API_KEY": "k"}}}))
    with pytest.raises(InputError, match="environment_variables must stay empty"):
        stage_settings(stage_values(), template)
    template.write_text(json.dumps({"${stage}": {"s3_bucket": "${bukcet}"}}))
    with pytest.raises(InputError, match="placeholder"):
        stage_settings(stage_values(), template)


def test_zappa_generates_the_settings_module_from_our_settings(tmp_path):
    path = tmp_path / "zappa_settings.dev.json"
    path.write_text(json.dumps(stage_settings(stage_values())))
    generated = zappa_settings_py(path, "dev")
    lines = set(generated.splitlines())
    assert {"APP_MODULE='deploy.lambda_entry'", "APP_FUNCTION='app'", "API_STAGE='dev'",
            "PROJECT_NAME='doppel'", "DEBUG=False", "LOG_LEVEL='INFO'",
            "ENVIRONMENT_VARIABLES={'AWS_REGION': 'eu-west-1'}"} <= lines
    assert "DOPPEL_BUNDLE_S3" not in generated and "dynamodb://" not in generated


def test_import_check_refuses_tensorflow_and_uninstalled_packages(tmp_path):
    package = tmp_path / "backend"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text("from backend import helpers\n")
    (package / "helpers.py").write_text("import json\n\ndef f():\n    import keras\n")
    modules = module_closure(("backend.app",), {"backend": tmp_path})
    assert sorted(modules) == ["backend", "backend.app", "backend.helpers"]
    with pytest.raises(InputError, match=r"backend/helpers.py: imports keras, which must never"):
        check_imports(modules, {"numpy"}, tmp_path)

    (package / "helpers.py").write_text("import regex\n")
    with pytest.raises(InputError, match="imports regex, which requirements-serve.txt does not"):
        check_imports(module_closure(("backend.app",), {"backend": tmp_path}), set(), tmp_path)
    check_imports(module_closure(("backend.app",), {"backend": tmp_path}), {"regex"}, tmp_path)


def test_tree_with_tensorflow_inside_is_refused(tmp_path):
    (tmp_path / "numpy").mkdir()
    check_no_forbidden(tmp_path)
    (tmp_path / "tensorflow-2.21.0.dist-info").mkdir()
    with pytest.raises(InputError, match="tensorflow-2.21.0.dist-info would be inside"):
        check_no_forbidden(tmp_path)


def test_deploy_dry_run_changes_nothing_in_aws_and_prints_the_zappa_command(
        aws, run_cli, demo_bundle, tmp_path):
    """QA: --dry-run made the role and uploaded the bundle and the zip."""
    fake_zip = tmp_path / "doppel-dev.zip"
    with zipfile.ZipFile(fake_zip, "w") as archive:
        archive.writestr("handler.py", "")
    build = tmp_path / "build"
    args = ["--stage", "dev", "--bucket", BUCKET, "--bundle", demo_bundle, "--zip", fake_zip,
            "--build-dir", build, "--dry-run", *aws.args()]
    version = bundle_version(demo_bundle)
    bundle_url = f"s3://{BUCKET}/models/{json.loads((demo_bundle / 'bundle.json').read_text())['name']}/{version}"
    settings_path = build / "zappa_settings.dev.json"
    zip_url = f"s3://{BUCKET}/lambda/doppel-dev-{sha256_file(fake_zip)[:16]}.zip"
    command = shlex.join([zappa_executable(), "deploy", "dev", "-s", str(settings_path),
                          "--zip", zip_url])
    role_arn = "arn:aws:iam::123456789012:role/doppel-dev-lambda"  # moto's account

    first = run_cli("deploy", "lambda", "deploy", *args)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:2] == [f"bundle: {bundle_url} (would be uploaded)",
                         "state table: doppel-dev-state (would be created)"]
    assert lines[2].startswith("warning: no secrets under /doppel/dev/")
    assert lines[3:] == ["role: doppel-dev-lambda (would be created)", f"settings: {settings_path}",
                         f"zip: {zip_url} (would be uploaded)", f"zappa command: {command}"]
    settings = json.loads(settings_path.read_text())["dev"]
    assert settings["aws_environment_variables"]["DOPPEL_BUNDLE_S3"] == bundle_url
    assert settings["role_arn"] == role_arn
    s3, iam = aws.client("s3"), aws.client("iam")
    assert s3.list_buckets()["Buckets"] == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert iam.list_roles()["Roles"] == []

    # What a real deploy makes (the role as deploy makes it); a dry run then finds it all.
    upload_bundle(s3, demo_bundle, BUCKET)
    ensure_table(aws.client("dynamodb"), "doppel-dev-state")
    ensure_role(iam, "doppel-dev-lambda", "doppel-dev", "lambda.amazonaws.com",
                lambda_policy(aws.region, "dev", "doppel-dev", bundle_url, "doppel-dev-state"))
    s3.upload_file(str(fake_zip), BUCKET, zip_url.split(f"{BUCKET}/")[1])
    keys_before = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    policy_before = iam.get_role_policy(RoleName="doppel-dev-lambda", PolicyName="doppel-access")
    again = run_cli("deploy", "lambda", "update", *args)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[:2] == [f"bundle: {bundle_url} (unchanged)",
                         "state table: doppel-dev-state (exists)"]
    assert lines[3:] == ["role: doppel-dev-lambda (exists; its policy would be rewritten)",
                         f"settings: {settings_path}", f"zip: {zip_url} (unchanged)",
                         "zappa command: " + command.replace(" deploy dev ", " update dev ")]
    assert json.loads(settings_path.read_text())["dev"]["role_arn"] == role_arn
    assert {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == (
        keys_before)
    assert iam.get_role_policy(RoleName="doppel-dev-lambda",
                               PolicyName="doppel-access")["PolicyDocument"] == (
        policy_before["PolicyDocument"])

    gone = run_cli("deploy", "lambda", "undeploy", "--stage", "dev", "--build-dir", build,
                   "--dry-run", *aws.args())
    assert gone.stdout.strip() == "zappa command: " + shlex.join(
        [zappa_executable(), "undeploy", "dev", "-s", str(settings_path), "--yes",
         "--remove-logs"])
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["doppel-dev-lambda"]


def test_lambda_policy_reads_the_bundle_and_the_stage_and_writes_its_logs():
    document = lambda_policy("us-east-1", "dev", "doppel-dev",
                             f"s3://{BUCKET}/models/demo/0123abcd", "doppel-dev-state")
    resources = {s["Action"][0]: s["Resource"] for s in document["Statement"]}
    assert resources == {
        "s3:GetObject": [f"arn:aws:s3:::{BUCKET}/models/demo/0123abcd/*"],
        "ssm:GetParametersByPath": "arn:aws:ssm:us-east-1:*:parameter/doppel/dev",
        "kms:Decrypt": "*",
        "dynamodb:GetItem": "arn:aws:dynamodb:us-east-1:*:table/doppel-dev-state",
        "logs:CreateLogGroup": ["arn:aws:logs:us-east-1:*:log-group:/aws/lambda/doppel-dev",
                                "arn:aws:logs:us-east-1:*:log-group:/aws/lambda/doppel-dev:*"]}


def test_deploy_with_a_missing_zip_is_an_error_not_a_new_package(aws, run_cli, tmp_path):
    """QA: `--zip /nonexistent.zip` silently built a package there."""
    missing = tmp_path / "nonexistent.zip"
    result = run_cli("deploy", "lambda", "deploy", "--stage", "dev", "--bucket", BUCKET,
                     "--zip", missing, "--build-dir", tmp_path / "build", "--dry-run",
                     *aws.args())
    assert (result.returncode, result.stderr) == (
        2, f"error: {missing}: no such zip (--zip names a package to deploy; "
           "`lambda package --zip PATH` builds one)\n")
    assert not missing.exists()


def test_deploy_without_bucket_is_a_clear_error(aws, run_cli, tmp_path):
    result = run_cli("deploy", "lambda", "deploy", "--stage", "dev", "--dry-run",
                     "--build-dir", tmp_path, *aws.args())
    assert result.returncode == 2
    assert result.stderr.strip() == "error: deploy needs --bucket (where the bundle and the zip go)"
    assert not Path(tmp_path / "zappa_settings.dev.json").exists()


def test_pruning_drops_what_lambda_never_imports_and_nothing_outside(tmp_path):
    site = tmp_path / "build" / "lambda" / "site"
    files = ["gunicorn/__init__.py", "gunicorn-27.0.1.dist-info/RECORD", "numpy/__init__.py",
             "numpy/core.pyi", "numpy/_core/tests/test_x.py", "numpy/f2py/__init__.py",
             "botocore/data/s3/2006-03-01/service-2.json.gz",
             "botocore/data/s3/2006-03-01/examples-1.json",
             "botocore/data/ec2/2016-11-15/service-2.json.gz", "bin/flask", "flask/__init__.py"]
    for rel in files:
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text("x")
    endpoints = {"partitions": [{"partition": "aws", "services": {
        "s3": {"endpoints": {"us-east-1": {}}}, "ec2": {"endpoints": {"us-east-1": {}}}}}],
        "version": 3}
    (site / "botocore/data/endpoints.json").write_text(json.dumps(endpoints, indent=2))
    outside = tmp_path / "build" / "bin" / "gunicorn"  # where "../../bin/gunicorn" points
    outside.parent.mkdir(parents=True)
    outside.write_text("not ours")
    (site / "gunicorn-27.0.1.dist-info" / "RECORD").write_text(
        "gunicorn/__init__.py,sha256=x,1\n../../bin/gunicorn,sha256=y,1\n"
        "gunicorn-27.0.1.dist-info/RECORD,,\n")

    prune_site(site)
    kept = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert kept == ["botocore/data/endpoints.json", "botocore/data/s3/2006-03-01/service-2.json.gz",
                    "flask/__init__.py", "numpy/__init__.py"]
    assert outside.read_text() == "not ours"
    assert json.loads((site / "botocore/data/endpoints.json").read_text()) == {
        "partitions": [{"partition": "aws", "services": {"s3": {"endpoints": {"us-east-1": {}}}}}],
        "version": 3}


def test_removing_a_distribution_takes_its_compiled_files_and_leaves_the_rest(tmp_path):
    files = ["telegram/__init__.py", "telegram/__pycache__/__init__.cpython-312.pyc",
             "telegram/_bot.py", "telegram/__pycache__/_bot.cpython-312.pyc",
             "h11.py", "__pycache__/h11.cpython-312.pyc", "six.py", "__pycache__/six.cpython-312.pyc",
             "python_telegram_bot-22.8.dist-info/RECORD", "h11-0.16.0.dist-info/RECORD"]
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    (tmp_path / "python_telegram_bot-22.8.dist-info/RECORD").write_text(
        "telegram/__init__.py,sha256=x,1\ntelegram/_bot.py,sha256=x,1\n")
    (tmp_path / "h11-0.16.0.dist-info/RECORD").write_text("h11.py,sha256=x,1\n")

    remove_distributions(tmp_path, ("python-telegram-bot", "h11"))
    kept = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert kept == ["__pycache__", "__pycache__/six.cpython-312.pyc", "six.py"]


def test_telegram_webhook_code_is_reachable_only_through_its_own_entry():
    roots = {package: ROOT for package in PROJECT_PACKAGES}
    without = module_closure(ENTRY_MODULES, roots, left_out=TELEGRAM_MODULES)
    with_telegram = module_closure(ENTRY_MODULES, roots)
    assert {"backend.bots.telegram.webhook", "backend.bots.telegram.chat"} <= set(with_telegram)
    assert {"backend.bots.telegram.webhook", "backend.bots.telegram.chat"}.isdisjoint(without)
    assert {"deploy.lambda_entry", "backend.web.app", "backend.bots.x.poller", "backend.bots.ledger.dynamo",
            "model.serve.runtime"} <= set(without)
    # Without it, the code left in imports nothing of the Telegram client stack.
    installed = set(packages_distributions()) - {"telegram", "httpx", "httpcore", "anyio", "h11"}
    check_imports(without, installed, ROOT)
    with pytest.raises(InputError, match="imports telegram"):
        check_imports(with_telegram, installed, ROOT)


def test_deploy_refuses_a_package_without_telegram_when_the_stage_turns_the_webhook_on(
        aws, run_cli, demo_bundle, tmp_path):
    aws.client("ssm").put_parameter(Name="/doppel/dev/TELEGRAM_WEBHOOK_SECRET", Value="tg-5e5e",
                                    Type="SecureString")
    plain_zip, telegram_zip = tmp_path / "plain.zip", tmp_path / "telegram.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("handler.py", "")
    with zipfile.ZipFile(telegram_zip, "w") as archive:
        archive.writestr("handler.py", "")
        archive.writestr("backend/bots/telegram/webhook.py", "")
    common = ["--stage", "dev", "--bucket", BUCKET, "--bundle", demo_bundle, "--build-dir",
              tmp_path / "build", "--dry-run", *aws.args()]

    for given, package in (([], "the package would be built"),
                           (["--zip", plain_zip], f"{plain_zip} was built")):
        result = run_cli("deploy", "lambda", "deploy", *common, *given)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "error: /doppel/dev/TELEGRAM_WEBHOOK_SECRET is set, so the function serves the "
            f"Telegram webhook, but {package} without it: package with --with-telegram (or "
            "delete that secret)")
        assert "tg-5e5e" not in result.stdout + result.stderr
    assert aws.client("s3").list_buckets()["Buckets"] == []  # refused before making anything

    accepted = run_cli("deploy", "lambda", "deploy", *common, "--zip", telegram_zip)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines()[-1].startswith("zappa command: ")


@pytest.mark.slow
def test_real_zappa_deploy_and_undeploy_against_moto(aws, run_cli, demo_bundle, tmp_path):
    """Zappa itself, run by `deploy lambda deploy`, against the moto server (its `update`
    calls ListFunctionUrlConfigs, which moto lacks, so update is checked by --dry-run)."""
    aws.client("ssm").put_parameter(Name="/doppel/dev/X_API_SECRET", Value="canary-7f7f",
                                    Type="SecureString")
    fake_zip = tmp_path / "doppel-dev.zip"
    with zipfile.ZipFile(fake_zip, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return 1\n")
    build = tmp_path / "build"
    deployed = run_cli("deploy", "lambda", "deploy", "--stage", "dev", "--bucket", BUCKET,
                       "--bundle", demo_bundle, "--zip", fake_zip, "--build-dir", build,
                       *aws.args())
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert "Deployment complete!" in deployed.stdout

    settings = json.loads((build / "zappa_settings.dev.json").read_text())["dev"]
    function = aws.client("lambda").get_function_configuration(FunctionName="doppel-dev")
    assert (function["Runtime"], function["Handler"]) == ("python3.12", "handler.lambda_handler")
    assert (function["MemorySize"], function["Timeout"]) == (2048, 30)
    assert function["Role"] == aws.client("iam").get_role(RoleName="doppel-dev-lambda")["Role"]["Arn"]
    assert function["Environment"]["Variables"] == settings["aws_environment_variables"]
    assert "canary-7f7f" not in json.dumps(function)
    events = aws.client("events")
    (rule,) = events.list_rules()["Rules"]
    assert (rule["Name"], rule["ScheduleExpression"]) == (
        "doppel-dev-deploy.lambda_entry.handle_scheduled", "rate(1 minute)")
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]] == [
        function["FunctionArn"]]
    assert [api["name"] for api in aws.client("apigateway").get_rest_apis()["items"]] == [
        "doppel-dev"]

    gone = run_cli("deploy", "lambda", "undeploy", "--stage", "dev", "--build-dir", build,
                   *aws.args())
    assert gone.returncode == 0, gone.stderr[-3000:]
    assert gone.stdout.splitlines()[-1] == "deleted role doppel-dev-lambda"
    assert aws.client("lambda").list_functions()["Functions"] == []
    assert events.list_rules()["Rules"] == []
    assert "doppel-dev-lambda" not in {r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]}


def test_zappa_actions_without_credentials_say_so_before_zappa_runs(
        aws, run_cli, monkeypatch, tmp_path):
    """QA: undeploy printed Zappa's traceback, status 'No Lambda doppel-qa detected'."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup
    for action in ("status", "undeploy"):
        result = run_cli("deploy", "lambda", action, "--stage", "qa", "--build-dir", tmp_path,
                         *aws.args())
        assert (result.returncode, result.stderr, result.stdout) == (
            1, "error: AWS: Unable to locate credentials\n", "")
