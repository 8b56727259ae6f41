"""Telegram Desktop's HTML export: the same chat as its JSON export, split files, whole
accounts, every message shape, broken files."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from model.data.formats import telegram_html
from model.data.ingest import ingest
from model.data.report import Report
from model.data.sources import Limits, open_tree
from model.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "telegram_html"
CHAT = FIXTURES / "html" / "ChatExport_2021-03-15"
ACCOUNT = FIXTURES / "DataExport_2024-01-04"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_html_and_json_exports_of_one_chat_give_the_same_messages():
    from_html, html_report = read(CHAT)
    from_json, json_report = read(FIXTURES / "json" / "ChatExport_2021-03-15")
    # the HTML export writes no time on a notice ("Tomás invited Cy"), only on messages
    expected = [replace(m, time=None) if m.kind == "system" and not m.text.startswith("poll")
                else m for m in from_json]
    assert from_html == expected
    assert html_report.files == [(str(CHAT / "messages.html"), "telegram-html")]
    assert html_report.skipped == json_report.skipped == {"telegram message without sender or content": 1}
    assert html_report.examples["telegram message without sender or content"] == [
        f"{CHAT / 'messages2.html'} (message 18)"]


def test_every_message_shape_of_the_chat():
    messages, _ = read(CHAT)
    assert {m.conversation for m in messages} == {"Поход 🏔"}
    assert [(m.time, m.sender, m.kind, m.text) for m in messages] == [
        (None, "Марина 🌸", "system", "create group: Поход 🏔"),
        ("2021-03-14T09:03:40", "Марина 🌸", "text", "Привет всем! 😊"),
        # a joined message (no from_name): the sender of the message before
        ("2021-03-14T09:04:02", "Марина 🌸", "text", "Кто идёт в субботу?"),
        ("2021-03-14T09:05:00", "Tomás", "text",
         "Yo voy, mira https://maps.example.org/x y no te vayas\nsegunda línea"),
        ("2021-03-14T09:05:31", "Bo Li", "media", "<photo>"),
        ("2021-03-14T09:06:00", "Bo Li", "text", "mira esto & <this>"),  # a video's caption
        ("2021-03-14T09:06:30", "Марина 🌸", "media", "<sticker: 😂>"),  # not downloaded
        ("2021-03-14T09:07:00", "Tomás", "system", "poll: ¿Sábado o domingo?"),
        ("2021-03-14T09:08:00", "Tomás", "media", "<voice_message>"),
        # messages2.html: forwarded text, then a forwarded photo joined to it
        ("2021-03-15T10:00:00", "Bo Li", "forwarded", "Breaking: cats"),
        ("2021-03-15T10:00:00", "Bo Li", "forwarded", "<photo>"),
        ("2021-03-15T10:01:00", "Bo Li", "text", "ok 👍 секрет"),  # custom emoji, spoiler
        ("2021-03-15T10:02:00", "Tomás", "media", "<contact>"),
        ("2021-03-15T10:03:00", "Tomás", "media", "<location>"),
        (None, "Tomás", "system", "invite members: Cy"),
        (None, "Марина 🌸", "system", "edit group title: Поход 🏔 2021"),
        ("2021-03-15T10:10:00", "Cy", "media", "<animation>"),  # "Cy via @gif"
    ]


def test_a_chats_files_are_read_in_number_order_whichever_comes_first(tmp_path):
    first = (CHAT / "messages.html").read_text(encoding="utf-8")
    export = tmp_path / "ChatExport"
    export.mkdir()
    for number in range(1, 12):  # messages.html, messages2.html … messages11.html
        (export / f"messages{number if number > 1 else ''}.html").write_text(
            first.replace("Привет всем! 😊", f"part {number}"), encoding="utf-8")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:  # the last part first, the first last
        for path in sorted(export.iterdir(), reverse=True):
            zipped.write(path, f"ChatExport/{path.name}")
    for given in (export, archive):
        messages, report = read(given)
        assert [m.text for m in messages if m.text.startswith("part")] == [
            f"part {number}" for number in range(1, 12)]
        assert len(report.files) == 1, given


def test_whole_account_export_reads_each_chat_and_keeps_namesakes_apart():
    messages, report = read(ACCOUNT)
    assert [(m.conversation, m.sender, m.kind, m.text) for m in messages] == [
        # a call is a message in the HTML and a notice in the JSON export
        ("Ana Silva", "Ana Silva", "system", "phone call"),
        ("Ana Silva", "Ana Silva", "text", "sent you the tickets"),
        ("Ana Silva", "Ana Silva", "text", "both are in there"),  # a file's caption
        ("Ana Silva", "Nat", "media", "<video_message>"),
        ("Ana Silva", "Nat", "text", "git pull then make\nmake test\n\tok?"),
        ("Family", "Nat", "text", "hi all"),
        ("Family (2)", "Nat", "text", "the other family chat"),
    ]
    assert [fmt for _, fmt in report.files] == ["telegram-html"] * 3
    assert report.skipped == {"not a chat export": 2}  # export_results.html, lists/chats.html


# ACCOUNT: a whole account's result.json is at the top, its HTML chats under chats/
@pytest.mark.parametrize("export", [CHAT, ACCOUNT])
def test_an_export_in_both_formats_is_read_once_from_its_json(tmp_path, export):
    both = tmp_path / "both"
    shutil.copytree(export, both)
    shutil.copy(FIXTURES / "json" / "ChatExport_2021-03-15" / "result.json", both / "result.json")
    messages, report = read(both)
    assert {m.conversation for m in messages} == {"Поход 🏔"}
    assert len(messages) == 17
    pages = 2 if export == CHAT else 3
    assert report.skipped["telegram HTML export with its result.json (read instead)"] == pages


def test_only_chat_pages_are_taken_for_the_html_export():
    pages = {entry.relpath: telegram_html.sniff(entry) for entry in open_tree(ACCOUNT).entries}
    assert pages == {
        "chats/chat_1/messages.html": True, "chats/chat_2/messages.html": True,
        "chats/chat_3/messages.html": True, "export_results.html": False, "lists/chats.html": False,
    }


def test_a_joined_message_at_a_files_start_has_the_sender_of_the_file_before(tmp_path):
    # Telegram Desktop starts each file with a full message; older or edited exports may not
    export = tmp_path / "ChatExport"
    shutil.copytree(CHAT, export)
    second = export / "messages2.html"
    second.write_text(second.read_text(encoding="utf-8")
                      .replace('clearfix" id="message10"', 'clearfix joined" id="message10"')
                      .replace("Bo Li\n", "", 1), encoding="utf-8")
    messages, _ = read(export)
    assert [m.sender for m in messages if m.text in ("Breaking: cats", "ok 👍 секрет")] == ["Tomás"] * 2
    alone, report = read(second)  # the file before not given: no one to name
    assert alone[0].text == "<contact>"
    assert report.examples["telegram message without sender or content"] == [
        f"{second} (message {number})" for number in (10, 11, 12)]


@pytest.mark.parametrize(("title", "time"), [
    ("14.03.2021 09:03:40", "2021-03-14T09:03:40"),  # before Telegram Desktop 4.0 (2022)
    ("14.03.2021 09:03:40 UTC-05:30", "2021-03-14T09:03:40"),
])
def test_times_with_and_without_a_zone_are_the_local_time(tmp_path, title, time):
    page = tmp_path / "messages.html"
    page.write_text((CHAT / "messages.html").read_text(encoding="utf-8")
                    .replace("14.03.2021 09:03:40 UTC+03:00", title), encoding="utf-8")
    messages, _ = read(page)
    assert messages[1].time == time


def test_an_impossible_date_is_skipped_and_named(tmp_path):
    page = tmp_path / "messages.html"
    page.write_text((CHAT / "messages.html").read_text(encoding="utf-8")
                    .replace("14.03.2021 09:03:40", "30.02.2021 09:03:40"), encoding="utf-8")
    messages, report = read(page)
    assert "Привет всем! 😊" not in [m.text for m in messages]
    assert report.examples["telegram message with an impossible date"] == [f"{page} (message 2)"]


def test_a_cut_off_file_keeps_what_came_before_and_says_so(tmp_path):
    text = (CHAT / "messages.html").read_text(encoding="utf-8")
    page = tmp_path / "messages.html"
    page.write_text(text[: text.index("Кто идёт")], encoding="utf-8")
    messages, report = read(page)
    assert [m.text for m in messages] == ["create group: Поход 🏔", "Привет всем! 😊"]
    assert report.skipped == {"telegram HTML file that ends inside a message (cut off)": 1}


def test_markup_left_open_past_the_line_limit_is_an_error(tmp_path):
    page = tmp_path / "messages.html"
    shutil.copy(CHAT / "messages.html", page)
    with page.open("a", encoding="utf-8") as handle:
        handle.write("<!-- " + "x\n" * 600)
    with pytest.raises(InputError) as caught:
        read(page, limits=Limits(max_line_chars=1000))
    assert caught.value.path == str(page)
    assert "left open" in caught.value.reason


def test_a_line_past_the_limit_is_skipped_and_named(tmp_path):
    text = (CHAT / "messages.html").read_text(encoding="utf-8")
    page = tmp_path / "messages.html"
    page.write_text(text.replace("Привет всем! 😊", "x" * 2000), encoding="utf-8")
    messages, report = read(page, limits=Limits(max_line_chars=1000))
    assert messages[1].sender == "Марина 🌸" and "x" * 2000 not in [m.text for m in messages]
    line = text[: text.index("Привет всем")].count("\n") + 1
    assert report.examples["line longer than 1,000 characters (raise the limit with --max-line-chars)"] == [
        f"{page}:{line}"]
