"""IAM roles the deploy commands make: least privilege, tagged, never adopted.

A role (for EC2 with an instance profile of the same name) carries one inline policy,
doppel-access, allowing exactly what the server needs: read the bundle (and the source
tarball) in S3, read the stage's secrets in SSM, use the state table, and for Lambda
write its own log group. An existing role of the same name without the doppel tags is
refused, never adopted; deletion touches only tagged ones.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from deploy.aws import TAG_MANAGED, TAG_NAME, is_missing, managed_tags, parse_s3_url, tag_dict
from deploy.secrets_store import parameter_path
from model.errors import InputError

POLICY_NAME = "doppel-access"
TABLE_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                 "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]


def _policy(region: str, stage: str, objects: list[str], table: str | None,
            extra: list[dict] = ()) -> dict:
    """S3 read of `objects` (ARNs), the stage's secrets, the table, plus `extra`."""
    statements = [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": objects},
        {"Effect": "Allow", "Action": ["ssm:GetParametersByPath"],
         "Resource": f"arn:aws:ssm:{region}:*:parameter{parameter_path(stage).rstrip('/')}"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}},
    ]
    if table:
        statements.append({"Effect": "Allow", "Action": TABLE_ACTIONS,
                           "Resource": f"arn:aws:dynamodb:{region}:*:table/{table}"})
    return {"Version": "2012-10-17", "Statement": [*statements, *extra]}


def _bundle_objects(bundle_url: str) -> str:
    bucket, key = parse_s3_url(bundle_url)
    return f"arn:aws:s3:::{bucket}/{key}/*"


def ec2_policy(region: str, stage: str, bundle_url: str, source_url: str,
               table: str | None) -> dict:
    bucket, key = parse_s3_url(source_url)
    return _policy(region, stage, [_bundle_objects(bundle_url), f"arn:aws:s3:::{bucket}/{key}"],
                   table)


def lambda_policy(region: str, stage: str, function_name: str, bundle_url: str,
                  table: str) -> dict:
    group = f"arn:aws:logs:{region}:*:log-group:/aws/lambda/{function_name}"
    logs = {"Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [group, f"{group}:*"]}
    return _policy(region, stage, [_bundle_objects(bundle_url)], table, [logs])


def is_ours(tags: list[dict] | None, name: str) -> bool:
    found = tag_dict(tags)
    return found.get(TAG_NAME) == name and found.get(TAG_MANAGED) == "true"


def iam_tags(iam, kind: str, resource: str) -> list[dict] | None:
    """Tags of a role or instance profile, or None when it does not exist."""
    try:
        if kind == "role":
            return iam.list_role_tags(RoleName=resource)["Tags"]
        profile = iam.get_instance_profile(InstanceProfileName=resource)["InstanceProfile"]
        return profile.get("Tags", [])
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def own_role_tags(iam, role: str, name: str) -> list[dict] | None:
    """Tags of `role`, None when it does not exist; someone else's role is refused."""
    tags = iam_tags(iam, "role", role)
    if tags is not None and not is_ours(tags, name):
        raise InputError(f"IAM role {role} exists but was not made by python -m deploy "
                         "(no doppel tags); pick another name")
    return tags


def ensure_role(iam, role: str, name: str, service: str, policy: dict,
                instance_profile: bool = False) -> tuple[str, str]:
    """Create or update `role` (tagged doppel:name=`name`) for `service`, e.g.
    "lambda.amazonaws.com"; returns (role ARN, "created" | "exists")."""
    tags = own_role_tags(iam, role, name)
    if tags is None:
        assume = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(assume),
                        Description=f"Doppel ({name})", Tags=managed_tags(name))
    iam.put_role_policy(RoleName=role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    if instance_profile:
        if iam_tags(iam, "profile", role) is None:
            iam.create_instance_profile(InstanceProfileName=role, Tags=managed_tags(name))
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        if not any(entry["RoleName"] == role for entry in profile["Roles"]):
            iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    return iam.get_role(RoleName=role)["Role"]["Arn"], "exists" if tags is not None else "created"


def delete_role(iam, role: str, name: str) -> list[str]:
    """Delete `role` and its instance profile if they carry our tags; what was deleted."""
    deleted = []
    if is_ours(iam_tags(iam, "profile", role), name):
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        for entry in profile["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=role,
                                                  RoleName=entry["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=role)
        deleted.append(f"instance profile {role}")
    if is_ours(iam_tags(iam, "role", role), name):
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=policy)
        iam.delete_role(RoleName=role)
        deleted.append(f"role {role}")
    return deleted
