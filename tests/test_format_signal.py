"""Signal: chat-miner's sample, signal-export Markdown and data.json, signalbackup-tools
TXT; each detected by content and told apart from WhatsApp's look-alike headers."""

from __future__ import annotations

import shutil
from pathlib import Path

from model.data.formats import signal
from model.data.ingest import detect, ingest
from model.data.report import Report
from model.data.sources import open_tree

FIXTURES = Path(__file__).parent / "fixtures" / "signal"
CHAT = FIXTURES / "export-2024" / "Ana Lima"

# signal-export 2.x, as chat.md and data.json show the same chat
ANA_LIMA = [
    ("2024-03-20T18:02:11", "Ana Lima", "text", "are you coming tonight?"),
    ("2024-03-20T18:03:40", "Me", "text", "yes! leaving in 10"),  # its reaction dropped
    ("2024-03-20T18:05:02", "Ana Lima", "text", "great, bring the speaker"),  # the quote dropped
    ("2024-03-20T18:06:30", "Me", "media", "<attachment: 2024-03-20T18-06-30.104_00_IMG_0042.jpg>"),
    ("2024-03-20T18:07:00", "Ana Lima", "text", "look where we are"),  # reaction, then a link
    ("2024-03-20T18:08:15", "Me", "text", "first line\nsecond line"),
    ("2024-03-20T18:09:00", "Ana Lima", "media", "<sticker: 😂>"),
    ("2024-03-20T18:10:00", "Me", "deleted", "(This message was deleted)"),
    ("2024-03-20T21:45:12", "Ana Lima", "system", "Missed voice call"),
    ("2024-03-20T21:50:00", "Me", "media", "<attachment: 2024-03-20T21-50-00.330_00_notes.pdf>"),
    ("2024-03-20T21:51:30", "Ana Lima", "media", "<sticker: 😀>"),
]


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def rows(messages):
    return [(m.time, m.sender, m.kind, m.text) for m in messages]


def test_chat_miner_sample_matches_its_expected_parse():
    messages, report = read(FIXTURES / "test_export.txt")
    # chat-miner's target.json: the same two messages; it joins a message's lines with a
    # space, the Message contract keeps the line break
    assert [(m.time, m.sender, m.text) for m in messages] == [
        ("2019-12-24T12:23", "Jane Doe", "Hello John!"),
        ("2020-01-17T21:49", "John Doe", "Hello\nJane!"),
    ]
    assert {m.conversation for m in messages} == {"test_export"}
    assert report.files == [(str(FIXTURES / "test_export.txt"), "signal")]


def test_signal_export_markdown_every_kind():
    messages, report = read(CHAT / "chat.md")
    assert rows(messages) == ANA_LIMA
    assert {m.conversation for m in messages} == {"Ana Lima"}  # the chat's folder
    assert not report.skipped


def test_data_json_reads_as_the_markdown_does():
    messages, report = read(CHAT / "data.json")
    assert rows(messages) == ANA_LIMA
    assert {(m.source, m.conversation) for m in messages} == {("signal", "Ana Lima")}


def test_export_folder_reads_each_chat_once(tmp_path):
    shutil.copytree(FIXTURES / "export-2024", tmp_path / "export")
    media = tmp_path / "export" / "Ana Lima" / "media"
    media.mkdir()
    (media / "2024-03-20T18-06-30.104_00_IMG_0042.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(32))
    messages, report = read(tmp_path / "export")
    assert rows(messages) == ANA_LIMA  # chat.md and data.json hold the same chat
    assert report.skipped == {
        "signal-export Markdown with data.json beside it (read that)": 1,
        "not a chat export": 2,  # index.html and the photo
    }


def test_old_signal_export_layout():
    messages, _ = read(FIXTURES / "export-2022")
    assert rows(messages) == [
        ("2022-07-04T18:30", "Tomás", "text", "who's bringing the cake?"),
        ("2022-07-04T18:31", "Me", "text", "me 🎂"),
        ("2022-07-04T18:33", "Marina", "text", "I can do drinks"),  # after a ">" quote
        ("2022-07-04T18:40", "Tomás", "media", "<attachment: IMG_1.jpeg>"),
        ("2022-07-04T19:02", "Marina", "system", "Incoming call"),
        ("2022-07-04T19:10", "Tomás", "media", "<sticker: 🎈>"),  # 1.x: the emoji alone
        ("2022-07-04T19:11", "Marina", "text", "😍"),  # an emoji typed: the two spaces after
    ]
    assert {m.conversation for m in messages} == {"Family"}


def test_me_names_the_owner():
    messages, _ = read(CHAT / "chat.md", me="Dana")
    assert {m.sender for m in messages} == {"Ana Lima", "Dana"}


def test_signalbackup_tools_txt():
    messages, _ = read(FIXTURES / "backup")
    assert rows(messages) == [
        ("2024-01-05T14:03:22", "", "system", "Bo Chen is in your contacts"),
        ("2024-01-05T14:03:40", "Bo Chen", "text", "hey! are we still on for saturday?"),
        ("2024-01-05T14:05:10", "Dana Silva", "text", "yes :)"),  # reactions dropped
        ("2024-01-05T14:06:00", "Dana Silva", "media", "<file: IMG_20240105_140559.jpg>"),
        ("2024-01-05T14:06:30", "Bo Chen", "text", "nice spot\nsee you at 10"),
        ("2024-01-05T20:15:00", "", "system", "Missed voice call"),
        ("2024-01-06T09:00:00", "Bo Chen", "system",
         "Poll: Brunch or lunch?\n" + " " * 45 + "[1] Brunch\n" + " " * 45 + "[0] Lunch"),
        ("2024-01-06T09:01:00", "Bo Chen", "media", "<file: image/jpeg>"),
        ("2024-01-06T09:02:00", "Dana Silva", "text", "(see you there)"),  # no reaction
    ]  # fmt: skip
    assert {m.conversation for m in messages} == {"Bo Chen"}  # "Bo Chen (_id7).txt"


def test_whatsapp_with_iso_dates_stays_whatsapp(tmp_path):
    # iOS WhatsApp in a Swedish locale writes the same headers signal-export does
    lines = [
        "[2022-01-15 12:34:56] Ana: Hej!",
        "[2022-01-15 12:35:10] Bo: hej hej",
        "[2022-01-15 12:36:00] Ana: ses",
    ]
    whatsapp = tmp_path / "chat.txt"
    whatsapp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exported = tmp_path / "exported.md"  # signal-export: two trailing spaces, a blank line
    exported.write_text("".join(line + "  \n\n" for line in lines), encoding="utf-8")
    assert detect(open_tree(whatsapp).entries[0]) == "whatsapp"
    assert detect(open_tree(exported).entries[0]) == "signal"


def test_bad_lines_are_skipped_with_their_line(tmp_path):
    path = tmp_path / "chat.md"
    path.write_text(
        "exported by signal-export\n\n"
        "[2024-02-30 10:00:00] Ana: no such day  \n\n"
        "[2024-03-01 10:00:00] Ana: (- Bo: 👍 -)\n\n"  # nothing but a reaction
        "[2024-03-01 10:01:00] Bo: fine  \n\n",
        encoding="utf-8",
    )
    messages, report = read(path)
    assert rows(messages) == [("2024-03-01T10:01:00", "Bo", "text", "fine")]
    assert report.examples == {
        "text before the first Signal message": [f"{path}:1"],
        "signal message with an impossible date": [f"{path}:3"],
        "signal message without text or attachment": [f"{path}:5"],
    }


def test_data_json_records_of_the_wrong_shape_are_skipped(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(
        '{"date": "2024-01-01T10:00:00", "sender": "Bo", "body": "hi  "}\n'
        '[1, 2]\n'
        '{"date": "2024-13-01T10:00:00", "sender": "Bo", "body": "x"}\n'
        '{"date": "2024-01-01T10:02:00", "sender": ["Bo"], "body": "y"}\n',
        encoding="utf-8",
    )
    messages, report = read(path)
    assert rows(messages) == [("2024-01-01T10:00:00", "Bo", "text", "hi")]
    assert report.examples == {
        "signal message without sender or content": [f"{path}:2", f"{path}:4"],
        "signal message with an impossible date": [f"{path}:3"],
    }


def test_truncated_data_json_is_one_line_exit_2_and_no_output(run_cli, tmp_path):
    text = (CHAT / "data.json").read_text(encoding="utf-8")
    cut = text.index('"body": "first line')  # inside the sixth record
    path = tmp_path / "data.json"
    path.write_text(text[:cut], encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("model", "ingest", path, "--out", out / "messages.jsonl")
    assert result.returncode == 2
    reason = "invalid JSON (Expecting property name enclosed in double quotes)"
    assert result.stderr.strip() == f"error: {path}:6: {reason}"
    assert list(out.iterdir()) == []


def test_no_other_format_is_taken_for_signal():
    others = [p for p in FIXTURES.parent.rglob("*") if p.is_file() and FIXTURES not in p.parents]
    assert [p for p in others if signal.sniff(open_tree(p).entries[0])] == []


def chat(tmp_path, name, text):
    """The rows of `text` read as the file `name` of a chat folder "Ana Lima"."""
    path = tmp_path / "Ana Lima" / name
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return rows(read(path)[0])


def test_attachment_names_with_parentheses(tmp_path):
    # signal-export keeps a file's own name after the date: "IMG (1).jpg" -> "…_IMG_(1).jpg"
    photo = "2024-03-20T18-06-30.104_00_IMG_(1).jpg"
    assert chat(tmp_path, "chat.md",
        f"[2024-03-20 18:06:30] Me: ![{photo}](./media/{photo})  \n\n"
        f"[2024-03-20 18:07:00] Me: the view  ![{photo}](./media/{photo})  \n\n",
    ) == [("2024-03-20T18:06:30", "Me", "media", f"<attachment: {photo}>"),
          ("2024-03-20T18:07:00", "Me", "text", "the view")]  # fmt: skip


def test_old_layout_quote_of_several_lines_is_not_the_senders(tmp_path):
    # signal-export 1.x: f"\n>\n> {quote}\n>\n", so only the quote's first line has a ">"
    assert chat(tmp_path, "index.md",
        "[2022-07-04 18:30] Tomás: who's bringing\nthe cake?  \n"
        "[2022-07-04 18:33] Marina: \n>\n> who's bringing\nthe cake?\n>\nI can do drinks  \n"
        "[2022-07-04 18:34] Me: \n>\n> I can do drinks\n>\n> see  \n",
    ) == [("2022-07-04T18:30", "Tomás", "text", "who's bringing\nthe cake?"),
          ("2022-07-04T18:33", "Marina", "text", "I can do drinks"),
          ("2022-07-04T18:34", "Me", "text", "> see")]  # fmt: skip


def test_backup_words_in_parentheses_are_not_reactions(tmp_path):
    assert chat(tmp_path, "Bo 🌸 (_id9).txt",
        "[Jan 05, 2024 14:03:40] <Bo 🌸> later (reason: traffic)\n"
        "[Jan 05, 2024 14:06:00] <Dana> ok (Bo 🌸: 👍🏽; Dana: 1️⃣)\n",
    ) == [("2024-01-05T14:03:40", "Bo 🌸", "text", "later (reason: traffic)"),
          ("2024-01-05T14:06:00", "Dana", "text", "ok")]  # fmt: skip


def test_a_lone_emoji_in_other_markdown_stays_text(tmp_path):
    # only signal-export (dates without a comma) wrote a sticker as its bare emoji
    path = tmp_path / "chat.txt"
    path.write_text("[2019-12-24, 12:23] Jane Doe: 👍\n[2019-12-24, 12:24] John Doe: ok\n")
    messages, _ = read(path)
    assert [(m.kind, m.text) for m in messages] == [("text", "👍"), ("text", "ok")]
