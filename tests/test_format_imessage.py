"""iMessage: chat.db/sms.db built from Apple's real schema, the typedstream decoder, and
imessage-exporter TXT."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from model.errors import InputError
from model.formats.imessage import decode_attributed_body
from model.ingest import ingest
from model.report import Report

FIXTURES = Path(__file__).parent / "fixtures" / "imessage"
APPLE_EPOCH = 978307200
T0 = 1672675506  # 2023-01-02T16:05:06Z


@pytest.fixture
def zone(monkeypatch):
    def set_zone(name: str):
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def typedstream(text: str, mutable: bool = False) -> bytes:
    """An attributedBody blob laid out the way Messages writes it (NSKeyedArchiver typedstream)."""
    data = text.encode("utf-8")
    if len(data) < 0x80:
        length = bytes([len(data)])
    elif len(data) < 0x10000:
        length = b"\x81" + len(data).to_bytes(2, "little")
    else:
        length = b"\x82" + len(data).to_bytes(4, "little")
    if mutable:
        classes = b"\x84\x84\x84\x0fNSMutableString\x01\x84\x84\x08NSString\x01\x95"
    else:
        classes = b"\x84\x84\x84\x08NSString\x01\x94"
    return (
        b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x12NSAttributedString\x00"
        b"\x84\x84\x08NSObject\x00\x85\x92" + classes + b"\x84\x01+" + length + data
        + b"\x86\x84\x02iI\x01\x0a\x92\x84\x84\x84\x0cNSDictionary\x00\x94\x84\x01i\x01\x92"
        b"\x84\x96\x96\x1d__kIMMessagePartAttributeName\x86\x92\x84\x84\x84\x08NSNumber\x00"
        b"\x84\x84\x07NSValue\x00\x94\x84\x01*\x84\x99\x99\x00\x86\x86\x86"
    )  # fmt: skip


def create_schema(path: Path, sql_file: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    for statement in (FIXTURES / sql_file).read_text().split(";"):
        if statement.strip() and "TABLE sqlite_" not in statement:  # SQLite's own tables
            db.execute(statement)
    return db


def build_ios11(path: Path) -> Path:
    db = create_schema(path, "sms_db_iOS11.2.sql")
    db.executemany(
        "INSERT INTO handle (ROWID, id, service) VALUES (?, ?, 'iMessage')",
        [(1, "+15558675309"), (2, "ana@example.com")],
    )
    db.executemany(
        "INSERT INTO chat (ROWID, guid, chat_identifier, display_name) VALUES (?, ?, ?, ?)",
        [(1, "c1", "+15558675309", ""), (2, "c2", "chat4242", "Trip ✈️")],
    )
    long_text = " ".join(["長いメッセージ"] * 20)  # > 127 UTF-8 bytes: the 0x81 length form
    rows = [
        # rowid, chat, handle, from_me, seconds after T0, text, body, assoc, item, title, att
        (1, 1, 1, 0, 0, "Hey there 👋", None, 0, 0, None, 0),
        (2, 1, 0, 1, 60, None, typedstream("Yes! see you at 8"), 0, 0, None, 0),
        (3, 1, 1, 0, 61, "Loved “Yes! see you at 8”", None, 2000, 0, None, 0),
        (4, 1, 1, 0, 120, "\ufffc", None, 0, 0, None, 1),
        (5, 1, 0, 1, 180, "\ufffcthis view!", None, 0, 0, None, 1),
        (6, 1, 1, 0, 240, None, None, 0, 0, None, 0),
        (7, 2, 0, 1, 300, None, None, 0, 2, "Trip ✈️", 0),
        (8, 2, 2, 0, 360, None, typedstream(long_text, mutable=True), 0, 0, None, 0),
        (9, 2, 2, 0, 420, None, b"\x04\x0bstreamtyped garbage", 0, 0, None, 0),
        (10, 2, 2, 0, 480, "removed tapback", None, 3001, 0, None, 0),
    ]
    for rowid, chat, handle, me, offset, text, body, assoc, item, title, att in rows:
        date = (T0 + offset - APPLE_EPOCH) * 1_000_000_000
        db.execute(
            "INSERT INTO message (ROWID, guid, text, attributedBody, handle_id, is_from_me, date,"
            " associated_message_type, item_type, group_title, cache_has_attachments)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rowid, f"m{rowid}", text, body, handle, me, date, assoc, item, title, att),
        )
        db.execute(
            "INSERT INTO chat_message_join (chat_id, message_id) VALUES (?, ?)", (chat, rowid)
        )
    db.commit()
    db.close()
    return path


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_ios11_database(tmp_path, zone):
    zone("UTC")
    messages, report = read(build_ios11(tmp_path / "chat.db"), me="Lu")
    assert [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages] == [
        ("+15558675309", "2023-01-02T16:05:06", "+15558675309", "text", "Hey there 👋"),
        ("+15558675309", "2023-01-02T16:06:06", "Lu", "text", "Yes! see you at 8"),
        ("+15558675309", "2023-01-02T16:07:06", "+15558675309", "media", "<attachment>"),
        ("+15558675309", "2023-01-02T16:08:06", "Lu", "media", "this view!"),
        ("Trip ✈️", "2023-01-02T16:10:06", "Lu", "system", "renamed the conversation to Trip ✈️"),
        (
            "Trip ✈️",
            "2023-01-02T16:11:06",
            "ana@example.com",
            "text",
            " ".join(["長いメッセージ"] * 20),
        ),
    ]
    assert report.skipped == {
        "tapback/reaction": 2,
        "empty message": 1,
        "undecodable attributedBody": 1,
    }
    assert "message 3" in report.examples["tapback/reaction"][0]


def test_times_follow_the_local_zone(tmp_path, zone):
    zone("IST-5:30")
    messages, _ = read(build_ios11(tmp_path / "chat.db"))
    assert messages[0].time == "2023-01-02T21:35:06"


def test_ios6_database_in_seconds_inside_a_zip_with_a_neutral_name(tmp_path, zone, monkeypatch):
    zone("UTC")
    db = create_schema(tmp_path / "sms.db", "sms_db_iOS6.1.6.sql")
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, '+447700900123', 'SMS')")
    db.execute("INSERT INTO chat (ROWID, guid, chat_identifier) VALUES (1, 'c', '+447700900123')")
    for rowid, me, text in ((1, 0, "Cheers mate"), (2, 1, "no worries x")):
        db.execute(
            "INSERT INTO message (ROWID, guid, text, handle_id, is_from_me, date)"
            " VALUES (?, ?, ?, 1, ?, ?)",
            (rowid, f"g{rowid}", text, me, T0 - APPLE_EPOCH + rowid),
        )
        db.execute("INSERT INTO chat_message_join VALUES (1, ?)", (rowid,))
    db.commit()
    db.close()
    zipped = tmp_path / "backup.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(tmp_path / "sms.db", "Backup/3d0d7e5fb2ce288813306e4d4636395e047a3d28")
    scratch = tmp_path / "scratch"  # where the zipped database gets extracted to
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    messages, report = read(zipped)
    assert [(m.time, m.sender, m.text) for m in messages] == [
        ("2023-01-02T16:05:07", "+447700900123", "Cheers mate"),
        ("2023-01-02T16:05:08", "Me", "no worries x"),
    ]
    assert [fmt for _, fmt in report.files] == ["imessage"]
    assert not list(scratch.iterdir())  # the extracted copy is removed


@pytest.mark.parametrize("text", ["hi", "", "ça va? 😀", "x" * 127, "y" * 128, "ü" * 40000])
@pytest.mark.parametrize("mutable", [False, True])
def test_attributed_body_round_trip(text, mutable):
    assert decode_attributed_body(typedstream(text, mutable)) == text


def test_attributed_body_damaged_blobs():
    good = typedstream("hello world")
    assert decode_attributed_body(good[: good.index(b"hello") + 3]) is None  # cut mid-text
    assert decode_attributed_body(b"bplist00 no string here") is None
    assert decode_attributed_body(good.replace(b"\x84\x01+", b"\x84\x01*")) is None
    assert decode_attributed_body(typedstream("é").replace("é".encode(), b"\xff\xfe")) is None


def test_exporter_txt():
    messages, report = read(FIXTURES / "Family 🏡.txt", me="Ana")
    assert [(m.time, m.sender, m.kind, m.text) for m in messages] == [
        ("2023-01-02T16:05:06", "+15558675309", "text", "Hey! Are we still on for dinner? 🍝"),
        ("2023-01-02T16:06:10", "Ana", "text", "Yes!! 8pm\n\nsecond paragraph after a blank line"),
        ("2023-01-02T23:15:00", "maria@example.com", "media", "look at this"),
        ("2023-01-02T23:16:30", "Ana", "text", "so pretty"),  # an indented reply
        ("2023-01-03T00:01:00", "Ana", "system", "You renamed the conversation to Família"),
        ("2023-01-03T00:02:00", "+15558675309", "media", "<attachment>"),
        ("2023-01-03T09:00:00", "Ana", "text", "مرحبا 👋"),
    ]
    assert {m.conversation for m in messages} == {"Family 🏡"}
    assert not report.skipped


def test_exporter_txt_detected_under_a_neutral_name(tmp_path):
    shutil.copy(FIXTURES / "Family 🏡.txt", tmp_path / "notes.txt")
    messages, report = read(tmp_path / "notes.txt")
    assert report.files == [(str(tmp_path / "notes.txt"), "imessage")] and len(messages) == 7


def test_truncated_database_forced_is_a_clear_error(tmp_path):
    path = build_ios11(tmp_path / "chat.db")
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\x00" * 100)
    with pytest.raises(InputError) as caught:
        read(path, fmt="imessage")
    assert caught.value.path == str(path) and "database" in caught.value.reason


def test_exporter_txt_opening_with_an_announcement(tmp_path):
    text = (FIXTURES / "Family 🏡.txt").read_text(encoding="utf-8")
    path = tmp_path / "Group.txt"
    path.write_text("Jan 01, 2023  9:00:00 AM You renamed the conversation to Group\n\n" + text)
    messages, report = read(path, me="Ana")
    assert report.files == [(str(path), "imessage")]
    assert (messages[0].sender, messages[0].kind) == ("Ana", "system")
    assert len(messages) == 8


def test_rows_with_surprising_types_do_not_stop_the_ingest(tmp_path, zone):
    zone("UTC")
    db = create_schema(tmp_path / "chat.db", "sms_db_iOS11.2.sql")
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, 15558675309, 'SMS')")
    db.execute("INSERT INTO chat (ROWID, guid, chat_identifier) VALUES (1, 'c', 15558675309)")
    rows = [
        (1, b"caf\xc3\xa9 \xff ok", "yesterday"),  # invalid UTF-8 bytes, a date that is text
        (2, "before year one", -(10**11)),  # a date the clock cannot show
        (3, 42, (T0 - APPLE_EPOCH) * 10**9),  # a number where text belongs
    ]
    for rowid, text, date in rows:
        db.execute(
            "INSERT INTO message (ROWID, guid, text, handle_id, date) VALUES (?, ?, ?, 1, ?)",
            (rowid, f"g{rowid}", text, date),
        )
        db.execute("INSERT INTO chat_message_join (chat_id, message_id) VALUES (1, ?)", (rowid,))
    db.commit()
    db.close()
    messages, _ = read(tmp_path / "chat.db")
    # SQLite sorts numbers before text, so the text "date" comes last
    assert [(m.conversation, m.sender, m.time, m.text) for m in messages] == [
        ("15558675309", "15558675309", None, "before year one"),
        ("15558675309", "15558675309", "2023-01-02T16:05:06", "42"),
        ("15558675309", "15558675309", None, "café \ufffd ok"),
    ]
