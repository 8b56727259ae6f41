"""`python -m backend COMMAND ...` — serve the bot, poll X, run the local X sandbox.

The dispatch (one module per command, imported only when chosen) is model/cli.py.
"""

from __future__ import annotations

import sys

from model.cli import dispatch

COMMANDS = {
    "run": ("backend.local.run", "everything `make run` starts: sandbox, reply service, poller"),
    "serve": ("backend.web.serve", "run the reply API and chat page under gunicorn"),
    "poll": ("backend.bots.x.poller", "answer X mentions (once, or every --interval seconds)"),
    "sandbox": ("backend.local.x_sandbox", "a local X API v2 stand-in on 127.0.0.1"),
    "telegram": ("backend.bots.telegram.polling", "answer Telegram chats (long polling)"),
    "telegram-sandbox": ("backend.local.telegram_sandbox", "a local Telegram Bot API stand-in"),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m backend", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
