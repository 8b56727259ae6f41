"""`python -m model COMMAND ...` — the data → model → reply command line.

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; only the chosen one is imported, so `ingest` and `chat` never load
TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from model.errors import InputError

COMMANDS = {
    "ingest": ("model.ingest_cli", "read chat exports, write message JSONL"),
    "pairs": ("model.pairs_cli", "build (context -> reply) training pairs for a persona"),
    "train": ("model.train", "train a model bundle from a manifest"),
    "export": ("model.export", "write the ONNX graphs of a trained bundle"),
    "eval": ("model.evaluate", "evaluate a bundle against baselines"),
    "chat": ("model.chat", "chat with a bundle in the terminal"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m model", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    module = None
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return module.run(args) or 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
