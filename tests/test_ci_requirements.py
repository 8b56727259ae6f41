"""Under CI=true a test whose tool is missing fails with a message instead of skipping,
so a green CI run means the browser and Lambda tests ran. Checked on the chat-page test
with its browser pointed at a path that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TEST = "tests/test_chat_page.py::test_api_errors_are_shown_to_the_user"


def run_browser_test(ci: str):
    env = {**os.environ, "CI": ci, "DOPPEL_CHROMIUM": "/nonexistent/chromium"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", BROWSER_TEST],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere():
    ci = run_browser_test("true")
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "/nonexistent/chromium is absent (apt-get install chromium) is required under CI=true" in ci.stdout
    local = run_browser_test("")
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-2000:]
