"""One logging setup for every process: JSON lines with the same fields, or a human format.

Every line carries `time` (UTC, ISO-8601), `level`, `logger` and `event` (a snake_case
name), then that event's own fields:

    {"time": "2026-12-01T02:40:29.123Z", "level": "info", "logger": "doppel.poller",
     "event": "replied", "mention": "1790…", "reply": "1790…"}

Our code logs events with `log_event(logger, "replied", mention=…)`; a plain message (a
library's, or `log.exception`) becomes event "message" with the text in `message`, and a
traceback in `traceback`. At a terminal (or DOPPEL_LOG_FORMAT=human) the same record is
one readable line instead: `02:40:29 INFO  doppel.poller replied mention=1790… reply=1790…`.

`setup_logging()` is called once per process where it starts: by the command dispatcher
(model/cli.py; gunicorn's workers inherit it) and by the Lambda entry module; calling it
again changes nothing. Where something else already handles the root logger (pytest)
our handler goes on the `doppel` logger only and the rest is left alone.

What a command prints as its result (`poll --once`'s counters, `ingest`'s summary, the
stand-ins' "listening" line) and training's progress at a terminal are not logs: they
stay prints, on stdout or stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

ROOT_LOGGER = "doppel"  # every logger of ours is doppel.<part>
FORMATS = ("json", "human")


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO,
              exc_info=None, **fields) -> None:
    """Log `event` with its fields (None values are left out)."""
    logger.log(level, event, exc_info=exc_info,
               extra={"fields": {key: value for key, value in fields.items() if value is not None}})


def record_fields(record: logging.LogRecord) -> dict:
    """The fields of one line: time, level, logger, event, then the event's own."""
    line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name}
    fields = getattr(record, "fields", None)
    if fields is None:
        line.update(event="message", message=record.getMessage())
    else:
        line.update(event=record.msg, **fields)
    if record.exc_info:
        line["traceback"] = logging.Formatter().formatException(record.exc_info)
    return line


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record), ensure_ascii=False, default=str)


class HumanLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = record_fields(record)
        head = (f"{line.pop('time')[11:19]} {line.pop('level').upper():<7} {line.pop('logger')} "
                f"{line.pop('event')}")
        traceback = line.pop("traceback", None)
        message = line.pop("message", None)
        text = " ".join([head, *([message] if message else []),
                         *(f"{key}={value}" for key, value in line.items())])
        return f"{text}\n{traceback}" if traceback else text


class _StderrLines(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test capture, a redirected worker)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; sys.stderr always wins
        pass


def log_format() -> str:
    chosen = os.environ.get("DOPPEL_LOG_FORMAT", "").strip().lower()
    if chosen in FORMATS:
        return chosen
    return "human" if sys.stderr.isatty() else "json"


def setup_logging(level: int = logging.INFO, take_over_root: bool = False) -> None:
    """Our loggers at `level`, one line per record on stderr in log_format()'s format.

    `take_over_root`: the process is ours though its host set up the root logger first
    (Zappa's handler calls basicConfig): drop those handlers, or every line would be
    written twice, once in their format.
    """
    ours = logging.getLogger(ROOT_LOGGER)
    ours.setLevel(level)
    root = logging.getLogger()
    if take_over_root:
        for handler in [h for h in root.handlers if not isinstance(h, _StderrLines)]:
            root.removeHandler(handler)
    if any(isinstance(handler, _StderrLines) for handler in (*root.handlers, *ours.handlers)):
        return
    handler = _StderrLines()
    handler.setFormatter(HumanLines() if log_format() == "human" else JsonLines())
    # Our own process: every logger's lines (libraries' warnings too) in our format.
    # A host that handles the root logger already keeps it; ours get our handler.
    (ours if root.handlers else root).addHandler(handler)
