"""`python -m deploy lambda package|deploy|update|status|undeploy --stage S`.

`package` builds the zip (deploy.lambda_package) and prints its sizes. `deploy` and
`update` first put what the function needs in place (the bundle in S3, pinned to one
version; the DynamoDB state table; a least-privilege execution role), write the stage's
Zappa settings, build the zip unless `--zip` names one, and hand it to
`zappa deploy|update STAGE --zip ...`. `--dry-run` changes nothing in AWS: it reads what is
there and prints what would be created or uploaded and the zappa command (the settings
file, and the package without `--zip`, are still made locally). Secrets are stored
separately (`python -m deploy secrets put`) and only checked for here: a stage whose
secrets turn the Telegram webhook on (TELEGRAM_WEBHOOK_SECRET) is refused a package built
without `--with-telegram`, rather than failing at its cold start.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from pathlib import Path

from deploy.artifacts import (
    DEFAULT_PREFIX,
    SUMS,
    bundle_version,
    object_exists,
    resolve_url,
    upload_bundle,
    version_url,
)
from deploy.aws import Aws, add_actions
from deploy.iam import delete_role, ensure_role, lambda_policy, own_role_tags
from deploy.lambda_package import build_package, find_python312, has_telegram
from deploy.secrets_store import list_secrets
from deploy.source import ROOT
from deploy.state import describe, ensure_table, table_name
from deploy.zappa_config import (
    StageValues,
    function_name,
    stage_settings,
    write_settings,
    zappa_command,
    zappa_settings_py,
)
from model.errors import InputError
from model.files import sha256_file
from model.serve.bundle import verify_bundle

TELEGRAM_SECRET = "TELEGRAM_WEBHOOK_SECRET"  # set: the app serves the Telegram webhook


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--stage", required=True, help="deployment stage, e.g. dev or prod")
    options.add_argument("--bucket", default="",
                         help="S3 bucket for the bundle and Zappa's uploads (deploy/update)")
    options.add_argument("--bundle", default=str(ROOT / "data" / "models" / "demo"),
                         help="bundle directory to upload, or NAME[@VERSION] already in the "
                              "bucket (default: the demo bundle)")
    options.add_argument("--prefix", default=DEFAULT_PREFIX, help="bundle key prefix in S3")
    options.add_argument("--table", default=None, help="state table (default doppel-STAGE-state)")
    options.add_argument("--zip", type=Path, default=None,
                         help="package path (package: output; deploy/update: an existing zip "
                              "to deploy instead of building one)")
    options.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda")
    options.add_argument("--wheelhouse", type=Path, default=ROOT / ".cache" / "lambda-wheels",
                         help="downloaded wheels, kept so repeated packaging is offline")
    options.add_argument("--with-telegram", action="store_true",
                         help="include the Telegram webhook (python-telegram-bot, httpx); "
                              "needed when the stage has a TELEGRAM_WEBHOOK_SECRET")
    options.add_argument("--no-compile", action="store_true",
                         help="skip byte-compiling with a local Python 3.12")
    options.add_argument("--dry-run", action="store_true",
                         help="deploy/update/status/undeploy: change nothing in AWS; print what "
                              "would be created or uploaded and the zappa command (the "
                              "settings file and, without --zip, the package are still "
                              "written locally)")
    add_actions(parser, {"package": "build the zip and print its sizes",
                         "deploy": "first deploy of the stage",
                         "update": "deploy a new release to the stage",
                         "status": "zappa status",
                         "undeploy": "zappa undeploy, then delete the execution role"}, options)


def _settings_path(args) -> Path:
    return args.build_dir / f"zappa_settings.{args.stage}.json"


def _values(args, region: str, bundle_url: str = "", role_arn: str = "") -> StageValues:
    return StageValues(stage=args.stage, region=region, bucket=args.bucket,
                       bundle_url=bundle_url, state_table=args.table or table_name(args.stage),
                       role_arn=role_arn)


def _write_stage_settings(args, values: StageValues) -> Path:
    return write_settings(stage_settings(values), _settings_path(args))


def _ensure_role(args, aws: Aws, bundle_url: str) -> str:
    """The function's least-privilege execution role; returns its ARN (--dry-run: the ARN
    it has or would be created with)."""
    values = _values(args, aws.region, bundle_url)
    function = function_name(stage_settings(values), args.stage)
    role, iam = f"{function}-lambda", aws.client("iam")
    if args.dry_run:
        if own_role_tags(iam, role, function) is not None:
            print(f"role: {role} (exists; its policy would be rewritten)")
            return iam.get_role(RoleName=role)["Role"]["Arn"]
        identity = aws.caller_identity()
        print(f"role: {role} (would be created)")
        return f"arn:{identity['Arn'].split(':')[1]}:iam::{identity['Account']}:role/{role}"
    policy = lambda_policy(aws.region, args.stage, function, bundle_url, values.state_table)
    arn, outcome = ensure_role(iam, role, function, "lambda.amazonaws.com", policy)
    print(f"role: {role} ({outcome})")
    return arn


def package(args, settings_path: Path) -> Path:
    zip_path = args.zip or args.build_dir / f"doppel-{args.stage}.zip"
    python312 = None if args.no_compile else find_python312()
    built = build_package(zip_path, zappa_settings_py(settings_path, args.stage),
                          args.build_dir, args.wheelhouse, python312, args.with_telegram)
    compiled = "byte-compiled for python3.12" if built.compiled else (
        "not byte-compiled: no local Python 3.12")
    telegram = "with" if args.with_telegram else "without"
    print(f"{built.zip_path}: {built.zipped_bytes / 2**20:.1f} MiB zipped, "
          f"{built.unzipped_bytes / 2**20:.1f} MiB unzipped, {built.files} files ({compiled}; "
          f"{telegram} the Telegram webhook)")
    return built.zip_path


def check_telegram(args, secret_names: set[str]) -> None:
    """Refuse a package without the Telegram webhook for a stage whose secrets turn it on
    (its every cold start would fail); `args.zip`, when given, is what gets deployed."""
    if TELEGRAM_SECRET not in secret_names:
        return
    included = has_telegram(args.zip) if args.zip else args.with_telegram
    if included:
        return
    package = f"{args.zip} was built" if args.zip else "the package would be built"
    raise InputError(f"/doppel/{args.stage}/{TELEGRAM_SECRET} is set, so the function serves "
                     f"the Telegram webhook, but {package} without it: package with "
                     f"--with-telegram (or delete that secret)")


def _planned_bundle_url(args, s3) -> str:
    """--dry-run: where the bundle directory would go, checked as an upload would."""
    meta = verify_bundle(Path(args.bundle))
    url = version_url(args.bucket, args.prefix, meta["name"], bundle_version(args.bundle))
    there = object_exists(s3, args.bucket, f"{url.split('/', 3)[3]}/{SUMS}")
    print(f"bundle: {url} ({'unchanged' if there else 'would be uploaded'})")
    return url


def _bundle_url(args, aws: Aws) -> str:
    s3 = aws.client("s3")
    if Path(args.bundle).is_dir() and args.dry_run:
        return _planned_bundle_url(args, s3)
    if Path(args.bundle).is_dir():
        uploaded = upload_bundle(s3, args.bundle, args.bucket, args.prefix, aws.region)
        print(f"bundle: {uploaded.url} "
              f"({'unchanged' if uploaded.unchanged else f'{len(uploaded.uploaded)} file(s) uploaded'})")
        return uploaded.url
    name, _, version = args.bundle.partition("@")
    url = resolve_url(s3, args.bucket, args.prefix, name, version or None)
    print(f"bundle: {url}")
    return url


def _upload_zip(args, aws: Aws, zip_path: Path) -> str:
    """Put the zip in S3 (content-addressed) for Zappa: a direct upload stops at 50 MB."""
    s3 = aws.client("s3")
    key = f"lambda/doppel-{args.stage}-{sha256_file(zip_path)[:16]}.zip"
    url = f"s3://{args.bucket}/{key}"
    if object_exists(s3, args.bucket, key):
        print(f"zip: {url} (unchanged)")
    elif args.dry_run:
        print(f"zip: {url} (would be uploaded)")
    else:
        s3.upload_file(str(zip_path), args.bucket, key)
        print(f"zip: {url} (uploaded)")
    return url


def _ensure_table(args, aws: Aws) -> None:
    table, dynamodb = args.table or table_name(args.stage), aws.client("dynamodb")
    if args.dry_run:
        outcome = "exists" if describe(dynamodb, table) else "would be created"
    else:
        outcome = "created" if ensure_table(dynamodb, table) else "exists"
    print(f"state table: {table} ({outcome})")


def _run_zappa(command: list[str], args, aws: Aws) -> int:
    aws.caller_identity()  # even for --dry-run: the command printed must be runnable
    print("zappa command: " + shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    env = dict(os.environ, AWS_DEFAULT_REGION=aws.region)
    if args.endpoint_url:
        env["AWS_ENDPOINT_URL"] = args.endpoint_url
    return subprocess.run(command, cwd=args.build_dir, env=env).returncode


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    args.build_dir = args.build_dir.resolve()
    if args.action == "package":
        package(args, _write_stage_settings(args, _values(args, aws.region)))
        return 0
    if args.action == "status":
        settings = _write_stage_settings(args, _values(args, aws.region))
        return _run_zappa(zappa_command("status", args.stage, settings), args, aws)
    if args.action == "undeploy":
        values = _values(args, aws.region)
        settings = _write_stage_settings(args, values)
        status = _run_zappa(zappa_command("undeploy", args.stage, settings), args, aws)
        if status == 0 and not args.dry_run:
            function = function_name(stage_settings(values), args.stage)
            for deleted in delete_role(aws.client("iam"), f"{function}-lambda", function):
                print(f"deleted {deleted}")
        return status
    if not args.bucket:
        raise InputError(f"{args.action} needs --bucket (where the bundle and the zip go)")
    if args.zip and not args.zip.is_file():
        raise InputError("no such zip (--zip names a package to deploy; "
                         "`lambda package --zip PATH` builds one)", path=str(args.zip))
    secret_names = {name for name, _ in list_secrets(aws.client("ssm"), args.stage)}
    check_telegram(args, secret_names)
    bundle_url = _bundle_url(args, aws)
    _ensure_table(args, aws)
    if not secret_names:
        print(f"warning: no secrets under /doppel/{args.stage}/ - the poller cannot post to X "
              f"until `python -m deploy secrets put --stage {args.stage}`")
    role_arn = _ensure_role(args, aws, bundle_url)
    settings = _write_stage_settings(args, _values(args, aws.region, bundle_url, role_arn))
    print(f"settings: {settings}")
    zip_path = args.zip or package(args, settings)
    zip_url = _upload_zip(args, aws, zip_path)
    return _run_zappa(zappa_command(args.action, args.stage, settings, zip_url), args, aws)
