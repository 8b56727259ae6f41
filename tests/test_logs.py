"""One logging setup: the same fields on every line, JSON or a human line, set up once."""

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

from model.logs import HumanLines, JsonLines, log_event, record_fields

ROOT = Path(__file__).resolve().parents[1]


def make_record(message, *args, fields=None, exc_info=None) -> logging.LogRecord:
    record = logging.LogRecord("doppel.poller", logging.WARNING, __file__, 1, message, args,
                               exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_an_event_is_its_name_and_fields_after_the_common_ones():
    line = json.loads(JsonLines().format(make_record("replied", fields={"mention": "7"})))
    assert list(line) == ["time", "level", "logger", "event", "mention"]
    assert line["level"] == "warning" and line["logger"] == "doppel.poller"
    assert line["event"] == "replied" and line["mention"] == "7"
    assert line["time"].endswith("Z") and line["time"][10] == "T"


def test_a_plain_message_is_event_message_and_a_traceback_rides_along():
    try:
        raise ValueError("bad")
    except ValueError:
        record = make_record("chat %s failed", 42, exc_info=sys.exc_info())
    line = record_fields(record)
    assert line["event"] == "message" and line["message"] == "chat 42 failed"
    assert "ValueError: bad" in line["traceback"]


def test_the_human_line_says_the_same():
    text = HumanLines().format(make_record("replied", fields={"mention": "7", "chat": 3}))
    assert text.endswith("WARNING doppel.poller replied mention=7 chat=3")


def test_log_event_leaves_out_missing_fields(caplog):
    caplog.set_level(logging.INFO, logger="doppel")
    log_event(logging.getLogger("doppel.test"), "done", reply=None, count=2)
    assert record_fields(caplog.records[-1])["event"] == "done"
    assert caplog.records[-1].fields == {"count": 2}


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_a_process_writes_every_logger_once_in_one_format():
    result = run_python("""
        import logging
        from model.logs import log_event, setup_logging
        setup_logging()
        setup_logging()  # a second call changes nothing
        log_event(logging.getLogger("doppel.poller"), "replied", mention="1")
        logging.getLogger("some.library").warning("careful")
        logging.getLogger("some.library").info("chatter below warning stays out")
    """)
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("doppel.poller", "replied"), ("some.library", "message")]


def test_the_human_format_can_be_asked_for():
    result = run_python("""
        import logging
        from model.logs import log_event, setup_logging
        setup_logging()
        log_event(logging.getLogger("doppel.poller"), "replied", mention="1")
    """, DOPPEL_LOG_FORMAT="human")
    assert result.stderr.strip().endswith("INFO    doppel.poller replied mention=1")


def test_taking_over_a_host_root_logger_writes_each_line_once():
    result = run_python("""
        import logging
        from model.logs import log_event, setup_logging
        logging.basicConfig()  # what Zappa's handler does before it imports our app
        setup_logging(take_over_root=True)
        log_event(logging.getLogger("doppel.poller"), "scheduled_poll_done", replied=0)
    """)
    assert result.stderr.count("scheduled_poll_done") == 1
    assert json.loads(result.stderr)["event"] == "scheduled_poll_done"
