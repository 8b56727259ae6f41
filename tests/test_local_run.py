"""`python -m backend run` (what `make run` starts)."""

from __future__ import annotations

import socket


def test_a_port_in_use_is_refused_before_anything_starts(run_cli, tmp_path):
    """A second run once announced "Doppel is up." because the first one answered on its
    ports, then failed."""
    with socket.socket() as taken, socket.socket() as free:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        free.bind(("127.0.0.1", 0))
        port, sandbox_port = taken.getsockname()[1], free.getsockname()[1]
        free.close()
        result = run_cli("backend", "run", "--port", port, "--sandbox-port", sandbox_port,
                         "--state-dir", tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Doppel is up" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: port {port} is in use (another `python -m backend run`?): stop that "
        "program or choose another with --port")
