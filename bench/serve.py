"""Load test of `python -m backend serve`: replies/s, p50 and p99, micro-batching on vs off.

    .venv/bin/python bench/serve.py                     # 64 clients, 30 s, 3 runs per mode
    .venv/bin/python bench/serve.py --duration 10 --runs 1
    .venv/bin/python bench/serve.py --soak              # 10 min at 50 replies/s: errors, RSS

Two servers run side by side on 127.0.0.1 (batching on, batching off; rate limit off)
and the runs alternate between them, so both see the same machine. Each client is a
closed loop (send, wait for the reply, send again) over one keep-alive connection,
written on asyncio streams so the load generator itself stays cheap. Figures are the
median over runs; the ratio compares throughput with batching on and off. Settings come
from the environment: `DOPPEL_CONTINUOUS_BATCHING=false` benches a pretrained bundle with
micro-batches instead of one running search.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT / "data" / "demo" / "chitchat_sample.json"  # the shipped sample (MIT)


def chat_messages(limit: int = 256) -> list[str]:
    """Messages people sent in the chitchat sample: 2-30 words, each once, in file order.

    Hundreds of different messages, so a figure does not hang on how long the replies to
    a handful happen to be: with 8 fixed messages, a pretrained graph whose replies to
    them ran twice as long scored fewer replies/s although each of its steps was faster."""
    from model.data.ingest import ingest

    seen: dict[str, None] = {}
    for message in ingest([str(SAMPLE)], "chitchat"):
        text = " ".join(message.text.split())
        if 2 <= len(text.split()) <= 30:
            seen.setdefault(text)
    return list(seen)[:limit]


MESSAGES = chat_messages()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m backend serve` in a child process, with settings from the environment."""

    def __init__(self, bundle: str, workers: int, threads: int, batching: bool):
        self.port = free_port()
        self.batching = batching
        env = dict(os.environ, DOPPEL_BATCHING=str(batching).lower(),
                   DOPPEL_RATE_LIMIT_PER_S="0")
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-serve-{self.port}.log",
                        "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--bundle", bundle, "--port",
             str(self.port), "--workers", str(workers), "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)

    def wait_ready(self, workers: int, limit_s: float = 180) -> None:
        """Ready when every worker has loaded the model (one model_info series each)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited with {self.process.returncode}; "
                                 f"see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                            timeout=5) as response:
                    if response.read().decode().count("doppel_model_info{") >= workers:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("server never became ready")

    def worker_rss_kb(self) -> dict[int, int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        rss = {}
        for pid in children.read_text().split():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[int(pid)] = int(line.split()[1])
        return rss

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Client:
    """One keep-alive HTTP/1.1 connection that posts replies and times them."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def reply(self, message: str) -> tuple[int, float]:
        """(status, seconds). A kept-alive connection the server closed while idle is
        reopened once: the server never read that request, so sending it again is safe."""
        reused = self.writer is not None
        try:
            return await self._exchange(message)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
            return await self._exchange(message)

    async def _exchange(self, message: str) -> tuple[int, float]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps({"message": message}).encode()
        started = time.perf_counter()
        self.writer.write(b"POST /api/reply HTTP/1.1\r\nHost: bench\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("server closed the connection")
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                close = True
        await self.reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if close:
            self.close()
        return int(status_line.split()[1]), elapsed

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def closed_loop(port: int, clients: int, duration_s: float) -> dict:
    """`clients` clients, each sending as soon as its last reply came back."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration_s

    async def one(index: int) -> None:
        nonlocal errors
        client = Client(port)
        sent = index
        while time.perf_counter() < stop_at:
            try:
                status, elapsed = await client.reply(MESSAGES[sent % len(MESSAGES)])
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors += 1
                client.close()
                continue
            sent += 1
            if status == 200:
                latencies.append(elapsed)
            else:
                errors += 1
        client.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    return summarize(latencies, errors, time.perf_counter() - started)


async def open_loop(port: int, rate: float, duration_s: float) -> dict:
    """Requests started at a fixed rate whatever the server does (the soak test)."""
    latencies: list[float] = []
    errors = 0
    idle: list[Client] = []

    async def one(message: str) -> None:
        nonlocal errors
        client = idle.pop() if idle else Client(port)
        try:
            status, elapsed = await client.reply(message)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            errors += 1
            client.close()
            return
        idle.append(client)
        if status == 200:
            latencies.append(elapsed)
        else:
            errors += 1

    started = time.perf_counter()
    tasks = []
    for index in range(int(rate * duration_s)):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(MESSAGES[index % len(MESSAGES)])))
    await asyncio.gather(*tasks)
    return summarize(latencies, errors, time.perf_counter() - started)


def summarize(latencies: list[float], errors: int, elapsed_s: float) -> dict:
    ordered = sorted(latencies)

    def percentile(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered \
            else float("nan")

    return {"replies_per_s": len(ordered) / elapsed_s, "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99), "replies": len(ordered), "errors": errors}


def throughput(args: argparse.Namespace) -> None:
    servers = {batching: Server(args.bundle, args.workers, args.threads, batching)
               for batching in (True, False)}
    try:
        for server in servers.values():
            server.wait_ready(args.workers)
        results: dict[bool, list[dict]] = {True: [], False: []}
        for run in range(args.runs):
            for batching, server in servers.items():
                asyncio.run(closed_loop(server.port, args.clients, args.warmup))
                result = asyncio.run(closed_loop(server.port, args.clients, args.duration))
                results[batching].append(result)
                print(f"run {run + 1} batching {'on ' if batching else 'off'}: "
                      f"{result['replies_per_s']:7.1f} replies/s  p50 {result['p50_ms']:6.1f} ms"
                      f"  p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}", flush=True)
    finally:
        for server in servers.values():
            server.stop()
    print(f"\n{args.clients} clients, {args.duration:g} s per run, {args.runs} run(s), "
          f"{args.workers} worker(s) x {args.threads} threads, bundle {args.bundle}")
    print(f"{len(os.sched_getaffinity(0))} CPU cores; load average now "
          f"{os.getloadavg()[0]:.1f} (other processes compete with server and client)")
    medians = {}
    for batching, runs in results.items():
        medians[batching] = {key: statistics.median(r[key] for r in runs)
                             for key in ("replies_per_s", "p50_ms", "p99_ms")}
        errors = sum(r["errors"] for r in runs)
        m = medians[batching]
        print(f"batching {'on ' if batching else 'off'} (median): {m['replies_per_s']:7.1f} "
              f"replies/s  p50 {m['p50_ms']:6.1f} ms  p99 {m['p99_ms']:6.1f} ms  "
              f"errors {errors}")
    ratio = medians[True]["replies_per_s"] / max(medians[False]["replies_per_s"], 1e-9)
    print(f"throughput ratio on/off: {ratio:.2f}x")


def soak(args: argparse.Namespace) -> None:
    server = Server(args.bundle, args.workers, args.threads, batching=True)
    try:
        server.wait_ready(args.workers)
        asyncio.run(closed_loop(server.port, args.clients, args.warmup))
        rss_before = server.worker_rss_kb()
        result = asyncio.run(open_loop(server.port, args.soak_rate, args.soak_duration))
        rss_after = server.worker_rss_kb()
    finally:
        server.stop()
    print(f"soak: {args.soak_rate:g} replies/s offered for {args.soak_duration:g} s")
    print(f"served {result['replies_per_s']:.1f} replies/s  p50 {result['p50_ms']:.1f} ms  "
          f"p99 {result['p99_ms']:.1f} ms  errors {result['errors']}")
    for pid, before in rss_before.items():
        after = rss_after.get(pid)
        growth = f"{(after - before) / 1024:+.1f} MiB" if after else "(worker restarted)"
        print(f"worker {pid}: RSS {before / 1024:.1f} MiB -> "
              f"{(after or 0) / 1024:.1f} MiB  {growth}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "data" / "models" / "demo"))
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median reported)")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="gunicorn workers (default: one per CPU core, as serve does)")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--soak", action="store_true", help="the soak test instead")
    parser.add_argument("--soak-rate", type=float, default=50.0)
    parser.add_argument("--soak-duration", type=float, default=600.0)
    args = parser.parse_args()
    if args.soak:
        soak(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
