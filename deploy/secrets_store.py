"""X and Telegram credentials (and the reply API key) as SSM Parameter Store SecureStrings.

They live under `/doppel/<stage>/<ENV NAME>` and are read into the environment at
cold start (`load_secrets`), so they are never in the Lambda zip, never in Zappa's
`environment_variables` (which Zappa bakes into the zip) and never on a command line:
`put` reads them from the environment or from stdin, and nothing here prints a value.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, MutableMapping

from botocore.exceptions import ClientError

from deploy.aws import Aws, add_actions, is_missing
from model.errors import InputError

# The backend settings (backend/config.py) that are credentials.
SECRET_ENV = ("X_BEARER_TOKEN", "X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN",
              "X_ACCESS_SECRET", "DOPPEL_API_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")


def parameter_path(stage: str) -> str:
    return f"/doppel/{stage}/"


def parse_secret_lines(text: str, where: str = "<stdin>") -> dict[str, str]:
    """`NAME=value` lines (blank lines and # comments ignored) -> {NAME: value}."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or name not in SECRET_ENV:
            # Never echo the line: it may be a credential pasted in the wrong place.
            raise InputError(f"expected NAME=value with NAME one of {', '.join(SECRET_ENV)}",
                             path=where, line=number)
        values[name] = value.strip()
    return values


def secrets_from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in SECRET_ENV if environ.get(name)}


def put_secrets(ssm, stage: str, values: Mapping[str, str]) -> dict[str, str]:
    """Store each value as a SecureString; returns {name: "stored" | "unchanged"}."""
    outcome = {}
    for name, value in sorted(values.items()):
        parameter = parameter_path(stage) + name
        try:
            current = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as error:
            if not is_missing(error):
                raise
            current = None
        if current == value:
            outcome[name] = "unchanged"
            continue
        ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True,
                          Description="Doppel credential (python -m deploy secrets put)")
        outcome[name] = "stored"
    return outcome


def _parameters(ssm, stage: str, decrypt: bool):
    paginator = ssm.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=parameter_path(stage), WithDecryption=decrypt):
        yield from page["Parameters"]


def load_secrets(ssm, stage: str, environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Copy the stage's secrets into `environ` (cold start); returns the names set."""
    names = []
    for parameter in _parameters(ssm, stage, decrypt=True):
        name = parameter["Name"].rsplit("/", 1)[-1]
        if name in SECRET_ENV:
            environ[name] = parameter["Value"]
            names.append(name)
    return sorted(names)


def list_secrets(ssm, stage: str) -> list[tuple[str, str]]:
    """(name, type) of every stored secret; values are not fetched."""
    return sorted((p["Name"].rsplit("/", 1)[-1], p["Type"])
                  for p in _parameters(ssm, stage, decrypt=False))


def delete_secrets(ssm, stage: str) -> list[str]:
    names = [parameter_path(stage) + name for name, _ in list_secrets(ssm, stage)]
    for start in range(0, len(names), 10):  # DeleteParameters takes at most 10
        ssm.delete_parameters(Names=names[start:start + 10])
    return [name.rsplit("/", 1)[-1] for name in names]


# --- command line ------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--stage", required=True, help="deployment stage, e.g. dev or prod")
    options.add_argument("--stdin", action="store_true",
                         help="put: read NAME=value lines from stdin instead of the environment "
                              f"({', '.join(SECRET_ENV)})")
    add_actions(parser, {"put": "store the credentials as SecureStrings",
                         "list": "list the stored names (never the values)",
                         "delete": "delete the stage's credentials"}, options)


def run(args: argparse.Namespace) -> int:
    ssm = Aws.from_args(args).client("ssm")
    if args.action == "put":
        values = parse_secret_lines(sys.stdin.read()) if args.stdin else (
            secrets_from_environ(os.environ))
        if not values:
            raise InputError("no secrets given: set them in the environment "
                             f"({', '.join(SECRET_ENV)}) or pipe NAME=value lines with --stdin")
        for name, what in put_secrets(ssm, args.stage, values).items():
            print(f"{parameter_path(args.stage)}{name}: {what}")
    elif args.action == "list":
        for name, kind in list_secrets(ssm, args.stage):
            print(f"{parameter_path(args.stage)}{name}\t{kind}")
    else:
        for name in delete_secrets(ssm, args.stage):
            print(f"deleted {parameter_path(args.stage)}{name}")
    return 0
