"""The one dispatcher behind `python -m model`, `python -m backend` and `python -m deploy`.

Each command lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; only the chosen one is imported (so `ingest` never loads
TensorFlow). Bad input (InputError, or an OSError naming a file) is one line on stderr
and exit status 2, and so is a third-party package this Python lacks (most often: the
virtualenv is not active); a closed stdout (`| head`) ends quietly with 141; errors
whose type comes from a module named in `remote_errors` (an AWS refusal, say) are one
line and exit status 1; Ctrl-C is 130, SIGTERM 143. Both unwind the stack, so a half-
written output's temporary file is removed (model.files.atomic_output) either way.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import signal
import sys

from model.errors import InputError
from model.logs import setup_logging


def dispatch(prog: str, doc: str, commands: dict[str, tuple[str, str]],
             argv: list[str] | None = None, remote_errors: tuple[str, ...] = (),
             remote_label: str = "") -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv and argv[0] in commands else None
    module = None
    try:
        for name, (module_name, help_text) in commands.items():
            sub = subparsers.add_parser(name, help=help_text, description=help_text)
            if name == chosen:
                module = importlib.import_module(module_name)
                module.add_arguments(sub)
    except ModuleNotFoundError as exc:
        return _missing_package(exc, f"{prog} {chosen}")
    args = parser.parse_args(argv)
    setup_logging()
    ours = signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if ours:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        return _run(module, args, remote_errors, remote_label)
    except ModuleNotFoundError as exc:  # a command's lazy import (TensorFlow for training)
        return _missing_package(exc, f"{prog} {chosen}")
    finally:
        if ours:  # done: a SIGTERM while Python shuts down (`backend run` stopping its
            # children after a Ctrl-C) just ends the process, with no traceback from
            # inside threading's shutdown
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(module, args, remote_errors: tuple[str, ...], remote_label: str) -> int:
    """The command's exit status; bad input and interrupts become one line (or none)."""
    try:
        return module.run(args) or 0
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (`... | head`): nothing more to say, and Python's
        # own flush at exit must not fail again on the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:
        if exc.filename is None:  # not a file's problem: a bug or the network, in full
            raise
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if remote_errors and type(exc).__module__.startswith(remote_errors):
            print(f"error: {remote_label}{exc}", file=sys.stderr)
            return 1
        raise


OUR_PACKAGES = ("model", "backend", "deploy")


def _missing_package(exc: ModuleNotFoundError, command: str) -> int:
    """One line for a third-party package this Python lacks; one of ours missing is a bug."""
    package = (exc.name or "").partition(".")[0]
    if not package or package in OUR_PACKAGES:
        raise exc
    print(f"error: {command} needs the Python package {package!r}, which {sys.executable} "
          "does not have: `make venv` installs everything into .venv; then "
          "`source .venv/bin/activate` (or run .venv/bin/python -m ...)", file=sys.stderr)
    return 2


def _terminated(signum, frame):
    """SIGTERM unwinds like Ctrl-C; servers that handle it themselves replace this."""
    raise SystemExit(128 + signum)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def whole_number(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (float() also takes 'nan' and 'inf')."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value
