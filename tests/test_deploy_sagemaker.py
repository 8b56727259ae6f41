"""deploy sagemaker against a real moto server: uploaded inputs (and that the rewritten
manifest resolves from them), the training job's settings, waiting, and the download."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import yaml

from deploy.source import ROOT
from model.data.manifest import load_manifest
from model.serve.bundle import read_bundle
from tests.aws import REGION, aws_fixture, moto_server  # noqa: F401  (fixtures)

BUCKET = "doppel-sagemaker-test"
ROLE = "arn:aws:iam::123456789012:role/doppel-sagemaker"
JOB = "doppel-tiny-test"


def write_manifest(tmp_path: Path, demo_bundle: Path) -> Path:
    """The shipped tiny manifest, its data in a subfolder, fine-tuning from the demo bundle."""
    (tmp_path / "exports").mkdir()
    shutil.copy(ROOT / "data" / "demo" / "chitchat_sample.json", tmp_path / "exports")
    raw = yaml.safe_load((ROOT / "data" / "demo" / "manifest-tiny.yaml").read_text())
    raw["sources"][0]["path"] = "exports/chitchat_sample.json"
    raw["base"] = str(demo_bundle)
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def model_tar(bundle: Path) -> bytes:
    """What SageMaker makes of /opt/ml/model after `model train --out /opt/ml/model/bundle`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(bundle, arcname="bundle")
    return buffer.getvalue()


def container_inputs(s3, container: Path) -> Path:
    """The job's input prefix downloaded as the container sees it."""
    prefix = f"sagemaker/{JOB}/input/"
    for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]:
        target = container / item["Key"][len(prefix):]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(BUCKET, item["Key"], str(target))
    return container


def train(run_cli, aws, manifest: Path, *extra):
    return run_cli("deploy", "sagemaker", "train", manifest, "--role", ROLE, "--bucket", BUCKET,
                   "--job-name", JOB, *extra, *aws.args())


def test_train_uploads_a_manifest_that_resolves_from_the_upload_and_starts_the_job(
        aws, run_cli, demo_bundle, tmp_path):
    (tmp_path / "project").mkdir()
    manifest = write_manifest(tmp_path / "project", demo_bundle)
    started = train(run_cli, aws, manifest, "--no-wait")
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[-2:] == [
        f"training job {JOB} started on ml.g5.xlarge",
        f"not waiting: `python -m deploy sagemaker wait {JOB}` picks it up"]

    # Fetch the input prefix as the container sees it, and load the manifest from there.
    s3 = aws.client("s3")
    container = container_inputs(s3, tmp_path / "container")
    loaded = load_manifest(container / "manifest.yaml")
    assert loaded.sources[0].path == (container / "data/0-chitchat_sample.json").resolve()
    assert loaded.sources[0].path.read_bytes() == (
        ROOT / "data" / "demo" / "chitchat_sample.json").read_bytes()
    assert loaded.base == (container / "base").resolve()
    assert read_bundle(loaded.base)["name"] == read_bundle(demo_bundle)["name"]
    original = load_manifest(manifest)
    assert (loaded.name, loaded.persona, loaded.model, loaded.train, loaded.rename) == (
        original.name, original.persona, original.model, original.train, original.rename)
    assert s3.head_object(Bucket=BUCKET, Key=f"sagemaker/{JOB}/code/source.tar.gz")

    job = aws.client("sagemaker").describe_training_job(TrainingJobName=JOB)
    spec = job["AlgorithmSpecification"]
    assert spec["TrainingImage"] == (
        f"763104351884.dkr.ecr.{REGION}.amazonaws.com/tensorflow-training:2.19.0-gpu-py312")
    assert spec["ContainerEntrypoint"] == ["bash", "-c"]
    (script,) = spec["ContainerArguments"]
    assert script.startswith("set -euo pipefail\n")
    assert "tar -xzf /opt/ml/input/data/code/source.tar.gz -C /opt/ml/code\n" in script
    assert script.endswith("\npython -m model train /opt/ml/input/data/training/manifest.yaml "
                           "--out /opt/ml/model/bundle")
    install = next(line for line in script.splitlines() if "pip install" in line)
    assert "keras==3.15.1" in install and "tf2onnx==1.17.0" in install
    assert "tensorflow" not in install.replace("tensorflow-training", "")
    assert job["RoleArn"] == ROLE
    assert job["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in job["InputDataConfig"]} == {
        "training": f"s3://{BUCKET}/sagemaker/{JOB}/input/",
        "code": f"s3://{BUCKET}/sagemaker/{JOB}/code/"}
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/sagemaker"


def test_pretrained_manifest_takes_its_gguf_base_along_and_installs_the_known_one(
        aws, run_cli, tiny_base, tmp_path):
    from tests.tiny_llama import write_manifest as write_pretrained_manifest

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(tiny_base, project / "my-base.gguf")
    manifest = write_pretrained_manifest(project, "my-base.gguf")
    started = train(run_cli, aws, manifest, "--no-wait")
    assert started.returncode == 0, started.stderr
    s3 = aws.client("s3")
    container = container_inputs(s3, tmp_path / "container")
    loaded = load_manifest(container / "manifest.yaml")
    assert loaded.model["kind"] == "pretrained"
    assert (container / loaded.model["base"]).read_bytes() == tiny_base.read_bytes()
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=JOB)
    (script,) = job["AlgorithmSpecification"]["ContainerArguments"]
    assert "pip install --quiet --no-deps -r requirements-base.txt" in script

    (project / "my-base.gguf").unlink()
    missing = train(run_cli, aws, manifest, "--no-wait", "--job-name", "doppel-no-base")
    assert missing.returncode == 2 and "model.base" in missing.stderr


def test_wait_downloads_the_verified_bundle(aws, run_cli, demo_bundle, tmp_path):
    manifest = write_manifest(tmp_path, demo_bundle)
    assert train(run_cli, aws, manifest, "--no-wait").returncode == 0
    artifact = f"sagemaker/{JOB}/output/model.tar.gz"
    aws.client("s3").put_object(Bucket=BUCKET, Key=artifact, Body=model_tar(demo_bundle))

    dest = tmp_path / "trained"
    waited = run_cli("deploy", "sagemaker", "wait", JOB, "--dest", dest, "--poll", "0.1",
                     *aws.args())
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.splitlines() == [
        f"{JOB}: Completed (Completed)",
        f"bundle: {dest} (from s3://{BUCKET}/{artifact})"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == (
        sorted(p.relative_to(demo_bundle).as_posix() for p in demo_bundle.rglob("*")
               if p.is_file()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".trained.")]


def test_train_waits_and_refuses_a_damaged_model(aws, run_cli, demo_bundle, tmp_path):
    manifest = write_manifest(tmp_path, demo_bundle)
    damaged = tmp_path / "damaged"
    shutil.copytree(demo_bundle, damaged)
    (damaged / "encoder.onnx").write_bytes(b"not the trained graph")
    aws.client("s3").create_bucket(Bucket=BUCKET)
    aws.client("s3").put_object(Bucket=BUCKET, Key=f"sagemaker/{JOB}/output/model.tar.gz",
                                Body=model_tar(damaged))

    result = train(run_cli, aws, manifest, "--poll", "0.1", "--dest", tmp_path / "out")
    assert result.returncode == 2
    assert f"{JOB}: Completed (Completed)" in result.stdout
    assert result.stderr.startswith("error: ") and "bundle/encoder.onnx" in result.stderr
    assert not (tmp_path / "out").exists()


def test_completed_job_without_a_model_is_a_clear_error(aws, run_cli, demo_bundle, tmp_path):
    result = train(run_cli, aws, write_manifest(tmp_path, demo_bundle), "--poll", "0.1",
                   "--dest", tmp_path / "out")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: s3://{BUCKET}/sagemaker/{JOB}/output/model.tar.gz:"
                                     " the job finished but wrote no model there")


def test_bad_manifest_starts_nothing(aws, run_cli, tmp_path):
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("name: x\nsources: [{format: whatsapp, path: missing.txt}]\npersona: A\n")
    result = train(run_cli, aws, manifest, "--no-wait")
    assert result.returncode == 2
    assert "sources[0].path" in result.stderr
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_default_bucket_is_the_sagemaker_sdk_one(aws, run_cli, demo_bundle, tmp_path):
    result = run_cli("deploy", "sagemaker", "train", write_manifest(tmp_path, demo_bundle),
                     "--role", ROLE, "--job-name", JOB, "--no-wait", *aws.args())
    assert result.returncode == 0, result.stderr
    bucket = f"sagemaker-{REGION}-123456789012"  # moto's account
    assert f"s3://{bucket}/sagemaker/{JOB}/" in result.stdout
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=JOB)
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{bucket}/sagemaker"


def test_manifest_that_model_train_refuses_starts_nothing(aws, run_cli, demo_bundle, tmp_path):
    """QA: a persona who sent no messages got a GPU job that could only fail."""
    manifest = write_manifest(tmp_path, demo_bundle)
    raw = yaml.safe_load(manifest.read_text())
    manifest.write_text(yaml.safe_dump({**raw, "persona": "Zed"}, sort_keys=False))
    local = run_cli("model", "train", manifest, "--out", tmp_path / "out")
    result = train(run_cli, aws, manifest, "--no-wait")
    assert (result.returncode, result.stderr) == (2, local.stderr)
    assert "persona: 'Zed' sent no text messages" in result.stderr
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []
    assert aws.client("s3").list_buckets()["Buckets"] == []
