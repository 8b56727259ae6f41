"""deploy.artifacts against a real moto S3 server: versioned upload, idempotency, verified download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.artifacts import (
    SUMS,
    bundle_version,
    download_bundle,
    list_bundles,
    resolve_url,
    upload_bundle,
)
from model.files import sha256_file
from model.serve.bundle import BundleError, write_bundle
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)

BUCKET = "doppel-test-models"


def make_bundle(root: Path, name: str = "ana", encoder: bytes = b"encoder-v1") -> Path:
    """A small bundle: real bundle.json with sha256s, stand-in graph bytes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tokenizer.json").write_text('{"model": "stand-in"}')
    (root / "encoder.onnx").write_bytes(encoder)
    (root / "decoder_step.onnx").write_bytes(b"decoder-v1" * 1000)
    (root / "keras").mkdir(exist_ok=True)
    (root / "keras" / "model.keras").write_bytes(b"weights")
    write_bundle(root, {"name": name, "kind": "lstm", "personas": ["Ana"],
                        "special_tokens": {}, "hyperparameters": {}})
    return root


def objects(s3) -> dict[str, str]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: item["ETag"] for item in listed}


def test_upload_is_versioned_complete_and_idempotent(aws, tmp_path):
    s3 = aws.client("s3")
    bundle = make_bundle(tmp_path / "ana")
    version = bundle_version(bundle)

    first = upload_bundle(s3, bundle, BUCKET, "models")
    assert first.url == f"s3://{BUCKET}/models/ana/{version}"
    assert sorted(first.uploaded) == ["bundle.json", "decoder_step.onnx", "encoder.onnx",
                                      "keras/model.keras", "tokenizer.json"]
    keys = objects(s3)
    assert set(keys) == {f"models/ana/{version}/{rel}" for rel in first.uploaded} | {
        f"models/ana/{version}/{SUMS}", "models/ana/LATEST"}
    sums = s3.get_object(Bucket=BUCKET, Key=f"models/ana/{version}/{SUMS}")["Body"].read()
    assert f"{sha256_file(bundle / 'encoder.onnx')}  encoder.onnx\n" in sums.decode()
    assert f"{sha256_file(bundle / 'bundle.json')}  bundle.json\n" in sums.decode()

    second = upload_bundle(s3, bundle, BUCKET, "models")
    assert second.unchanged and second.uploaded == [] and second.url == first.url
    assert objects(s3) == keys  # nothing rewritten, not even LATEST


def test_changed_bundle_gets_a_new_version_and_moves_latest(aws, tmp_path):
    s3 = aws.client("s3")
    old = upload_bundle(s3, make_bundle(tmp_path / "v1"), BUCKET, "models")
    new = upload_bundle(s3, make_bundle(tmp_path / "v2", encoder=b"encoder-v2"), BUCKET, "models")
    assert new.version != old.version
    assert resolve_url(s3, BUCKET, "models", "ana") == new.url
    rows = list_bundles(s3, BUCKET, "models")
    assert [(row["version"], row["latest"], row["complete"], row["files"]) for row in rows] == sorted(
        [(old.version, False, True, 5), (new.version, True, True, 5)])


def test_interrupted_upload_resumes_with_only_the_missing_files(aws, tmp_path):
    s3 = aws.client("s3")
    bundle = make_bundle(tmp_path / "ana")
    version = bundle_version(bundle)
    upload_bundle(s3, bundle, BUCKET, "models")
    # As if the upload died after two files: no SHA256SUMS, so the version is incomplete.
    for key in objects(s3):
        if not key.endswith(("encoder.onnx", "tokenizer.json")):
            s3.delete_object(Bucket=BUCKET, Key=key)
    assert [row["complete"] for row in list_bundles(s3, BUCKET, "models")] == [False]
    with pytest.raises(BundleError, match="SHA256SUMS missing"):
        download_bundle(s3, f"s3://{BUCKET}/models/ana/{version}", tmp_path / "cache")

    resumed = upload_bundle(s3, bundle, BUCKET, "models")
    assert sorted(resumed.uploaded) == ["bundle.json", "decoder_step.onnx", "keras/model.keras"]
    assert list_bundles(s3, BUCKET, "models")[0]["complete"]


def test_damaged_local_bundle_is_not_uploaded(aws, tmp_path):
    s3 = aws.client("s3")
    bundle = make_bundle(tmp_path / "ana")
    (bundle / "encoder.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="encoder.onnx"):
        upload_bundle(s3, bundle, BUCKET, "models")


def test_download_verifies_and_caches_by_version(aws, tmp_path):
    s3 = aws.client("s3")
    bundle = make_bundle(tmp_path / "ana")
    url = upload_bundle(s3, bundle, BUCKET, "models").url
    cache = tmp_path / "cache"

    got = download_bundle(s3, url, cache)
    assert got == cache / "ana" / bundle_version(bundle)
    assert {p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()} == {
        "bundle.json", "tokenizer.json", "encoder.onnx", "decoder_step.onnx", "keras/model.keras"}
    assert (got / "encoder.onnx").read_bytes() == b"encoder-v1"
    assert list((cache / "ana").iterdir()) == [got]  # no partial directory left behind

    # Second call (a warm container): served from the cache without touching S3.
    for key in objects(s3):
        s3.delete_object(Bucket=BUCKET, Key=key)
    assert download_bundle(s3, url, cache) == got


def test_download_refuses_a_tampered_object_and_leaves_no_cache(aws, tmp_path):
    s3 = aws.client("s3")
    url = upload_bundle(s3, make_bundle(tmp_path / "ana"), BUCKET, "models").url
    key = url.split(f"{BUCKET}/", 1)[1] + "/decoder_step.onnx"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"something else")
    cache = tmp_path / "cache"
    with pytest.raises(BundleError, match="decoder_step.onnx"):
        download_bundle(s3, url, cache)
    assert list((cache / "ana").iterdir()) == []


def test_command_line_upload_list_download(aws, tmp_path, run_cli):
    """Options go before or after the operand (`upload --bucket B DIR`, QA: refused)."""
    bundle = make_bundle(tmp_path / "ana")
    version = bundle_version(bundle)
    common = ["--bucket", BUCKET, *aws.args()]

    up = run_cli("deploy", "artifacts", "upload", bundle, *common)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip() == f"s3://{BUCKET}/models/ana/{version} (5 file(s) uploaded)"
    again = run_cli("deploy", "artifacts", "upload", *common, bundle)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("(unchanged, nothing uploaded)")

    listed = run_cli("deploy", "artifacts", "list", *common, "ana")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[:3] == ["ana", version, "5 files"]
    assert listed.stdout.rstrip().endswith("latest")

    down = run_cli("deploy", "artifacts", "download", "--dest", tmp_path / "c", *common, "ana")
    assert down.returncode == 0, down.stderr
    assert Path(down.stdout.strip()) == tmp_path / "c" / "ana" / version
    meta = json.loads((tmp_path / "c" / "ana" / version / "bundle.json").read_text())
    assert meta["name"] == "ana"

    missing = run_cli("deploy", "artifacts", "download", "bob", *common)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: no bundle named 'bob' in s3://{BUCKET}/models"


def test_download_refuses_sums_that_leave_out_a_file_of_bundle_json(aws, tmp_path):
    s3 = aws.client("s3")
    url = upload_bundle(s3, make_bundle(tmp_path / "ana"), BUCKET, "models").url
    key = url.split(f"{BUCKET}/", 1)[1] + f"/{SUMS}"
    sums = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    trimmed = "".join(line + "\n" for line in sums.splitlines() if "keras/" not in line)
    s3.put_object(Bucket=BUCKET, Key=key, Body=trimmed.encode())
    with pytest.raises(BundleError, match="SHA256SUMS and bundle.json disagree"):
        download_bundle(s3, url, tmp_path / "cache")
    assert list((tmp_path / "cache" / "ana").iterdir()) == []
