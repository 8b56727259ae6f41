"""iMessage: chat.db/sms.db built from Apple's real schema, the typedstream decoder, and
imessage-exporter TXT."""

from __future__ import annotations

import contextlib
import json
import plistlib
import shutil
import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from model.data.formats.typedstream import TypedstreamError, attributed_string_text
from model.data.ingest import ingest
from model.data.report import Report
from model.errors import InputError

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


class Archiver:
    """Writes Apple's typedstream as NSArchiver does (see model/data/formats/typedstream.py):
    numbers in one byte or after an int16/int32 tag, shared strings and classes stored once
    and referenced after, every object numbered before its class."""

    def __init__(self):
        self.out = bytearray(b"\x04\x0bstreamtyped")
        self.integer(1000)  # the system version
        self.strings: dict[bytes, int] = {}
        self.classes: dict[bytes, int] = {}
        self.objects = 0

    def integer(self, value: int) -> None:
        if -110 <= value <= 127:
            self.out += value.to_bytes(1, "little", signed=True)
        elif -(2**15) <= value < 2**15:
            self.out += b"\x81" + value.to_bytes(2, "little", signed=True)
        else:
            self.out += b"\x82" + value.to_bytes(4, "little", signed=True)

    def shared(self, string: bytes) -> None:
        if string in self.strings:
            self.integer(self.strings[string] - 110)  # a reference number
            return
        self.strings[string] = len(self.strings)
        self.out += b"\x84"
        self.bytes(string)

    def bytes(self, data: bytes) -> None:
        self.integer(len(data))
        self.out += data

    def value(self, encoding: bytes, value) -> None:
        self.shared(encoding)
        if encoding == b"+":
            self.bytes(value)
        elif encoding == b"*":  # a C string: new, then a shared string
            self.out += b"\x84"
            self.shared(value)
        else:
            for number in value:
                self.integer(number)

    @contextlib.contextmanager
    def object(self, classes: list[tuple[bytes, int]]):
        """An object of `classes`, (name, version) from its own class up to NSObject; its
        values are written inside the with-block."""
        self.shared(b"@")
        self.out += b"\x84"
        self.objects += 1
        for name, version in classes:
            if name in self.classes:
                self.integer(self.classes[name] - 110)
                break
            self.classes[name] = self.objects
            self.objects += 1
            self.out += b"\x84"
            self.shared(name)
            self.integer(version)
        else:
            self.out += b"\x85"  # nil: the root class has no superclass
        yield
        self.out += b"\x86"  # end of object


NS_OBJECT = (b"NSObject", 0)
NS_STRING = [(b"NSString", 1), NS_OBJECT]


def attributed_body(text: str, mutable: bool = False, mutable_string: bool = False) -> bytes:
    """An attributedBody as Messages writes it: the string, then one attribute run."""
    body = Archiver()
    string = [(b"NSMutableString", 1), *NS_STRING] if mutable_string else NS_STRING
    root = [(b"NSAttributedString", 0), NS_OBJECT]
    if mutable:
        root.insert(0, (b"NSMutableAttributedString", 0))
    with body.object(root):
        with body.object(string):
            body.value(b"+", text.encode())
        body.value(b"iI", (1, len(text.encode("utf-16-le")) // 2))  # the attribute run's range
        with body.object([(b"NSDictionary", 0), NS_OBJECT]):
            body.value(b"i", (1,))  # one attribute
            with body.object(NS_STRING):
                body.value(b"+", b"__kIMMessagePartAttributeName")
            with body.object([(b"NSNumber", 0), (b"NSValue", 0), NS_OBJECT]):
                body.value(b"*", b"i")
                body.value(b"i", (0,))
    return bytes(body.out)


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
    whole = attributed_body("this one was cut short")
    cut = whole[: whole.index(b"cut short")]
    rows = [
        # rowid, chat, handle, from_me, seconds after T0, text, body, assoc, item, title, att
        (1, 1, 1, 0, 0, "Hey there 👋", None, 0, 0, None, 0),
        (2, 1, 0, 1, 60, None, attributed_body("Yes! see you at 8"), 0, 0, None, 0),
        (3, 1, 1, 0, 61, "Loved “Yes! see you at 8”", None, 2000, 0, None, 0),
        (4, 1, 1, 0, 120, "\ufffc", None, 0, 0, None, 1),
        (5, 1, 0, 1, 180, "\ufffcthis view!", None, 0, 0, None, 1),
        (6, 1, 1, 0, 240, None, None, 0, 0, None, 0),
        (7, 2, 0, 1, 300, None, None, 0, 2, "Trip ✈️", 0),
        (8, 2, 2, 0, 360, None, attributed_body(long_text, True, True), 0, 0, None, 0),  # edited
        (9, 2, 2, 0, 420, None, b"bplist00\xd4\x01\x02\x03", 0, 0, None, 0),  # a keyed archive
        (10, 2, 2, 0, 480, "removed tapback", None, 3001, 0, None, 0),
        (11, 2, 2, 0, 540, None, cut, 0, 0, None, 0),
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
        "undecodable attributedBody (not a typedstream)": 1,
        "undecodable attributedBody (truncated)": 1,
    }
    assert "message 3" in report.examples["tapback/reaction"][0]
    assert "message 11" in report.examples["undecodable attributedBody (truncated)"][0]


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


@pytest.mark.parametrize(
    "text",
    ["hi", "", "ça va? 😀", "x" * 127, "y" * 128, "é" * 100, "ü" * 20000, "😀" * 17500],
    ids=["short", "empty", "emoji", "127 bytes", "128 bytes", "200 bytes", "40000", "70000"],
)  # one length byte up to 127, then 0x81 + int16, then 0x82 + int32 (70,000 bytes)
@pytest.mark.parametrize("mutable", [False, True], ids=["NSString", "NSMutableString"])
def test_attributed_body_round_trip(text, mutable):
    blob = attributed_body(text, mutable=mutable, mutable_string=mutable)
    assert attributed_string_text(blob) == text
    assert attributed_string_text(attributed_body(text, mutable_string=mutable)) == text


def test_real_attributed_bodies():
    """Blobs from real chat.db files; our encoder writes the same bytes, so it follows the format."""
    samples = json.loads((FIXTURES / "attributed_bodies.json").read_text(encoding="utf-8"))
    for sample, mutable in zip(samples, (True, False), strict=True):
        blob = bytes.fromhex(sample["hex"])
        assert attributed_string_text(blob) == sample["text"]
        assert attributed_body(sample["text"], mutable, mutable) == blob


def test_every_truncation_is_refused_until_the_text_is_whole():
    text = "edited: ça va? 😀 " * 10
    blob = attributed_body(text, mutable=True, mutable_string=True)
    text_end = blob.index(text.encode()) + len(text.encode())
    for cut in range(len(blob) + 1):
        if cut < text_end:
            with pytest.raises(TypedstreamError):
                attributed_string_text(blob[:cut])
        else:  # the attributes after the text may be lost; the text is not
            assert attributed_string_text(blob[:cut]) == text


@pytest.mark.parametrize(
    "blob, reason",
    [
        (b"bplist00\xd4\x01\x02", "not a typedstream"),
        (
            b"\x04\x0bstreamtyped\x81\xe8\x03\x84\x01@\x84\x84\x84\x08NSString\x01\x84\x84"
            b"\x08NSObject\x00\x85\x84\x01+\x0cstring value\x86",
            "not an attributed string",
        ),  # a bare NSString archive
        (attributed_body("hi").replace(b"\x84\x01+", b"\x84\x01*"), "no string inside"),
        (attributed_body("hi").replace(b"\x01\x94", b"\x01\xf0"), "reference to nothing"),
        (attributed_body("hi").replace(b"\x01\x94", b"\x01\x92"), "where a class belongs"),
        (attributed_body("hi").replace(b"\x84\x01+\x02", b"\x84\x01+\x83"), "unexpected tag"),
    ],
)
def test_damaged_attributed_bodies_say_why(blob, reason):
    with pytest.raises(TypedstreamError, match=reason):
        attributed_string_text(blob)


def test_damaged_utf8_in_the_text_is_replaced_like_the_text_column():
    blob = attributed_body("café!").replace("é".encode(), b"\xff\xfe")
    assert attributed_string_text(blob) == "caf\ufffd\ufffd!"


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


def test_one_contact_over_imessage_and_sms_is_one_conversation_in_time_order(tmp_path, zone):
    """Messages keeps a chat per service for one number (iMessage;-;+1555…, SMS;-;+1555…):
    both are the conversation with that number, and its messages interleave."""
    zone("UTC")
    db = create_schema(tmp_path / "chat.db", "sms_db_iOS11.2.sql")
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, '+15558675309', 'iMessage')")
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (2, '+15558675309', 'SMS')")
    db.executemany(
        "INSERT INTO chat (ROWID, guid, chat_identifier) VALUES (?, ?, '+15558675309')",
        [(1, "iMessage;-;+15558675309"), (2, "SMS;-;+15558675309")],
    )
    rows = [(1, 1, 1, 0, "on iMessage"), (2, 2, 2, 60, "no signal, sms"),
            (3, 1, 1, 120, "back on iMessage"), (4, 1, 1, 180, "removed sticker tapback")]
    for rowid, chat, handle, offset, text in rows:
        db.execute(
            "INSERT INTO message (ROWID, guid, text, handle_id, date, associated_message_type)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (rowid, f"m{rowid}", text, handle, (T0 + offset - APPLE_EPOCH) * 10**9,
             3007 if rowid == 4 else 0),
        )
        db.execute("INSERT INTO chat_message_join (chat_id, message_id) VALUES (?, ?)", (chat, rowid))
    db.commit()
    db.close()
    messages, report = read(tmp_path / "chat.db")
    assert [(m.conversation, m.text) for m in messages] == [
        ("+15558675309", "on iMessage"), ("+15558675309", "no signal, sms"),
        ("+15558675309", "back on iMessage"),
    ]  # fmt: skip
    assert report.skipped == {"tapback/reaction": 1}


def summary_info(parts: int, unsent: tuple[int, ...] = (), edits: dict | None = None) -> bytes:
    """A message_summary_info as Messages writes it (macOS 13 / iOS 16 on; the layout of the
    Deleted.plist and Edited.plist samples of ReagentX/imessage-exporter): `otr` the
    message's parts by index, `rp` those unsent, `ec` each edited part's texts in turn."""
    info = {"amc": 0, "otr": {str(i): {"lo": 0, "le": 5} for i in range(parts)}}
    if unsent:
        info |= {"ust": True, "rp": list(unsent)}
    if edits:
        info["ec"] = {str(part): [{"d": 695000000.5 + n, "t": attributed_body(text)}
                                  for n, text in enumerate(texts)] for part, texts in edits.items()}
    return plistlib.dumps(info, fmt=plistlib.FMT_BINARY)


def test_unsent_messages_are_deleted_and_edited_ones_keep_their_last_text(tmp_path, zone):
    """Since macOS 13 / iOS 16 a message unsent within two minutes keeps its row with the text
    and attributedBody emptied; message_summary_info says which parts were unsent."""
    zone("UTC")
    db = create_schema(tmp_path / "chat.db", "sms_db_iOS11.2.sql")
    for column in ("date_edited", "date_retracted"):  # the macOS 13 columns iOS 11 lacks
        db.execute(f"ALTER TABLE message ADD COLUMN {column} INTEGER DEFAULT 0")
    db.execute("INSERT INTO handle (ROWID, id, service) VALUES (1, '+15558675309', 'iMessage')")
    db.execute("INSERT INTO chat (ROWID, guid, chat_identifier) VALUES (1, 'c', '+15558675309')")
    edited = (T0 + 30 - APPLE_EPOCH) * 10**9
    rows = [
        # rowid, from_me, text, attributedBody, date_edited, date_retracted, summary, attached
        (1, 0, "are you coming?", None, 0, 0, None, 0),
        (2, 1, None, None, edited, edited, summary_info(1, (0,)), 0),  # unsent
        (3, 0, None, None, edited, 0, summary_info(1, (0,)), 0),  # unsent, date_retracted cleared
        (4, 1, None, None, edited, edited, summary_info(2, (0, 1)), 1),  # a photo and words unsent
        (5, 1, None, attributed_body("yes, at 8"), edited, 0,
         summary_info(1, edits={0: ["yes, at 7", "yes, at 8"]}), 0),  # edited: its last text
        (6, 0, "the words stay", None, edited, edited, summary_info(2, (1,)), 1),  # only the photo
        (7, 0, None, None, edited, 0, b"bplist00 damaged", 0),  # nothing says it was unsent
        (8, 0, None, None, 0, 0, None, 0),
    ]
    for rowid, me, text, body, date_edited, retracted, summary, attached in rows:
        db.execute(
            "INSERT INTO message (ROWID, guid, text, attributedBody, handle_id, is_from_me, date,"
            " date_edited, date_retracted, message_summary_info, cache_has_attachments)"
            " VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (rowid, f"m{rowid}", text, body, me, (T0 + rowid - APPLE_EPOCH) * 10**9, date_edited,
             retracted, summary, attached),
        )
        db.execute("INSERT INTO chat_message_join (chat_id, message_id) VALUES (1, ?)", (rowid,))
    db.commit()
    db.close()
    messages, report = read(tmp_path / "chat.db", me="Lu")
    assert [(m.time, m.sender, m.kind, m.text) for m in messages] == [
        ("2023-01-02T16:05:07", "+15558675309", "text", "are you coming?"),
        ("2023-01-02T16:05:08", "Lu", "deleted", "<unsent>"),
        ("2023-01-02T16:05:09", "+15558675309", "deleted", "<unsent>"),
        ("2023-01-02T16:05:10", "Lu", "deleted", "<unsent>"),
        ("2023-01-02T16:05:11", "Lu", "text", "yes, at 8"),
        ("2023-01-02T16:05:12", "+15558675309", "media", "the words stay"),
    ]  # fmt: skip
    assert report.skipped == {"empty message (unsent or edited away?)": 1, "empty message": 1}
    assert "message 7" in report.examples["empty message (unsent or edited away?)"][0]
