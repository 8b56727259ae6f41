"""`python -m deploy ec2 launch|status|teardown --name N`: the bot on one EC2 instance.

`launch` converges on: an IAM role + instance profile allowed to read the bundle and the
source tarball in S3, the stage's secrets in SSM (and the DynamoDB state table when one
is named); a security group open for HTTP from a configurable CIDR (SSH only when a key
pair is named); and one instance whose user-data installs the app from a tarball of the
tracked files (uploaded to S3) and runs `python -m backend serve` (gunicorn) and
`python -m backend poll` as systemd units (deploy/ec2_user_data.sh). Running it again
creates nothing new. Everything made is tagged doppel:name=N and doppel:managed=true,
and `teardown` deletes exactly the resources carrying both tags, nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from string import Template

import tenacity
from botocore.exceptions import ClientError

from deploy.artifacts import DEFAULT_PREFIX, object_exists, resolve_url, upload_bundle
from deploy.aws import (
    TAG_MANAGED,
    TAG_NAME,
    Aws,
    add_actions,
    error_code,
    managed_tags,
    tag_dict,
)
from deploy.iam import delete_role, ec2_policy, ensure_role, iam_tags, is_ours
from deploy.source import ROOT, source_tarball
from model.errors import InputError

USER_DATA = Path(__file__).with_name("ec2_user_data.sh")
AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
TAG_SOURCE = "doppel:source"  # on the instance: the tarball to delete at teardown
IAM_PROPAGATION_TRIES = 12  # a new instance profile takes seconds to be usable by EC2


def role_name(name: str) -> str:
    return f"doppel-{name}-ec2"


def group_name(name: str) -> str:
    return f"doppel-{name}"


def _filters(name: str) -> list[dict]:
    return [{"Name": f"tag:{TAG_NAME}", "Values": [name]},
            {"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]}]


# --- source tarball -------------------------------------------------------------------------

def upload_source(s3, bucket: str, name: str, data: bytes) -> str:
    key = f"ec2/{name}/source-{hashlib.sha256(data).hexdigest()[:16]}.tar.gz"
    if not object_exists(s3, bucket, key):
        s3.put_object(Bucket=bucket, Key=key, Body=data,
                      Tagging=f"{TAG_NAME}={name}&{TAG_MANAGED}=true")
    return f"s3://{bucket}/{key}"



# --- security group ---------------------------------------------------------------------------

def _wanted_rules(port: int, http_cidr: str, ssh_cidr: str | None) -> set[tuple[int, str]]:
    rules = {(port, http_cidr)}
    if ssh_cidr:
        rules.add((22, ssh_cidr))
    return rules


def ensure_security_group(ec2, name: str, rules: set[tuple[int, str]]) -> tuple[str, str]:
    """The group with exactly `rules` (tcp port, CIDR) inbound; (group id, outcome)."""
    found = ec2.describe_security_groups(Filters=_filters(name))["SecurityGroups"]
    if found:
        group, outcome = found[0], "exists"
    else:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise InputError("this region has no default VPC to launch into")
        created = ec2.create_security_group(
            GroupName=group_name(name), Description=f"Doppel bot {name}",
            VpcId=vpcs[0]["VpcId"],
            TagSpecifications=[{"ResourceType": "security-group", "Tags": managed_tags(name)}])
        group = ec2.describe_security_groups(GroupIds=[created["GroupId"]])["SecurityGroups"][0]
        outcome = "created"
    present = {(perm["FromPort"], r["CidrIp"]) for perm in group["IpPermissions"]
               if perm.get("IpProtocol") == "tcp" and perm.get("FromPort") == perm.get("ToPort")
               for r in perm.get("IpRanges", ())}

    def permissions(pairs):
        return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "IpRanges": [{"CidrIp": cidr}]} for port, cidr in sorted(pairs)]

    if rules - present:
        ec2.authorize_security_group_ingress(GroupId=group["GroupId"],
                                             IpPermissions=permissions(rules - present))
    if present - rules:
        ec2.revoke_security_group_ingress(GroupId=group["GroupId"],
                                          IpPermissions=permissions(present - rules))
    return group["GroupId"], outcome


# --- instance ---------------------------------------------------------------------------------

def live_instances(ec2, name: str) -> list[dict]:
    filters = [*_filters(name), {"Name": "instance-state-name", "Values": LIVE_STATES}]
    reservations = ec2.describe_instances(Filters=filters)["Reservations"]
    return [instance for reservation in reservations for instance in reservation["Instances"]]


def user_data(**values: str) -> str:
    return Template(USER_DATA.read_text(encoding="utf-8")).substitute(values)


def latest_al2023_ami(ssm) -> str:
    try:
        return ssm.get_parameter(Name=AL2023_AMI_PARAMETER)["Parameter"]["Value"]
    except ClientError as error:
        raise InputError(f"cannot look up the Amazon Linux 2023 AMI ({error_code(error)}); "
                         "pass --ami") from None


def _profile_not_visible_yet(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error_code(error) == "InvalidParameterValue" \
        and "iam" in str(error).lower()


@tenacity.retry(stop=tenacity.stop_after_attempt(IAM_PROPAGATION_TRIES),
                wait=tenacity.wait_fixed(5), reraise=True,
                retry=tenacity.retry_if_exception(_profile_not_visible_yet))
def run_instance(ec2, name: str, request: dict) -> str:
    """run_instances, retried while a fresh instance profile is not yet visible to EC2."""
    return ec2.run_instances(**request)["Instances"][0]["InstanceId"]


# --- the commands -----------------------------------------------------------------------------

def launch(aws: Aws, args: argparse.Namespace) -> int:
    name = args.name
    s3, ec2 = aws.client("s3"), aws.client("ec2")
    if Path(args.bundle).is_dir():
        bundle_url = upload_bundle(s3, args.bundle, args.bucket, args.prefix, aws.region).url
    else:
        bundle, _, version = args.bundle.partition("@")
        bundle_url = resolve_url(s3, args.bucket, args.prefix, bundle, version or None)
    print(f"bundle: {bundle_url}")
    source_url = upload_source(s3, args.bucket, name, source_tarball())
    print(f"source: {source_url}")
    policy = ec2_policy(aws.region, args.stage, bundle_url, source_url, args.table)
    _, outcome = ensure_role(aws.client("iam"), role_name(name), name, "ec2.amazonaws.com",
                             policy, instance_profile=True)
    print(f"role: {role_name(name)} ({outcome})")
    rules = _wanted_rules(args.port, args.http_cidr, args.ssh_cidr if args.key_name else None)
    group_id, outcome = ensure_security_group(ec2, name, rules)
    print(f"security group: {group_id} ({outcome})")
    running = live_instances(ec2, name)
    if running:
        print(f"instance: {running[0]['InstanceId']} (exists, {running[0]['State']['Name']}; "
              "teardown and launch again to install new code)")
        return 0
    bot_state = f"dynamodb://{args.table}" if args.table else (
        "sqlite:////var/lib/doppel/poller.sqlite")
    request = {
        "ImageId": args.ami or latest_al2023_ami(aws.client("ssm")),
        "InstanceType": args.instance_type, "MinCount": 1, "MaxCount": 1,
        "IamInstanceProfile": {"Name": role_name(name)}, "SecurityGroupIds": [group_id],
        "MetadataOptions": {"HttpTokens": "required"},  # IMDSv2 only
        "UserData": user_data(source_url=source_url, region=aws.region, stage=args.stage,
                              bundle_url=bundle_url, bot_state=bot_state, port=str(args.port),
                              workers=str(args.workers)),
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [
                *managed_tags(name), {"Key": "Name", "Value": f"doppel-{name}"},
                {"Key": TAG_SOURCE, "Value": source_url}]},
            {"ResourceType": "volume", "Tags": managed_tags(name)}],
    }
    if args.key_name:
        request["KeyName"] = args.key_name
    print(f"instance: {run_instance(ec2, name, request)} (created)")
    return 0


def status(aws: Aws, name: str) -> int:
    ec2, iam = aws.client("ec2"), aws.client("iam")
    role = iam_tags(iam, "role", role_name(name))
    print(f"role: {role_name(name)} ({'present' if is_ours(role, name) else 'absent'})")
    for group in ec2.describe_security_groups(Filters=_filters(name))["SecurityGroups"]:
        inbound = ", ".join(f"tcp/{perm['FromPort']} from {r['CidrIp']}"
                            for perm in group["IpPermissions"] for r in perm.get("IpRanges", ()))
        print(f"security group: {group['GroupId']} ({inbound or 'no inbound rules'})")
    instances = live_instances(ec2, name)
    for instance in instances:
        address = instance.get("PublicDnsName") or instance.get("PublicIpAddress") or "-"
        print(f"instance: {instance['InstanceId']} {instance['State']['Name']} {address}")
    if not instances:
        print("instance: none")
    return 0 if instances else 1


def teardown(aws: Aws, name: str) -> int:
    ec2, s3 = aws.client("ec2"), aws.client("s3")
    instances = live_instances(ec2, name)
    for instance in instances:
        source = tag_dict(instance.get("Tags")).get(TAG_SOURCE)
        if source:
            bucket, key = source[len("s3://"):].split("/", 1)
            s3.delete_object(Bucket=bucket, Key=key)
            print(f"deleted {source}")
    if instances:
        ids = [instance["InstanceId"] for instance in instances]
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids)
        print(f"terminated {', '.join(ids)}")
    for group in ec2.describe_security_groups(Filters=_filters(name))["SecurityGroups"]:
        ec2.delete_security_group(GroupId=group["GroupId"])
        print(f"deleted security group {group['GroupId']}")
    for deleted in delete_role(aws.client("iam"), role_name(name), name):
        print(f"deleted {deleted}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--name", required=True, help="names and tags everything (doppel:name)")
    options.add_argument("--bucket", help="launch: S3 bucket for the bundle and source tarball")
    options.add_argument("--bundle", default=str(ROOT / "data" / "models" / "demo"),
                         help="bundle directory to upload, or NAME[@VERSION] in the bucket")
    options.add_argument("--prefix", default=DEFAULT_PREFIX, help="bundle key prefix in S3")
    options.add_argument("--stage", default="prod", help="whose secrets (/doppel/STAGE/) to read")
    options.add_argument("--table", help="DynamoDB state table (default: SQLite on the instance)")
    options.add_argument("--instance-type", default="t3.small")
    options.add_argument("--ami", help="image id (default: latest Amazon Linux 2023)")
    options.add_argument("--port", type=int, default=80, help="HTTP port of the reply service")
    options.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    options.add_argument("--http-cidr", default="0.0.0.0/0", help="who may reach the HTTP port")
    options.add_argument("--key-name", help="EC2 key pair for SSH (no SSH rule without one)")
    options.add_argument("--ssh-cidr", default="0.0.0.0/0", help="who may SSH (with --key-name)")
    add_actions(parser, {"launch": "launch (or bring up to date) the bot on one instance",
                         "status": "show the instance and what launch made",
                         "teardown": "remove exactly what launch made"}, options)


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    if args.action == "launch":
        if not args.bucket:
            raise InputError("launch needs --bucket (for the bundle and the source tarball)")
        return launch(aws, args)
    if args.action == "status":
        return status(aws, args.name)
    return teardown(aws, args.name)
