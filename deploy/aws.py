"""boto3 clients from command-line options, and the conventions every deploy command shares.

`--endpoint-url` wins over `AWS_ENDPOINT_URL`, which boto3 itself honours, so with
neither set the calls go to AWS and with either set they go to (say) a moto server.
"""

from __future__ import annotations

import argparse
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from model.errors import InputError

TAG_NAME = "doppel:name"
TAG_MANAGED = "doppel:managed"


def add_actions(parser: argparse.ArgumentParser, actions: dict[str, str],
                options: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """One sub-parser per action ({name: help}), each taking `options` (a parser made with
    add_help=False) plus the AWS ones; returns them by name for per-action arguments.

    As sub-parsers, not an `action` positional beside the others, so options may come
    between the action and its operand: with one parser argparse matches every positional
    at the first one (an optional operand matching nothing), so in
    `artifacts upload --bucket B DIR` the DIR was left over."""
    _add_aws_arguments(options)
    subparsers = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    return {name: subparsers.add_parser(name, help=text, description=text, parents=[options])
            for name, text in actions.items()}


def _add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--endpoint-url", default=None,
                       help="AWS endpoint, e.g. a moto server (default: $AWS_ENDPOINT_URL, else AWS)")
    group.add_argument("--region", default=None,
                       help="AWS region (default: $AWS_DEFAULT_REGION or the profile's)")


class Aws:
    """One boto3 session plus the endpoint override; hands out clients."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None):
        self.session = boto3.Session(region_name=region)
        self.endpoint_url = endpoint_url

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Aws:
        return cls(getattr(args, "endpoint_url", None), getattr(args, "region", None))

    @property
    def region(self) -> str:
        if not self.session.region_name:
            raise InputError("no AWS region: pass --region or set AWS_DEFAULT_REGION")
        return self.session.region_name

    def caller_identity(self) -> dict:
        """STS GetCallerIdentity. Also a credentials check: botocore's own error (no
        credentials, or bad ones) now, as every boto3 call here would raise it, where a tool
        with its own error handling (Zappa) would answer with a traceback or a wrong reason."""
        return self.client("sts").get_caller_identity()

    def client(self, service: str):
        return self.session.client(service, region_name=self.region,
                                   endpoint_url=self.endpoint_url)


def managed_tags(name: str) -> list[dict]:
    """The two tags on everything a deploy command creates (what teardown looks for)."""
    return [{"Key": TAG_NAME, "Value": name}, {"Key": TAG_MANAGED, "Value": "true"}]


def tag_dict(tags: list[dict] | None) -> dict:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InputError(f"expected an s3://bucket/key URL, got {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


# How each service says "there is no such thing": S3 (head_* answer a bare 404), IAM, SSM,
# DynamoDB. Absence is an answer the deploy commands act on; every other error goes up to
# the dispatcher, which prints it as one "AWS: …" line (botocore has retried it already).
MISSING_CODES = frozenset({"404", "NotFound", "NoSuchKey", "NoSuchBucket", "NoSuchEntity",
                           "ParameterNotFound", "ResourceNotFoundException"})


def is_missing(error: ClientError) -> bool:
    return error_code(error) in MISSING_CODES


def ensure_bucket(s3, bucket: str, region: str) -> bool:
    """Create `bucket` unless it exists; True if it was created."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        if not is_missing(error):
            raise
    if region == "us-east-1":  # the one region that refuses a LocationConstraint
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": region})
    return True
