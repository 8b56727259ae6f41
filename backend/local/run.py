"""`python -m backend run` (what `make run` starts): the whole bot on one machine.

Three processes on 127.0.0.1, each the same command a user could run alone:
  - the local X sandbox            python -m backend sandbox --port 8001
  - the reply API and chat page    python -m backend serve   --port 8000
  - the X mention poller           python -m backend poll    --interval 2
The poller talks to the sandbox unless real X credentials are in the environment.
Ctrl-C stops all three; if one dies, the others are stopped too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from backend.config import ROOT
from model.errors import InputError

X_CREDENTIALS = ("X_BEARER_TOKEN", "X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_SECRET")
SANDBOX_REPLIES_PER_HOUR, SANDBOX_CHAIN_DEPTH = 120, 50


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="reply API and chat page")
    parser.add_argument("--sandbox-port", type=int, default=8001, help="local X sandbox")
    parser.add_argument("--bundle", help="model bundle (default: the shipped demo model)")
    parser.add_argument("--state-dir", default=str(ROOT / "var"),
                        help="the poller's SQLite ledger and the sandbox's tweets")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between X polls")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} did not come up: its process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def _check_free(port: int, flag: str) -> None:
    """A port another program holds: say so before starting anything (a second `backend
    run` once announced "Doppel is up." because the first one answered on its ports)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do:
        try:  # a just-stopped run's TIME_WAIT connections are no conflict, a listener is
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise InputError(f"port {port} is in use (another `python -m backend run`?): "
                             f"stop that program or choose another with {flag}") from None


def run(args) -> int:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.bundle:
        env["DOPPEL_BUNDLE"] = str(Path(args.bundle).resolve())
    env.setdefault("BOT_STATE", f"sqlite:///{(state_dir / 'poller.sqlite').resolve()}")
    real_x = all(env.get(name) for name in X_CREDENTIALS[1:]) and "X_API_BASE" not in env
    python = [sys.executable, "-m", "backend"]
    commands = []
    _check_free(args.port, "--port")
    if not real_x:
        _check_free(args.sandbox_port, "--sandbox-port")
        sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
        env["X_API_BASE"] = sandbox_url
        # someone trying the bot mentions it again and again as the sandbox's one user:
        # X's per-user cap (5 an hour) and reply-chain depth (3) would silently end the
        # demo, so against the sandbox they are loose unless set
        env.setdefault("X_USER_REPLIES_PER_HOUR", str(SANDBOX_REPLIES_PER_HOUR))
        env.setdefault("X_MAX_CHAIN_DEPTH", str(SANDBOX_CHAIN_DEPTH))
        commands.append(("sandbox", [*python, "sandbox", "--port", str(args.sandbox_port),
                                     "--state", str(state_dir / "sandbox.json")], f"{sandbox_url}/"))
    service_url = f"http://127.0.0.1:{args.port}"
    commands.append(("serve", [*python, "serve", "--port", str(args.port),
                               "--workers", str(args.workers)], f"{service_url}/healthz"))
    commands.append(("poll", [*python, "poll", "--interval", str(args.interval)], None))

    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command, ready_url in commands:
            processes[name] = subprocess.Popen(command, env=env, cwd=ROOT)
            if ready_url:
                _wait_http(ready_url, processes[name])
        print(f"\nDoppel is up.\n  chat with the bot:   {service_url}/", file=sys.stderr)
        if real_x:
            print("  answering real X mentions (credentials found in the environment)", file=sys.stderr)
        else:
            print(f"  mention it on X:     {env['X_API_BASE']}/  (the local X sandbox)", file=sys.stderr)
        print("Ctrl-C stops everything.\n", file=sys.stderr)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        print(f"error: {', '.join(dead)} exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
