"""IAM for the EC2 deployment: a role + instance profile that may read exactly what the
instance needs (bundle and source tarball in S3, the stage's secrets, the state table).

Both carry the doppel tags; an existing role of the same name without them is refused,
never adopted, and deletion touches only tagged ones.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from deploy.aws import TAG_MANAGED, TAG_NAME, error_code, managed_tags, parse_s3_url, tag_dict
from deploy.secrets_store import parameter_path
from model.errors import InputError

ASSUME_EC2 = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def role_name(name: str) -> str:
    return f"doppel-{name}-ec2"


def is_ours(tags: list[dict] | None, name: str) -> bool:
    found = tag_dict(tags)
    return found.get(TAG_NAME) == name and found.get(TAG_MANAGED) == "true"


def role_policy(region: str, stage: str, bundle_url: str, source_url: str,
                table: str | None) -> dict:
    bundle_bucket, bundle_key = parse_s3_url(bundle_url)
    source_bucket, source_key = parse_s3_url(source_url)
    statements = [
        {"Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": [f"arn:aws:s3:::{bundle_bucket}/{bundle_key}/*",
                      f"arn:aws:s3:::{source_bucket}/{source_key}"]},
        {"Effect": "Allow", "Action": ["ssm:GetParametersByPath"],
         "Resource": f"arn:aws:ssm:{region}:*:parameter{parameter_path(stage).rstrip('/')}"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}},
    ]
    if table:
        statements.append({
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                       "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            "Resource": f"arn:aws:dynamodb:{region}:*:table/{table}"})
    return {"Version": "2012-10-17", "Statement": statements}


def iam_tags(iam, kind: str, resource: str) -> list[dict] | None:
    """Tags of a role or instance profile, or None when it does not exist."""
    try:
        if kind == "role":
            return iam.list_role_tags(RoleName=resource)["Tags"]
        profile = iam.get_instance_profile(InstanceProfileName=resource)["InstanceProfile"]
        return profile.get("Tags", [])
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise


def ensure_role(iam, name: str, policy: dict) -> str:
    """The role and its instance profile (same name); returns 'created' or 'exists'."""
    resource = role_name(name)
    tags = iam_tags(iam, "role", resource)
    if tags is not None and not is_ours(tags, name):
        raise InputError(f"IAM role {resource} exists but was not made by deploy ec2 "
                         "(no doppel tags); pick another --name")
    outcome = "exists" if tags is not None else "created"
    if tags is None:
        iam.create_role(RoleName=resource, AssumeRolePolicyDocument=json.dumps(ASSUME_EC2),
                        Description="Doppel bot instance", Tags=managed_tags(name))
    iam.put_role_policy(RoleName=resource, PolicyName="doppel-access",
                        PolicyDocument=json.dumps(policy))
    if iam_tags(iam, "profile", resource) is None:
        iam.create_instance_profile(InstanceProfileName=resource, Tags=managed_tags(name))
    profile = iam.get_instance_profile(InstanceProfileName=resource)["InstanceProfile"]
    if not any(role["RoleName"] == resource for role in profile["Roles"]):
        iam.add_role_to_instance_profile(InstanceProfileName=resource, RoleName=resource)
    return outcome


def delete_role(iam, name: str) -> list[str]:
    resource, deleted = role_name(name), []
    if is_ours(iam_tags(iam, "profile", resource), name):
        profile = iam.get_instance_profile(InstanceProfileName=resource)["InstanceProfile"]
        for role in profile["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=resource,
                                                  RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=resource)
        deleted.append(f"instance profile {resource}")
    if is_ours(iam_tags(iam, "role", resource), name):
        for policy in iam.list_role_policies(RoleName=resource)["PolicyNames"]:
            iam.delete_role_policy(RoleName=resource, PolicyName=policy)
        iam.delete_role(RoleName=resource)
        deleted.append(f"role {resource}")
    return deleted
