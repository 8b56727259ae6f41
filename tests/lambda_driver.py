"""Drive Zappa's handler from an unzipped Lambda package, in a fresh interpreter.

    python3.12 -I -S tests/lambda_driver.py PACKAGE_DIR STEPS_JSON

As on Lambda, sys.path is the package directory plus the standard library only (-I -S:
no site-packages, no current directory), and the working directory is the package.
STEPS_JSON holds a list run in order: {"event": {...}} calls handler.lambda_handler;
{"http": {"method", "url", "json"}} makes a request in between (e.g. to the X
sandbox); {"expr": "..."} evaluates a Python expression in the function's process
(sys.modules at hand), to look at its state. Prints one JSON line per step ({"step", "seconds", "result"}), after a first
line timing the handler import, and a last line listing the top-level modules loaded;
each is prefixed with MARK, since Zappa's handler prints to stdout too.
Standard library only: it runs before anything from the package is importable.
"""

import json
import os
import sys
import time
import urllib.request

MARK = "@driver "


class LambdaContext:
    function_name = "doppel-test"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 2048

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http(spec: dict):
    body = json.dumps(spec["json"]).encode() if "json" in spec else None
    request = urllib.request.Request(spec["url"], data=body, method=spec.get("method", "GET"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def report(line: dict) -> None:
    print(MARK + json.dumps(line, default=str), flush=True)


def main() -> int:
    package_dir, steps_path = sys.argv[1], sys.argv[2]
    with open(steps_path, encoding="utf-8") as handle:
        steps = json.load(handle)
    sys.path.insert(0, package_dir)
    os.chdir(package_dir)
    started = time.perf_counter()
    import handler

    report({"step": "import", "seconds": time.perf_counter() - started})
    for number, step in enumerate(steps):
        started = time.perf_counter()
        if "event" in step:
            result = handler.lambda_handler(step["event"], LambdaContext())
        elif "expr" in step:
            result = eval(step["expr"], {"sys": sys})  # the test's own expression
        else:
            result = http(step["http"])
        report({"step": number, "seconds": time.perf_counter() - started, "result": result})
    loaded = sorted({name.split(".")[0] for name in sys.modules})
    report({"step": "modules", "result": loaded})
    return 0


if __name__ == "__main__":
    sys.exit(main())
