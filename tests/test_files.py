"""Atomic outputs: all or nothing, and readable like any other file."""

from __future__ import annotations

import os
import re
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


# --- train --out: the bundle folder a run replaces (model/train/outputs.py) -------------


def _earlier_bundle(folder: Path) -> Path:
    """A bundle as training leaves it: its files listed in bundle.json."""
    from model.serve.bundle import write_bundle

    (folder / "keras").mkdir(parents=True)
    (folder / "keras" / "model.keras").write_bytes(b"weights")
    (folder / "loss.png").write_bytes(b"png")
    write_bundle(folder, {"name": "b", "kind": "lstm", "personas": ["Ana"],
                          "special_tokens": {}})
    return folder


@pytest.mark.parametrize("stray, named", [
    ("eval/blind/grades-reader1.csv", "eval/"),   # a reader's marks
    ("NOTES.txt", "NOTES.txt"),
    ("keras/older.keras", "keras/older.keras"),
    (".hidden", ".hidden"),
])
def test_a_bundle_holding_files_it_does_not_list_is_not_replaced(tmp_path, stray, named):
    from model.errors import InputError
    from model.train.outputs import check_replaceable

    out = _earlier_bundle(tmp_path / "bundle")
    check_replaceable(out)  # its own files only: training may replace it
    (out / stray).parent.mkdir(parents=True, exist_ok=True)
    (out / stray).write_text("mine\n")
    message = f"{out}: --out: {named} would be lost: move it or choose another --out"
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        check_replaceable(out)


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_a_staged_bundle_is_removed_on_failure_or_interrupt(tmp_path, failure):
    from model.train.outputs import staged_bundle

    out = _earlier_bundle(tmp_path / "bundle")
    before = sorted(os.listdir(out))
    with pytest.raises(failure), staged_bundle(out) as staging:
        (staging / "delta.npz").write_bytes(b"half written")
        raise failure()
    assert sorted(os.listdir(tmp_path)) == ["bundle"] and sorted(os.listdir(out)) == before


def test_the_swap_checks_the_bundle_again_and_leaves_no_staging(tmp_path):
    """A file put into --out while training ran is not swapped away either."""
    from model.errors import InputError
    from model.train.outputs import staged_bundle

    out = _earlier_bundle(tmp_path / "bundle")
    with pytest.raises(InputError, match="eval/ would be lost"), staged_bundle(out) as staging:
        (staging / "loss.png").write_bytes(b"new")
        (out / "eval").mkdir()
        (out / "eval" / "report.md").write_text("a report\n")
    assert sorted(os.listdir(tmp_path)) == ["bundle"]
    assert (out / "eval" / "report.md").is_file() and (out / "loss.png").read_bytes() == b"png"
    with staged_bundle(tmp_path / "new") as staging:
        (staging / "loss.png").write_bytes(b"new")
    assert sorted(os.listdir(tmp_path)) == ["bundle", "new"]
