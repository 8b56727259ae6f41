"""Doppel's own Message JSONL: detected by content, validated, round-tripped byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.data.ingest import ingest
from model.data.report import Report
from model.errors import InputError

SAMPLE = Path(__file__).parent / "fixtures" / "jsonl" / "messages.jsonl"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_round_trip_through_the_cli(run_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    neutral = tmp_path / "data.txt"
    shutil.copy(SAMPLE, neutral)
    result = run_cli("model", "ingest", neutral, "--out", out)
    assert result.returncode == 0, result.stderr
    expected = "".join(
        line + "\n" for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line
    )
    assert out.read_text(encoding="utf-8") == expected
    again = tmp_path / "again.jsonl"
    assert run_cli("model", "ingest", out, "--out", again).returncode == 0
    assert again.read_bytes() == out.read_bytes()
    assert "jsonl" in result.stderr and "4 messages" in result.stderr


def test_sources_are_kept():
    messages, report = read(SAMPLE)
    assert [m.source for m in messages] == ["whatsapp", "telegram", "script", "imessage"]
    assert report.files == [(str(SAMPLE), "jsonl")]


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ('{"source": "x", "conversation": "c", "time": null, "sender": "s", "text": 5, "kind": "text"}',
         "field 'text' must be a string"),
        ('{"source": "x", "conversation": "c", "time": null, "sender": "s", "text": "t", "kind": "emoji"}',
         "field 'kind' must be one of"),
        ('{"source": "x", "conversation": "c", "time": null', "invalid JSON"),
        ('{"source": "x", "conversation": "c", "sender": "s", "text": "t", "kind": "text"}',
         "missing field(s) time"),
    ],
)  # fmt: skip
def test_bad_record_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "messages.jsonl"
    path.write_text(SAMPLE.read_text(encoding="utf-8") + bad_line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path)
    assert message in caught.value.reason
    assert (caught.value.path, caught.value.line) == (str(path), 6)


def test_other_json_lines_are_not_taken_for_messages(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"level": "info", "msg": "started"}\n')
    with pytest.raises(InputError, match="unrecognised chat format"):
        read(path)
