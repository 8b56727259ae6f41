"""Cold start of the Lambda package: a fresh Python 3.12 process, sys.path = the unzipped
package + the standard library (as on Lambda), imports Zappa's handler (which fetches the
secrets from SSM, downloads and verifies the bundle from S3 — a moto server here — and
loads the model), then answers one POST /api/reply through the handler.

    .venv/bin/python bench/lambda_cold_start.py [--zip build/lambda/doppel-dev.zip] [--runs 5]

Prints the median of --runs cold starts (target <= 1.0 s), the same with the bundle
already in /tmp as the baseline (a container whose /tmp survived: no download), their
ratio, the split of the cold start (import+setup, first request), and the unzipped size
of the package (target <= 160 MB). Without --zip the package is built first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy.artifacts import upload_bundle  # noqa: E402
from deploy.lambda_package import find_python312  # noqa: E402
from deploy.secrets_store import put_secrets  # noqa: E402
from tests.lambda_driver import MARK  # noqa: E402

DRIVER = ROOT / "tests" / "lambda_driver.py"
BUNDLE = ROOT / "data" / "models" / "demo"
EVENT = {
    "resource": "/{proxy+}", "path": "/api/reply", "httpMethod": "POST",
    "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com", "Content-Type":
                "application/json", "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"},
    "queryStringParameters": None, "pathParameters": {"proxy": "api/reply"},
    "requestContext": {"stage": "dev", "path": "/dev/api/reply", "httpMethod": "POST",
                       "identity": {"sourceIp": "203.0.113.9"}, "requestId": "bench"},
    "body": json.dumps({"message": "are you coming tonight?", "seed": 1}),
    "isBase64Encoded": False,
}


def build_zip(build_dir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "deploy", "lambda", "package", "--stage", "dev",
                    "--build-dir", str(build_dir), "--region", "us-east-1"],
                   cwd=ROOT, check=True)
    return build_dir / "doppel-dev.zip"


def cold_start(python312: str, package: Path, steps: Path, env: dict) -> dict:
    """One fresh process: wall time to exit, and the driver's own split."""
    started = time.perf_counter()
    done = subprocess.run([python312, "-I", "-S", str(DRIVER), str(package), str(steps)],
                          env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cold start failed:\n{done.stderr[-3000:]}")
    lines = {line["step"]: line for line in (json.loads(raw[len(MARK):])
             for raw in done.stdout.splitlines() if raw.startswith(MARK))}
    status = lines[0]["result"]["statusCode"]
    if status != 200:
        raise SystemExit(f"reply failed with {status}: {lines[0]['result']}")
    return {"wall": wall, "import": lines["import"]["seconds"], "first": lines[0]["seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, help="package to measure (default: build one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python312 = find_python312()
    if python312 is None:
        raise SystemExit("needs a Python 3.12 interpreter (set DOPPEL_PYTHON312)")

    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        zip_path = args.zip or build_zip(work / "build")
        with zipfile.ZipFile(zip_path) as archive:
            unzipped_bytes = sum(info.file_size for info in archive.infolist())
            archive.extractall(work / "package")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench",
                          AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
        import boto3

        url = upload_bundle(boto3.client("s3"), BUNDLE, "doppel-bench", "models").url
        put_secrets(boto3.client("ssm"), "bench", {"X_API_KEY": "bench-key"})
        steps = work / "steps.json"
        steps.write_text(json.dumps([{"event": EVENT}]))
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("DOPPEL_", "X_", "BOT_"))}
        env.update(DOPPEL_BUNDLE_S3=url, DOPPEL_SECRETS_STAGE="bench",
                   BOT_STATE="dynamodb://doppel-bench-state")

        cold, cached = [], []
        for run in range(args.runs):
            cold.append(cold_start(python312, work / "package", steps,
                                   env | {"DOPPEL_BUNDLE_CACHE": str(work / f"tmp-{run}")}))
            cached.append(cold_start(python312, work / "package", steps,
                                     env | {"DOPPEL_BUNDLE_CACHE": str(work / "tmp-0")}))
        server.stop()

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    print(f"package: {zip_path} ({unzipped_bytes / 1e6:.1f} MB unzipped; target <= 160 MB)")
    print(f"cold start to first reply, empty /tmp:  {median(cold, 'wall'):.3f} s median of "
          f"{args.runs} (import+setup {median(cold, 'import'):.3f} s, first request "
          f"{median(cold, 'first'):.3f} s; target <= 1.0 s)")
    print(f"baseline, bundle already in /tmp:       {median(cached, 'wall'):.3f} s median")
    print(f"ratio cold / baseline: {median(cold, 'wall') / median(cached, 'wall'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
