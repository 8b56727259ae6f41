"""`python -m backend COMMAND ...` — serve the bot, poll X, run the local X sandbox.

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; only the chosen one is imported.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from model.errors import InputError

COMMANDS = {
    "run": ("backend.run", "everything `make run` starts: sandbox, reply service, poller"),
    "serve": ("backend.serve", "run the reply API and chat page under gunicorn"),
    "poll": ("backend.poller", "answer X mentions (once, or every --interval seconds)"),
    "sandbox": ("backend.sandbox", "a local X API v2 stand-in on 127.0.0.1"),
    "telegram": ("backend.telegram_bot", "answer Telegram chats (long polling)"),
    "telegram-sandbox": ("backend.telegram_sandbox", "a local Telegram Bot API stand-in"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__.splitlines()[0])
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
