"""Cold start of the Lambda package: a fresh Python 3.12 process, sys.path = the unzipped
package + the standard library (as on Lambda), with the environment `deploy lambda deploy`
gives the function, imports Zappa's handler (which, with INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT,
fetches the secrets from SSM, downloads and verifies the bundle from S3 — a moto server
here — and loads the model), then answers one POST /api/reply through the handler.

    .venv/bin/python bench/lambda_cold_start.py [--zip build/lambda/doppel-dev.zip] [--runs 5]

The cold start is import + first reply, timed inside the process (what Lambda's init and
first invoke see; interpreter start and exit are shown apart). Prints the median of
--runs (target <= 1.0 s), the same with the bundle already in /tmp as the baseline (a
container whose /tmp survived: no download), their ratio, the machine's load average
(wall-clock figures scale with it; the process CPU time much less), and the unzipped size (target <= 160 MB). Without --zip
the package is built first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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
from deploy.zappa_config import StageValues, stage_settings  # noqa: E402
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
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([python312, "-I", "-S", str(DRIVER), str(package), str(steps)],
                          env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"cold start failed:\n{done.stderr[-3000:]}")
    lines = {line["step"]: line for line in (json.loads(raw[len(MARK):])
             for raw in done.stdout.splitlines() if raw.startswith(MARK))}
    status = lines[0]["result"]["statusCode"]
    if status != 200:
        raise SystemExit(f"reply failed with {status}: {lines[0]['result']}")
    inside = lines["import"]["seconds"] + lines[0]["seconds"]
    return {"cold": inside, "import": lines["import"]["seconds"], "first": lines[0]["seconds"],
            "outside": wall - inside, "cpu": cpu}


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
        values = StageValues(stage="bench", region="us-east-1", bucket="doppel-bench",
                             bundle_url=url, state_table="doppel-bench-state")
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("DOPPEL_", "X_", "BOT_"))}
        env.update(stage_settings(values)["bench"]["aws_environment_variables"])
        load_before = os.getloadavg()[0]

        cold, cached = [], []
        for run in range(args.runs):
            cold.append(cold_start(python312, work / "package", steps,
                                   env | {"DOPPEL_BUNDLE_CACHE": str(work / f"tmp-{run}")}))
            cached.append(cold_start(python312, work / "package", steps,
                                     env | {"DOPPEL_BUNDLE_CACHE": str(work / "tmp-0")}))
        server.stop()

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    print(f"package: {zip_path} ({unzipped_bytes / 1e6:.1f} MB = "
          f"{unzipped_bytes / 2**20:.1f} MiB unzipped; target <= 160 MB)")
    print(f"load average (1 min) before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"cold start, empty /tmp:            {median(cold, 'cold'):.3f} s median of "
          f"{args.runs} (import+setup {median(cold, 'import'):.3f} s, first reply "
          f"{median(cold, 'first'):.3f} s; interpreter start+exit {median(cold, 'outside'):.3f}"
          " s more; target <= 1.0 s)")
    print(f"  CPU time of the whole process (user+sys, less sensitive to load): "
          f"{median(cold, 'cpu'):.3f} s median")
    print(f"baseline, bundle already in /tmp:  {median(cached, 'cold'):.3f} s median")
    print(f"ratio cold / baseline: {median(cold, 'cold') / median(cached, 'cold'):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
