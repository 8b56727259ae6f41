"""deploy ec2 launch/status/teardown against a real moto server: what gets made, that a
second launch makes nothing, and that teardown removes exactly what launch made."""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import tarfile

import pytest

from deploy.source import source_tarball
from model.errors import InputError
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)

BUCKET = "doppel-ec2-test"


def inventory(aws) -> dict:
    """Everything in the account a launch/teardown could touch, by id."""
    ec2, iam, s3 = aws.client("ec2"), aws.client("iam"), aws.client("s3")
    instances = {i["InstanceId"]: i["State"]["Name"]
                 for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    groups = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    roles = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    profiles = {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]}
    try:
        objects = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    except s3.exceptions.NoSuchBucket:
        objects = set()
    return {"instances": instances, "groups": groups, "roles": roles, "profiles": profiles,
            "objects": objects}


def make_unrelated(aws) -> dict:
    """An untagged instance, group and role, and a group of another doppel deployment."""
    ec2, iam = aws.client("ec2"), aws.client("iam")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    group = ec2.create_security_group(GroupName="unrelated", Description="not ours")["GroupId"]
    other = ec2.create_security_group(
        GroupName="doppel-other", Description="another deployment",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [
            {"Key": "doppel:name", "Value": "other"},
            {"Key": "doppel:managed", "Value": "true"}]}])["GroupId"]
    iam.create_role(RoleName="unrelated-role", AssumeRolePolicyDocument="{}")
    return {"instance": instance["InstanceId"], "group": group, "other": other}


def launch_args(aws, demo_bundle, *extra) -> list[str]:
    return ["ec2", "launch", "--name", "demo", "--bucket", BUCKET, "--bundle", demo_bundle,
            "--stage", "prod", "--http-cidr", "203.0.113.0/24", *extra, *aws.args()]


def test_launch_is_idempotent_and_teardown_removes_exactly_what_it_made(
        aws, run_cli, demo_bundle):
    unrelated = make_unrelated(aws)
    before = inventory(aws)

    first = run_cli("deploy", *launch_args(aws, demo_bundle))
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "bundle", "source", "role", "security group", "instance"]
    assert lines[2] == "role: doppel-demo-ec2 (created)"
    assert lines[3].endswith("(created)") and lines[4].endswith("(created)")
    launched = inventory(aws)
    new_instances = set(launched["instances"]) - set(before["instances"])
    new_groups = set(launched["groups"]) - set(before["groups"])
    assert len(new_instances) == 1 and len(new_groups) == 1
    assert launched["roles"] - before["roles"] == {"doppel-demo-ec2"}
    assert launched["profiles"] - before["profiles"] == {"doppel-demo-ec2"}

    second = run_cli("deploy", *launch_args(aws, demo_bundle))
    assert second.returncode == 0, second.stderr
    assert "role: doppel-demo-ec2 (exists)" in second.stdout
    assert second.stdout.splitlines()[3].endswith("(exists)")
    assert second.stdout.splitlines()[4].startswith(f"instance: {new_instances.pop()} (exists")
    assert inventory(aws) == launched  # nothing new, nothing re-uploaded

    status = run_cli("deploy", "ec2", "status", "--name", "demo", *aws.args())
    assert status.returncode == 0
    assert "role: doppel-demo-ec2 (present)" in status.stdout
    assert "(tcp/80 from 203.0.113.0/24)" in status.stdout

    gone = run_cli("deploy", "ec2", "teardown", "--name", "demo", *aws.args())
    assert gone.returncode == 0, gone.stderr
    after = inventory(aws)
    assert after["instances"] == {**launched["instances"], **{
        i: "terminated" for i in set(launched["instances"]) - set(before["instances"])}}
    assert after["groups"] == before["groups"]
    assert after["roles"] == before["roles"] and after["profiles"] == before["profiles"]
    assert not [key for key in after["objects"] if key.startswith("ec2/demo/")]
    assert after["instances"][unrelated["instance"]] == "running"
    assert {unrelated["group"], unrelated["other"]} <= set(after["groups"])
    assert "unrelated-role" in after["roles"]

    again = run_cli("deploy", "ec2", "teardown", "--name", "demo", *aws.args())
    assert (again.returncode, again.stdout) == (0, "")
    status = run_cli("deploy", "ec2", "status", "--name", "demo", *aws.args())
    assert status.returncode == 1
    assert status.stdout.splitlines() == ["role: doppel-demo-ec2 (absent)", "instance: none"]


def test_instance_settings_role_policy_and_user_data(aws, run_cli, demo_bundle):
    result = run_cli("deploy", *launch_args(aws, demo_bundle, "--table", "doppel-prod-state"))
    assert result.returncode == 0, result.stderr
    bundle_url = result.stdout.splitlines()[0].split(": ", 1)[1]
    source_url = result.stdout.splitlines()[1].split(": ", 1)[1]
    assert source_url.startswith(f"s3://{BUCKET}/ec2/demo/source-")
    ec2, iam = aws.client("ec2"), aws.client("iam")
    (instance,) = [i for r in ec2.describe_instances(Filters=[
        {"Name": "tag:doppel:name", "Values": ["demo"]}])["Reservations"] for i in r["Instances"]]
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["doppel:managed"] == "true" and tags["doppel:source"] == source_url
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/doppel-demo-ec2")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["InstanceType"] == "t3.small"

    encoded = ec2.describe_instance_attribute(InstanceId=instance["InstanceId"],
                                              Attribute="userData")["UserData"]["Value"]
    script = base64.b64decode(encoded).decode()
    assert script.startswith("#!/bin/bash\n") and "${" not in script
    assert f"aws s3 cp '{source_url}' /opt/doppel/source.tar.gz" in script
    assert f"DOPPEL_BUNDLE_S3={bundle_url}\n" in script
    assert "DOPPEL_SECRETS_STAGE=prod\n" in script
    assert "BOT_STATE=dynamodb://doppel-prod-state\n" in script
    # the service user's home (/opt/doppel) is root's: every cache lives in its StateDirectory
    assert "DOPPEL_CACHE=/var/lib/doppel/cache\n" in script and "StateDirectory=doppel" in script
    assert ("ExecStart=/opt/doppel/venv/bin/python -m deploy.bootstrap /opt/doppel/venv/bin/"
            "python -m backend serve --host 0.0.0.0 --port 80 --workers 2\n") in script
    assert "python -m deploy.bootstrap /opt/doppel/venv/bin/python -m backend poll\n" in script
    assert "python -m deploy.bootstrap /opt/doppel/venv/bin/python -m backend telegram\n" in script
    assert script.count("Restart=on-failure") == 3
    # the Telegram unit starts only where its token is stored for this stage
    assert ("if aws ssm get-parameter --name '/doppel/prod/TELEGRAM_BOT_TOKEN' --region "
            "'us-east-1' >/dev/null 2>&1; then\n  systemctl enable --now doppel-telegram.service") in script
    assert "pip install --quiet -r /opt/doppel/app/requirements-serve.txt" in script
    assert "pip install --quiet --no-deps -r /opt/doppel/app/requirements-base.txt" in script
    assert "systemctl enable --now doppel-web.service doppel-poller.service" in script

    policy = iam.get_role_policy(RoleName="doppel-demo-ec2", PolicyName="doppel-access")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    by_action = {s["Action"][0]: s["Resource"] for s in document["Statement"]}
    bundle_key = bundle_url.split(f"{BUCKET}/", 1)[1]
    source_key = source_url.split(f"{BUCKET}/", 1)[1]
    assert by_action["s3:GetObject"] == [f"arn:aws:s3:::{BUCKET}/{bundle_key}/*",
                                         f"arn:aws:s3:::{BUCKET}/{source_key}"]
    assert by_action["ssm:GetParametersByPath"] == "arn:aws:ssm:us-east-1:*:parameter/doppel/prod"
    assert by_action["dynamodb:GetItem"] == "arn:aws:dynamodb:us-east-1:*:table/doppel-prod-state"
    role_tags = iam.list_role_tags(RoleName="doppel-demo-ec2")["Tags"]
    assert {"Key": "doppel:name", "Value": "demo"} in role_tags


def group_rules(aws) -> set[tuple[int, str]]:
    (group,) = aws.client("ec2").describe_security_groups(Filters=[
        {"Name": "tag:doppel:name", "Values": ["demo"]}])["SecurityGroups"]
    return {(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]}


def test_ssh_only_with_a_key_pair_and_rules_follow_the_options(aws, run_cli, demo_bundle):
    assert run_cli("deploy", *launch_args(aws, demo_bundle)).returncode == 0
    assert group_rules(aws) == {(80, "203.0.113.0/24")}

    aws.client("ec2").create_key_pair(KeyName="ops")
    with_key = run_cli("deploy", "ec2", "launch", "--name", "demo", "--bucket", BUCKET,
                       "--bundle", demo_bundle, "--http-cidr", "198.51.100.0/24",
                       "--key-name", "ops", "--ssh-cidr", "198.51.100.7/32", *aws.args())
    assert with_key.returncode == 0, with_key.stderr
    assert group_rules(aws) == {(80, "198.51.100.0/24"), (22, "198.51.100.7/32")}


def test_a_role_of_that_name_not_made_by_us_is_refused_and_kept(aws, run_cli, demo_bundle):
    aws.client("iam").create_role(RoleName="doppel-demo-ec2", AssumeRolePolicyDocument="{}")
    refused = run_cli("deploy", *launch_args(aws, demo_bundle))
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: IAM role doppel-demo-ec2 exists but was not made "
                                      "by python -m deploy (no doppel tags); pick another name")
    assert run_cli("deploy", "ec2", "teardown", "--name", "demo", *aws.args()).returncode == 0
    assert aws.client("iam").get_role(RoleName="doppel-demo-ec2")["Role"]["RoleName"]


def test_source_tarball_is_the_tracked_files_and_reproducible(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "sub" / "run.sh").chmod(0o755)
    (tmp_path / "gone.txt").write_text("deleted after git add\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "app.py", "sub/run.sh", "gone.txt"], cwd=tmp_path, check=True)
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "untracked.txt").write_text("not part of the app\n")

    data = source_tarball(tmp_path)
    assert source_tarball(tmp_path) == data
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert set(members) == {"app.py", "sub/run.sh"}
        assert tar.extractfile("app.py").read() == b"print('hi')\n"
        assert (members["app.py"].mode, members["sub/run.sh"].mode) == (0o644, 0o755)
        assert {member.mtime for member in members.values()} == {0}


def test_outside_a_git_checkout_the_tarball_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a git checkout"):
        source_tarball(tmp_path)
