"""Hostile and broken input to `python -m model ingest`: zip bombs, endless lines, huge
JSON, links, FIFOs, impossible dates and wrongly typed fields. Each is left out with a
reason in the summary, or is one error line naming the file with exit status 2; memory
stays bounded and no output or temporary file is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from model.data.ingest import ingest
from model.data.report import Report
from model.data.sources import Limits
from model.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CHAT = "[3/18/22, 14:56:01] Ana: hi there\n[3/18/22, 14:57:02] Bo: hello back\n"


def ingest_all(path, limits=Limits()):
    report = Report()
    return [m.text for m in ingest([str(path)], report=report, limits=limits)], report


def test_a_zip_bomb_member_is_left_out_with_its_reason(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("WhatsApp Chat.txt", CHAT)
        archive.writestr("bomb.txt", "[3/18/22, 14:58:00] Ana: " + "a" * (20 << 20))  # ~1000:1
    assert path.stat().st_size < 100_000
    texts, report = ingest_all(path)
    assert texts == ["hi there", "hello back"]
    (reason,) = [r for r in report.skipped if "zip bomb" in r]
    assert report.examples[reason] == [f"{path}!bomb.txt"]
    # alone in its zip, the error says why nothing was read
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", "a" * (20 << 20))
    result = run_ingest(path, tmp_path / "out.jsonl")
    assert result.returncode == 2
    assert "found no chat export among 1 file(s) (1 zip member compressed more than 100:1" in result.stderr
    # raised, the limit lets the member be read (and found to be no chat)
    with pytest.raises(InputError, match=r"found no chat export among 1 file\(s\) \(1 not a chat export\)$"):
        ingest_all(path, Limits(max_zip_ratio=5000))


def test_the_limits_apply_to_a_zip_inside_a_folder(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    with zipfile.ZipFile(folder / "export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("WhatsApp Chat.txt", CHAT)
        archive.writestr("bomb.txt", "a" * (20 << 20))
    texts, report = ingest_all(folder)
    assert texts == ["hi there", "hello back"]
    (reason,) = [r for r in report.skipped if "zip bomb" in r]
    assert report.examples[reason] == [f"{folder}/export.zip!bomb.txt"]


def test_a_member_over_the_size_limit_is_left_out(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("WhatsApp Chat.txt", CHAT)
        archive.writestr("big.txt", os.urandom(3 << 20))
    texts, report = ingest_all(path, Limits(max_member_mb=2))
    assert texts == ["hi there", "hello back"]
    assert any("over 2 MiB uncompressed" in r for r in report.skipped)


def test_an_endless_line_is_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "chat.txt"
    with open(path, "w") as handle:
        handle.write(CHAT)
        handle.write("[3/18/22, 14:58:00] Ana: " + "x" * (20 << 20) + "\n")
        handle.write("[3/18/22, 14:59:00] Bo: still here\n")
    tracemalloc.start()
    texts, report = ingest_all(path, Limits(max_line_chars=10_000))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert texts == ["hi there", "hello back", "still here"]
    (reason,) = report.skipped
    assert reason.startswith("line longer than 10,000 characters")
    assert report.examples[reason] == [f"{path}:3"]
    assert peak < 4 << 20, peak  # the 20 MiB line was never held whole
    # a line exactly at the limit is read; CRLF endings do not count against it
    path.write_bytes(CHAT.encode().replace(b"\n", b"\r\n") + b"[3/18/22, 14:56:01] Ana: " + b"y" * 20 + b"\r\n")
    assert ingest_all(path, Limits(max_line_chars=45))[0][-1] == "y" * 20


def test_json_over_the_limit_is_an_error_naming_the_flag(tmp_path):
    path = tmp_path / "result.json"
    messages = [{"id": i, "type": "message", "date": "2023-01-05T14:03:00", "from": "Ana",
                 "from_id": "user1", "text": "x" * 100} for i in range(6_000)]
    path.write_text(json.dumps({"name": "Ana", "type": "personal_chat", "id": 1, "messages": messages}))
    result = run_ingest(path, tmp_path / "out.jsonl", "--max-json-mb", "1")
    assert result.returncode == 2
    size = path.stat().st_size / (1 << 20)
    assert 1 < size < 2
    assert result.stderr.strip() == (f"error: {path}: {size:.1f} MiB is over the 1 MiB limit for files read whole "
                                     "(raise it with --max-json-mb)")
    assert not (tmp_path / "out.jsonl").exists()
    assert run_ingest(path, tmp_path / "out.jsonl", "--max-json-mb", "2").returncode == 0
    bad = run_ingest(path, tmp_path / "out.jsonl", "--max-json-mb", "0")
    assert bad.returncode == 2 and "expected a positive whole number, got '0'" in bad.stderr


def test_only_regular_files_inside_the_folder_are_read(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "chat.txt").write_text(CHAT)
    (tmp_path / "outside.txt").write_text("[3/18/22, 15:00:00] Eve: secret\n")
    os.symlink(tmp_path / "outside.txt", folder / "escape.txt")
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    os.symlink(tmp_path / "gone.txt", folder / "nowhere.txt")  # dangling, not leading out
    os.symlink(folder / "chat.txt", folder / "again.txt")  # a link to a file read anyway
    os.mkfifo(folder / "pipe.txt")
    result = run_ingest(folder, tmp_path / "out.jsonl", timeout=60)  # a FIFO read would hang
    assert result.returncode == 0, result.stderr
    texts = [json.loads(line)["text"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert texts == ["hi there", "hello back"]
    for reason, paths in (("link that points outside the folder", ["escape.txt"]),
                          ("not a regular file (dangling link)", ["dangling.txt", "nowhere.txt"]),
                          ("not a regular file (FIFO)", ["pipe.txt"]),
                          ("same file as another entry (a link)", ["chat.txt"])):
        shown = ", ".join(str(folder / path) for path in paths)
        assert f"{len(paths)}  {reason} (e.g. {shown})" in result.stderr, reason
    single = run_ingest(folder / "pipe.txt", tmp_path / "fifo.jsonl", timeout=60)
    assert single.returncode == 2
    assert single.stderr.strip() == f"error: {folder / 'pipe.txt'}: not a regular file (FIFO)"


def test_sigterm_removes_the_half_written_output(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_text("".join(f"[3/18/22, 14:{i % 60:02}:00] Ana: message {i}\n" for i in range(600_000)))
    out = tmp_path / "out" / "messages.jsonl"
    out.parent.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "model", "ingest", str(path), "--out", str(out)],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.parent.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(out.parent.iterdir()), "the temporary output never appeared"
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, process.stderr.read()
    assert list(out.parent.iterdir()) == []


def test_impossible_dates_are_skipped_per_message(tmp_path):
    path = tmp_path / "result.json"
    good = {"type": "message", "from": "Ana", "from_id": "user1", "text": "fine"}
    path.write_text(json.dumps({"name": "Ana", "type": "personal_chat", "id": 9, "messages": [
        {**good, "id": 1, "date": "2023-01-05T14:03:00"},
        {**good, "id": 2, "date": "not a date"},
        {**good, "id": 3, "date": "2023-02-30T10:00:00"},
        {**good, "id": 4, "date": ["2023"]},
    ]}))
    texts, report = ingest_all(path)
    assert texts == ["fine"]
    reason = "telegram message with an impossible date"
    assert report.skipped[reason] == 3
    assert report.examples[reason][0] == f"{path} (chat 9, message 2)"
    discord = tmp_path / "discord.json"
    discord.write_text(json.dumps({"guild": {"name": "G"}, "channel": {"name": "c"}, "messages": [
        {"id": "1", "type": "Default", "timestamp": "2020-09-06T17:20:18.123+03:00",
         "author": {"name": "ana"}, "content": "ok"},
        {"id": "2", "type": "Default", "timestamp": "yesterday", "author": {"name": "ana"}, "content": "no"},
    ]}))
    report = Report()
    messages = list(ingest([str(discord)], report=report))
    assert [(m.text, m.time) for m in messages] == [("ok", "2020-09-06T17:20:18")]
    assert report.examples["discord message with an impossible timestamp"] == [f"{discord} (message 2)"]


def test_a_chat_list_of_the_wrong_type_is_an_error(tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"about": "Telegram export", "chats": {"list": "x"}}))
    result = run_ingest(path, tmp_path / "out.jsonl")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: field chats.list: expected a list of chats"
    assert not (tmp_path / "out.jsonl").exists()


def test_jsonl_messages_need_an_iso_time(tmp_path):
    path = tmp_path / "messages.jsonl"
    record = {"source": "x", "conversation": "c", "sender": "a", "text": "t", "kind": "text"}
    path.write_text(json.dumps({**record, "time": "2023-01-05T14:03:00"}) + "\n"
                    + json.dumps({**record, "time": "soon"}) + "\n")
    result = run_ingest(path, tmp_path / "out.jsonl")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}:2: field 'time' must be an ISO-8601 date-time or null"


def run_ingest(path, out, *flags, timeout=120):
    return subprocess.run([sys.executable, "-m", "model", "ingest", str(path), "--out", str(out), *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


