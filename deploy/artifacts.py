"""Model bundles in S3: content-addressed upload, verified download, listing.

Layout under the bucket:
  <prefix>/<bundle name>/<version>/bundle.json, tokenizer.json, *.onnx, keras/...
  <prefix>/<bundle name>/<version>/SHA256SUMS   every file's sha256 (written last)
  <prefix>/<bundle name>/LATEST                 the version uploaded most recently
  <prefix>/_bases/<sha256>/<file>                the base GGUF of pretrained bundles
The version is the sha256 of bundle.json, which itself lists every other file's sha256,
so one version always means the same bytes: an unchanged bundle is never re-uploaded,
and a cached download never goes stale. SHA256SUMS is put last, so a version without
it is an interrupted upload and is neither trusted nor skipped. A pretrained bundle ships
only what fine-tuning changed; its base goes up once per sha256 before the bundle, and a
download puts it where the runtime looks for a base it cannot find installed
(model.serve.pretrained.assemble.stored_base).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from botocore.exceptions import ClientError

from deploy.aws import Aws, add_actions, ensure_bucket, is_missing, parse_s3_url
from model.errors import InputError
from model.files import sha256_file
from model.serve.bundle import BUNDLE_JSON, BundleError, read_bundle, verify_bundle

SUMS = "SHA256SUMS"
LATEST = "LATEST"
DEFAULT_PREFIX = "models"
BASES = "_bases"  # never a bundle name: manifest names cannot start with "_"
VERSION_CHARS = 16  # of the hex digest: collisions are not a concern at this scale
FETCH_THREADS = 8  # a bundle's files are fetched at once: each GET is a network round trip


@dataclass(frozen=True)
class Upload:
    url: str  # s3://bucket/prefix/name/version
    version: str
    uploaded: list[str]  # relative paths actually sent (a base sent: ../_bases/...)
    unchanged: bool


def bundle_version(bundle_dir: Path) -> str:
    return hashlib.sha256((Path(bundle_dir) / BUNDLE_JSON).read_bytes()).hexdigest()[:VERSION_CHARS]


def _join(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def object_exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if is_missing(error):
            return False
        raise


def _keys(s3, bucket: str, prefix: str) -> dict[str, int]:
    """Every key under `prefix` with its size."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"]] = item["Size"]
    return found


def version_url(bucket: str, prefix: str, name: str, version: str) -> str:
    return f"s3://{bucket}/{_join(prefix, name, version)}"


def upload_bundle(s3, bundle_dir: str | Path, bucket: str, prefix: str = DEFAULT_PREFIX,
                  region: str = "us-east-1") -> Upload:
    root = Path(bundle_dir)
    meta = verify_bundle(root)  # never publish a damaged bundle
    version = bundle_version(root)
    base = _join(prefix, meta["name"], version)
    url = version_url(bucket, prefix, meta["name"], version)
    ensure_bucket(s3, bucket, region)
    uploaded = _upload_base(s3, root, meta, bucket, prefix)
    if object_exists(s3, bucket, f"{base}/{SUMS}"):
        unchanged = not uploaded
    else:
        # Keys are content-addressed and S3 puts are atomic: a key already there (from an
        # interrupted upload) holds exactly these bytes.
        present = _keys(s3, bucket, base + "/")
        digests = {**meta["files"], BUNDLE_JSON: sha256_file(root / BUNDLE_JSON)}
        for rel, digest in sorted(digests.items()):
            key = f"{base}/{rel}"
            if present.get(key) == (root / rel).stat().st_size:
                continue
            s3.upload_file(str(root / rel), bucket, key,
                           ExtraArgs={"Metadata": {"sha256": digest}})
            uploaded.append(rel)
        sums = "".join(f"{digest}  {rel}\n" for rel, digest in sorted(digests.items()))
        s3.put_object(Bucket=bucket, Key=f"{base}/{SUMS}", Body=sums.encode())
        unchanged = False
    latest_key = _join(prefix, meta["name"], LATEST)
    if _read_text(s3, bucket, latest_key) != version:
        s3.put_object(Bucket=bucket, Key=latest_key, Body=version.encode())
    return Upload(url, version, uploaded, unchanged)


def _base_key(prefix: str, base_meta: dict) -> str:
    return _join(prefix, BASES, base_meta["sha256"], base_meta["file"])


def _upload_base(s3, root: Path, meta: dict, bucket: str, prefix: str) -> list[str]:
    """Put a pretrained bundle's base (found as the runtime finds it) unless it is there."""
    if meta.get("kind") != "pretrained":
        return []
    from model.serve.pretrained.assemble import open_base

    key = _base_key(prefix, meta["base"])
    if object_exists(s3, bucket, key):
        return []
    base = open_base(root, meta["base"])  # BundleError when this machine lacks it too
    s3.upload_file(str(base.path), bucket, key, ExtraArgs={"Metadata": {"sha256": base.sha256}})
    return [f"../{BASES}/{base.sha256}/{base.path.name}"]


def _download_base(s3, bucket: str, prefix: str, base_meta: dict, url: str) -> None:
    """Fetch a pretrained bundle's base into the runtime's base store once, verified."""
    from model.serve.pretrained.assemble import stored_base

    target = stored_base(base_meta)
    if target.is_file() and sha256_file(target) == base_meta["sha256"]:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        key = _base_key(prefix, base_meta)
        try:
            got = _fetch(s3, bucket, key, Path(partial))
        except ClientError as error:
            if is_missing(error):
                raise BundleError("the pretrained base is not in S3 (upload the bundle again)",
                                  path=f"s3://{bucket}/{key}") from None
            raise
        if got != base_meta["sha256"]:
            raise BundleError("downloaded base does not match its sha256", path=url)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def _read_text(s3, bucket: str, key: str) -> str | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().strip()
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def resolve_url(s3, bucket: str, prefix: str, name: str, version: str | None = None) -> str:
    """s3:// URL of one uploaded version of `name` (LATEST when `version` is None)."""
    if version is None:
        version = _read_text(s3, bucket, _join(prefix, name, LATEST))
        if version is None:
            raise InputError(f"no bundle named {name!r} in s3://{_join(bucket, prefix)}")
    return version_url(bucket, prefix, name, version)


def _parse_sums(text: str, where: str) -> dict[str, str]:
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, _, rel = line.partition("  ")
        path = PurePosixPath(rel)
        if len(digest) != 64 or not rel or path.is_absolute() or ".." in path.parts:
            raise BundleError(f"malformed line: {line!r}", path=where, line=number)
        sums[rel] = digest
    return sums


def _fetch(s3, bucket: str, key: str, target: Path) -> str:
    """Stream one object into `target`; returns its sha256. One GET, no transfer threads:
    for a bundle's few files the thread pool of download_file costs more than it saves."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    with open(target, "wb") as handle:
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def download_bundle(s3, url: str, cache_root: str | Path) -> Path:
    """Fetch the bundle at `url` into `cache_root/<name>/<version>` once, verified.

    Every file is hashed as it arrives and checked against SHA256SUMS, whose entries
    must be exactly bundle.json's file list (with the same digests) plus bundle.json.
    The files land in a temporary sibling directory renamed into place only then, so the
    cache holds complete verified bundles or nothing; a second call (or a concurrent one
    that lost the race) reuses it.
    """
    bucket, base = parse_s3_url(url)
    name, version = base.rstrip("/").split("/")[-2:]
    final = Path(cache_root) / name / version
    if final.is_dir():
        return final
    sums_text = _read_text(s3, bucket, f"{base}/{SUMS}")
    if sums_text is None:
        raise BundleError("no complete bundle there (SHA256SUMS missing)", path=url)
    sums = _parse_sums(sums_text, f"{url}/{SUMS}")
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=final.parent))
    try:
        for rel in sums:
            (partial / rel).parent.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="bundle-fetch") as pool:
            fetched = pool.map(lambda rel: _fetch(s3, bucket, f"{base}/{rel}", partial / rel), sums)
            for (rel, digest), got in zip(sums.items(), fetched, strict=True):
                if got != digest:
                    raise BundleError("downloaded file does not match its sha256",
                                      path=f"{url}/{rel}")
        meta = read_bundle(partial)
        if {**meta["files"], BUNDLE_JSON: sums.get(BUNDLE_JSON)} != sums:
            raise BundleError("SHA256SUMS and bundle.json disagree", path=f"{url}/{SUMS}")
        if meta.get("kind") == "pretrained":
            _download_base(s3, bucket, base.rstrip("/").rsplit("/", 2)[0] if
                           base.count("/") >= 2 else "", meta["base"], url)
        try:
            os.rename(partial, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(partial)
    return final


def list_bundles(s3, bucket: str, prefix: str = DEFAULT_PREFIX,
                 name: str | None = None) -> list[dict]:
    """One row per uploaded version: name, version, files, bytes, complete, latest."""
    root = _join(prefix)
    skip = len(root) + 1 if root else 0
    rows: dict[tuple[str, str], dict] = {}
    latest = {}
    under = _join(prefix, name or "")
    for key, size in _keys(s3, bucket, under + "/" if under else "").items():
        parts = key[skip:].split("/")  # name, version, file path...
        if len(parts) == 2 and parts[1] == LATEST:
            latest[parts[0]] = _read_text(s3, bucket, key)
            continue
        if len(parts) < 3 or parts[0] == BASES:
            continue
        row = rows.setdefault((parts[0], parts[1]), {
            "name": parts[0], "version": parts[1], "files": 0, "bytes": 0, "complete": False})
        if parts[2:] == [SUMS]:
            row["complete"] = True
        else:
            row["files"] += 1
            row["bytes"] += size
    for (bundle_name, version), row in rows.items():
        row["latest"] = latest.get(bundle_name) == version
    return [rows[key] for key in sorted(rows)]


# --- command line ------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--bucket", required=True)
    options.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix (default: models)")
    actions = add_actions(parser, {"upload": "upload a bundle directory (content-addressed)",
                                   "download": "download a bundle, verified",
                                   "list": "list the uploaded versions"}, options)
    actions["upload"].add_argument("bundle", help="bundle directory")
    actions["download"].add_argument("bundle", help="NAME or NAME@VERSION (default: LATEST)")
    actions["download"].add_argument("--dest", default="artifacts/bundles",
                                     help="cache directory (the bundle lands in DEST/NAME/VERSION)")
    actions["list"].add_argument("bundle", nargs="?", help="only this bundle NAME")


def run(args: argparse.Namespace) -> int:
    aws = Aws.from_args(args)
    s3 = aws.client("s3")
    if args.action == "upload":
        result = upload_bundle(s3, args.bundle, args.bucket, args.prefix, aws.region)
        state = "unchanged, nothing uploaded" if result.unchanged else (
            f"{len(result.uploaded)} file(s) uploaded")
        print(f"{result.url} ({state})")
    elif args.action == "download":
        name, _, version = args.bundle.partition("@")
        url = resolve_url(s3, args.bucket, args.prefix, name, version or None)
        print(download_bundle(s3, url, args.dest))
    else:
        for row in list_bundles(s3, args.bucket, args.prefix, args.bundle):
            flags = ("latest " if row["latest"] else "") + (
                "" if row["complete"] else "INCOMPLETE")
            print(f"{row['name']}\t{row['version']}\t{row['files']} files\t"
                  f"{row['bytes']} bytes\t{flags}".rstrip())
    return 0
