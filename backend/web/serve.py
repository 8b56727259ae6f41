"""`python -m backend serve` — the reply API and chat page under gunicorn.

gunicorn runs `backend.web.app.create_app` inside each worker after the fork, so every
worker loads the bundle once and owns its onnxruntime sessions. Workers are gthread
workers: one worker serves many requests at once on threads, which is what lets the
micro-batcher decode them together. `--dev` runs Flask's development server instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import gunicorn.util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

from backend.config import SETTINGS, load_config
from model.cli import positive_int
from model.logs import log_event
from model.serve.bundle import verify_bundle

log = logging.getLogger("doppel.serve")
MAX_PORT = 65535


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", default=None,
                        help=f"model bundle directory (default: ${SETTINGS['bundle'].env} "
                             f"or the demo bundle)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=8000)
    parser.add_argument("--workers", type=positive_int, default=len(os.sched_getaffinity(0)),
                        help="worker processes, each with its own copy of the model "
                             "(default: one per CPU core)")
    parser.add_argument("--threads", type=positive_int, default=64,
                        help="request threads per worker (concurrent requests it can batch)")
    parser.add_argument("--timeout", type=positive_int, default=60,
                        help="seconds before a stuck worker is restarted")
    parser.add_argument("--dev", action="store_true",
                        help="Flask's development server (one process, threads) instead")


def port(text: str) -> int:
    """argparse type: a TCP port number to listen on."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"expected a port number 1-{MAX_PORT}, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    overrides = {"bundle": args.bundle} if args.bundle else {}
    # Here, before any worker starts: a bad setting or bundle is one line and exit 2, not
    # a traceback from every worker and gunicorn's "Worker failed to boot".
    settings = load_config(overrides)
    verify_bundle(settings["bundle"])
    if args.dev:
        from backend.web.app import create_app

        create_app(overrides).run(host=args.host, port=args.port, threaded=True)
        return 0
    # Files the workers share, in one directory removed on exit: Prometheus values (must
    # be set before any process imports prometheus_client; /metrics adds the workers' up),
    # session history (a session's next request may land on another worker) and rate-limit
    # buckets (else each worker would grant a client the whole burst again).
    shared_dir = Path(tempfile.mkdtemp(prefix="doppel-serve-"))
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        (shared_dir / "metrics").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared_dir / "metrics")
    os.environ.setdefault(SETTINGS["sessions_db"].env, str(shared_dir / "sessions.sqlite"))
    os.environ.setdefault(SETTINGS["rate_limit_db"].env, str(shared_dir / "ratelimit.sqlite"))
    # gunicorn answers requests it cannot parse (a header over 8 KiB, a URL over 4 KiB)
    # itself, before any app code, with an HTML page; every answer of ours is JSON.
    gunicorn.util.write_error = _write_json_error
    try:
        _GunicornApp(overrides, {
            "bind": f"{args.host}:{args.port}",
            "workers": args.workers,
            "worker_class": "gthread",
            "threads": args.threads,
            "timeout": args.timeout,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,  # the app logs one JSON line per request itself
            # gunicorn's own lines go through our logging instead of its plain text; its
            # wsgi.errors then has no stream, which nothing of ours writes to
            "errorlog": None,
            "logger_class": _OurLogLines,
            "child_exit": _forget_worker_metrics,
            # one fixed control socket path per user would collide between servers
            "control_socket_disable": True,
        }).run()
    finally:
        shutil.rmtree(shared_dir, ignore_errors=True)
    return 0


def _forget_worker_metrics(server, worker) -> None:
    """A dead worker's live gauges (model info) must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _write_json_error(sock, status: int, reason: str, message: str) -> None:
    """gunicorn.util.write_error's contract, in the API's error shape and headers."""
    from backend.web.app import HTTP_ERROR_CODES, SECURITY_HEADERS  # in the worker: already loaded

    code = HTTP_ERROR_CODES.get(status, "internal" if status >= 500 else "bad_request")
    body = json.dumps({"error": {"code": code, "message": message or reason}}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Connection: close",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items())]
    gunicorn.util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class _OurLogLines(Logger):
    """gunicorn's log (start, signals, worker boots and failures with their tracebacks)
    handed on to the root logger, whose handler writes every line in our format
    (model/logs.py, set up by the dispatcher in this process; workers inherit it)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)  # with no errorlog it adds no handler of its own
        self.error_log.propagate = True


class _GunicornApp(BaseApplication):
    def __init__(self, app_config: dict, options: dict):
        self.app_config = app_config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from backend.web.app import create_app  # in the worker, after the fork

        try:
            return create_app(self.app_config)
        except Exception:
            # gunicorn would log this too, then print the bare message outside any format
            log_event(log, "worker_boot_failed", logging.ERROR, exc_info=True)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
