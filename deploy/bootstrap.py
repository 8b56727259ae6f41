"""Fetch what a server needs from AWS at start: secrets from SSM, the bundle from S3.

Shared by Lambda (`deploy.lambda_entry` calls `cold_start()` once per container) and
EC2, where the systemd units run `python -m deploy.bootstrap COMMAND...`: the secrets go
into this process's environment and the command replaces it (exec), so they are never
written to disk. Settings come from the environment:
  DOPPEL_SECRETS_STAGE  read /doppel/<stage>/* from SSM Parameter Store
  DOPPEL_BUNDLE_S3      s3://bucket/prefix/name/version to download and verify
  DOPPEL_BUNDLE_CACHE   where downloaded bundles are kept (default /tmp/doppel-bundles)
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

import boto3

from deploy.artifacts import download_bundle
from deploy.secrets_store import load_secrets

BUNDLE_CACHE = "/tmp/doppel-bundles"  # Lambda's only writable place; survives warm starts


def cold_start(environ: MutableMapping[str, str] = os.environ) -> None:
    stage = environ.get("DOPPEL_SECRETS_STAGE")
    if stage:
        load_secrets(boto3.client("ssm"), stage, environ)
    url = environ.get("DOPPEL_BUNDLE_S3")
    if url:
        cache = environ.get("DOPPEL_BUNDLE_CACHE", BUNDLE_CACHE)
        environ["DOPPEL_BUNDLE"] = str(download_bundle(boto3.client("s3"), url, cache))


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m deploy.bootstrap COMMAND [ARGS...]", file=sys.stderr)
        return 2
    cold_start()
    os.execvp(argv[0], argv)  # only returns by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
