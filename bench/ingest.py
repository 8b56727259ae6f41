"""Benchmark: `python -m model ingest` vs whatstk on a synthetic WhatsApp export.

Renders a realistic Android export (multi-line messages, media, system lines, deleted
messages, emoji, phone-number senders) of at least --lines lines into a temp dir, then
times whole processes, as a user would run them, with the header format auto-detected
by both:

    ours:    .venv/bin/python -m model ingest FILE --out /dev/null
    whatstk: python -c "WhatsAppChat.from_source(filepath=FILE)"

Prints the median wall seconds of --runs runs each, the ratio ours/whatstk, and the peak
RSS of our process (by /usr/bin/time) on the file and on one twice as big: memory must
not grow with the input.

    .venv/bin/python bench/ingest.py [--lines 60000] [--runs 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

PEOPLE = ["Ana García", "Bo", "Chloé 🌸", "+1 (555) 123-4567", "Dmitri", "😎"]
WORDS = [
    "ok", "yes", "no", "maybe", "tonight", "tomorrow", "lunch", "dinner", "coffee", "train",
    "late", "sorry", "haha", "lol", "see", "you", "at", "the", "station", "did", "get", "my",
    "message", "where", "are", "running", "10", "minutes", "love", "it", "😂", "👍", "🙏",
    "❤️", "🎉", "que", "bueno", "genial", "danke", "schön", "merci", "beaucoup",
]
SYSTEM = [
    "Ana García added Dmitri",
    "Bo changed the subject from \"Trip\" to \"Trip 2022 🏔\"",
    "Dmitri left",
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
    "WhatsApp, can read or listen to them. Tap to learn more.",
    "Missed voice call",
]
MEDIA = ["<Media omitted>", "IMG-20220327-WA0012.jpg (file attached)", "sticker omitted"]


def render_export(path: Path, min_lines: int, seed: int = 7) -> int:
    """Write an Android-style export of at least `min_lines` lines; returns the line count."""
    rng = random.Random(seed)
    moment = dt.datetime(2021, 1, 1, 8, 0)
    lines = 0
    with open(path, "w", encoding="utf-8") as out:
        while lines < min_lines:
            moment += dt.timedelta(minutes=rng.choice([0, 1, 1, 2, 5, 30, 240]))
            header = moment.strftime("%d/%m/%Y, %H:%M - ")
            roll = rng.random()
            if roll < 0.02:
                out.write(header + rng.choice(SYSTEM) + "\n")
                lines += 1
                continue
            sender = rng.choice(PEOPLE)
            if roll < 0.07:
                body = [rng.choice(MEDIA)]
            elif roll < 0.08:
                body = ["This message was deleted"]
            else:
                body = [
                    " ".join(rng.choices(WORDS, k=rng.randint(1, 14)))
                    for _ in range(1 if rng.random() < 0.85 else rng.randint(2, 5))
                ]
                if rng.random() < 0.02:
                    body[-1] += " <This message was edited>"
            out.write(f"{header}{sender}: " + "\n".join(body) + "\n")
            lines += len(body)
    return lines


def timed(command: list[str]) -> float:
    """Wall seconds of one whole child process."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{result.stderr.decode()}")
    return seconds


def peak_rss_mib(command: list[str]) -> float:
    """Peak RSS of one child, measured by /usr/bin/time: a child forked from this (large)
    process would inherit its high-water mark in ru_maxrss."""
    with tempfile.NamedTemporaryFile("r") as report:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", report.name, *command]
        subprocess.run(wrapped, cwd=ROOT, check=True, capture_output=True)
        return int(report.read().split()[-1]) / 1024


def ours(path: Path) -> list[str]:
    return [PYTHON, "-m", "model", "ingest", str(path), "--out", "/dev/null"]


def whatstk(path: Path) -> list[str]:
    code = (
        "import sys; from whatstk import WhatsAppChat; "
        "print(len(WhatsAppChat.from_source(filepath=sys.argv[1]).df))"
    )
    return [PYTHON, "-c", code, str(path)]


def message_counts(path: Path, out: Path) -> str:
    """Both parsers' message counts, to show they read the same export (not timed)."""
    subprocess.run([*ours(path)[:-1], str(out)], cwd=ROOT, check=True, capture_output=True)
    records = out.read_text(encoding="utf-8").splitlines()
    system = sum('"kind": "system"' in record for record in records)
    theirs = subprocess.run(whatstk(path), cwd=ROOT, check=True, capture_output=True, text=True)
    return (
        f"messages: ours {len(records)} ({system} system lines), "
        f"whatstk {theirs.stdout.strip()} (it drops system lines)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=60_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp, "WhatsApp Chat with Ana.txt"), Path(tmp, "big.txt")
        lines = render_export(small, args.lines)
        big_lines = render_export(big, 2 * args.lines)
        print(f"export: {lines} lines, {small.stat().st_size / 1e6:.1f} MB")
        print(message_counts(small, Path(tmp, "messages.jsonl")))
        times = {"ours": [], "whatstk": []}
        for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
            times["ours"].append(timed(ours(small)))
            times["whatstk"].append(timed(whatstk(small)))
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, values in times.items():
            runs = " ".join(f"{v:.3f}" for v in values)
            print(f"{name:<8} median {medians[name]:.3f} s   (runs: {runs})")
        print(f"ratio ours/whatstk: {medians['ours'] / medians['whatstk']:.2f} (target <= 0.50)")
        rss_small, rss_big = peak_rss_mib(ours(small)), peak_rss_mib(ours(big))
        print(f"peak RSS ours: {rss_small:.0f} MiB at {lines} lines, {rss_big:.0f} MiB at {big_lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
