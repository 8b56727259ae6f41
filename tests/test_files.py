"""Atomic outputs: all or nothing, and readable like any other file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_outputs_are_atomic_and_readable_by_others(tmp_path):
    import os
    import stat

    from model.files import atomic_output

    target = tmp_path / "out.jsonl"
    with atomic_output(target) as out:
        out.write("x\n")
    assert target.read_text() == "x\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_current_umask()
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "x\n" and sorted(os.listdir(tmp_path)) == ["out.jsonl"]


def _current_umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_output_that_cannot_be_written_is_one_line_naming_it(tmp_path, run_cli):
    """A folder, a path through a file, a full disk: one line, status 2, no traceback."""
    chat = tmp_path / "chat.txt"
    chat.write_text("13/01/2024, 09:00 - Bo: hi\n13/01/2024, 09:01 - Nat: hey\n",
                    encoding="utf-8")
    cases = [(tmp_path, "is a folder"), (chat / "x.jsonl", "cannot be written: part of its folder path is a file")]
    if os.path.exists("/dev/full"):
        cases.append((Path("/dev/full"), "No space left on device"))
    for out, reason in cases:
        for command in (("ingest", chat), ("pairs", chat, "--persona", "Nat")):
            result = run_cli("model", *command, "--out", out)
            assert result.returncode == 2, (out, result.stderr)
            last = result.stderr.splitlines()[-1]  # after pairs' summary
            assert last.startswith(f"error: {out}: {reason}"), result.stderr
            assert "Traceback" not in result.stderr


def test_out_naming_an_input_is_refused_and_the_input_kept(tmp_path, run_cli):
    chat = tmp_path / "chat.txt"
    text = "13/01/2024, 09:00 - Bo: hi\n13/01/2024, 09:01 - Nat: hey\n"
    chat.write_text(text, encoding="utf-8")
    for command in (("ingest", chat), ("pairs", chat, "--persona", "Nat")):
        result = run_cli("model", *command, "--out", tmp_path / "." / "chat.txt")
        assert result.returncode == 2 and "--out names an input file" in result.stderr
        assert chat.read_text(encoding="utf-8") == text


def test_a_closed_stdout_ends_quietly(tmp_path):
    """`python -m model ingest FILE | head -1`: no BrokenPipeError traceback."""
    import subprocess
    import sys

    chat = tmp_path / "chat.txt"
    chat.write_text("".join(f"13/01/2024, 09:{m:02d} - Bo: message {m}\n" for m in range(60))
                    * 200, encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "model", "ingest", str(chat)],
                               cwd=Path(__file__).resolve().parents[1],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # what `head -1` does after its line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
