"""Atomic outputs: all or nothing, and readable like any other file."""

from __future__ import annotations

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
