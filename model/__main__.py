"""`python -m model COMMAND ...` — the data → model → reply command line.

The dispatch (one module per command, imported only when chosen) is model/cli.py.
"""

from __future__ import annotations

import sys

from model.cli import dispatch

COMMANDS = {
    "ingest": ("model.data.ingest_cli", "read chat exports, write message JSONL"),
    "pairs": ("model.data.pairs_cli", "build (context -> reply) training pairs for a persona"),
    "train": ("model.train.trainer", "train a model bundle from a manifest"),
    "export": ("model.train.export", "write the ONNX graphs of a trained bundle"),
    "eval": ("model.eval.evaluate", "evaluate a bundle against baselines"),
    "chat": ("model.serve.chat", "chat with a bundle in the terminal"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m model", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
