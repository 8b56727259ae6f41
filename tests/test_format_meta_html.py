"""Facebook Messenger and Instagram "Download your information" in Meta's default HTML
format: every layout since 2019, the same Messages as the thread's JSON download, dates
in the languages the reader knows, and a pointer to the JSON download for the others."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.data.formats.meta_html import local_time
from model.data.ingest import ingest
from model.data.report import Report
from model.errors import InputError

pytestmark = pytest.mark.usefixtures("utc")  # the JSON twin stores instants; read them in UTC

FIXTURES = Path(__file__).parent / "fixtures" / "meta_html"
THREAD = "your_facebook_activity/messages/inbox/anasilva_10158123"


def read(path):
    report = Report()
    return list(ingest([str(path)], report=report)), report


def rows(messages):
    return [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages]


def test_html_thread_gives_the_messages_of_its_json_download():
    html, html_report = read(FIXTURES / "facebook")  # two pages, newest first
    json, json_report = read(FIXTURES / "json")
    assert rows(html) == rows(json)
    assert rows(html) == [
        ("Ana Silva", "2024-03-20T16:05:00", "Zoë Martin", "text", "salut Ana, ça va ?"),  # message_2.html
        ("Ana Silva", "2024-03-20T16:20:00", "Ana Silva", "text", "tu viens au café ? ☕ & j'ai <des> croissants"),
        ("Ana Silva", "2024-03-20T16:21:00", "Zoë Martin", "text", "ok!"),  # same second: page order kept
        ("Ana Silva", "2024-03-20T16:21:00", "Zoë Martin", "text", "on arrive dans 5 min 🚗\ngarde-nous une table"),
        ("Ana Silva", "2024-03-20T16:30:00", "Ana Silva", "media", "<photo>"),  # its reaction is no message
        ("Ana Silva", "2024-03-20T16:31:00", "Zoë Martin", "text", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        ("Ana Silva", "2024-03-20T16:50:00", "Zoë Martin", "deleted", "<unsent>"),
        ("Ana Silva", "2024-03-20T17:00:00", "Ana Silva", "system", "Ana Silva called you."),
        ("Ana Silva", "2024-03-20T17:05:00", "Zoë Martin", "system", "Zoë Martin reacted 😍 to your message "),
        ("Ana Silva", "2024-03-20T17:10:00", "Ana Silva", "media", "<file: packing-list_8812.pdf>"),
    ]  # fmt: skip
    assert {m.source for m in html} == {"meta-html"}
    assert html_report.files == [(str(FIXTURES / "facebook"), "meta-html")]
    assert html_report.skipped == json_report.skipped  # the shared post the download left empty
    assert html_report.examples == {
        "meta message without sender or content": [f"{FIXTURES / 'facebook' / THREAD / 'message_2.html'} (message #3)"],
    }


def test_one_page_given_directly():
    messages, _ = read(FIXTURES / "facebook" / THREAD / "message_2.html")
    assert [(m.conversation, m.text) for m in messages] == [
        ("Ana Silva", "salut Ana, ça va ?"), ("Ana Silva", "tu viens au café ? ☕ & j'ai <des> croissants"),
    ]  # fmt: skip


def test_instagram_thread_has_minute_times():
    messages, _ = read(FIXTURES / "instagram")
    assert rows(messages) == [
        ("bo.costa", "2024-03-20T16:05:00", "bo.costa", "text", "praia amanhã?"),
        ("bo.costa", "2024-03-20T16:06:00", "zoe.martin", "system", "Reacted ❤️ to your message "),
        ("bo.costa", "2024-03-20T16:07:00", "bo.costa", "text", "bora 🏖️"),
    ]  # fmt: skip


def test_older_layout():
    messages, _ = read(FIXTURES / "old")  # messages/inbox/…, classes _2lej _2lel _2let _2lem
    assert rows(messages) == [
        ("Ana Silva", "2024-03-20T16:05:00", "Zoë Martin", "text", "estou a sair"),
        ("Ana Silva", "2024-03-20T16:06:00", "Ana Silva", "text", "até já"),
    ]  # fmt: skip


def test_vietnamese_dates():
    messages, _ = read(FIXTURES / "vietnamese")
    assert rows(messages) == [
        ("Phạm Anh", "2024-03-20T09:15:00", "Lê Minh", "text", "chào anh"),
        ("Phạm Anh", "2024-03-20T16:06:10", "Phạm Anh", "text", "Anh đến rồi"),
    ]  # fmt: skip


@pytest.mark.parametrize("written, iso", [
    ("Mar 12, 2024 8:25:13 pm", "2024-03-12T20:25:13"),
    ("Mar 12, 2024 11:03:54pm", "2024-03-12T23:03:54"),
    ("Oct 09, 2024 12:29 am", "2024-10-09T00:29:00"),
    ("May 14, 2024, 6:21\u202fAM", "2024-05-14T06:21:00"),
    ("Dec 16, 2019, 12:38 PM", "2019-12-16T12:38:00"),
    ("05 Jan 2020, 15:04", "2020-01-05T15:04:00"),
    ("Tháng 10 13, 2023 8:35:59chiều", "2023-10-13T20:35:59"),
])  # fmt: skip
def test_dates_as_meta_writes_them(written, iso):
    assert local_time(written) == iso


@pytest.mark.parametrize("written", ["05/03/2024, 16:05", "5 janv. 2024 15:04:05", "Mar 32, 2024 1:00 pm",
                                     "Mar 12, 2024 13:03 pm"])  # fmt: skip
def test_dates_it_cannot_read_are_no_guess(written):
    with pytest.raises(ValueError):
        local_time(written)


def test_a_page_of_unreadable_dates_points_to_the_json_download():
    with pytest.raises(InputError) as error:
        read(FIXTURES / "french")
    message = str(error.value)
    assert "message_1.html" in message and '"05/03/2024, 16:05"' in message
    assert "Meta's HTML download" in message and "Format: JSON" in message
    assert "\n" not in message


def test_a_date_it_cannot_read_is_skipped_with_the_reason(tmp_path):
    shutil.copytree(FIXTURES / "old", tmp_path / "old")
    page = tmp_path / "old" / "messages" / "inbox" / "anasilva_ab12cd" / "message_1.html"
    page.write_text(page.read_text(encoding="utf-8").replace("Mar 20, 2024, 4:06 PM", "20 mars 2024 16:06"),
                    encoding="utf-8")
    messages, report = read(tmp_path / "old")
    assert [m.text for m in messages] == ["estou a sair"]
    assert report.examples == {"meta message with a date this reader cannot read": [f"{page} (message #1)"]}


def test_other_meta_html_pages_are_not_chats(tmp_path):
    """A "Your friends" page has Meta's blocks but no message content: it is not a thread."""
    (tmp_path / "your_friends.html").write_text(
        '<html><head><meta charset="utf-8" /><title>Your friends</title></head><body>'
        '<div class="_a706" role="main"><section class="_a6-g"><h2 class="_a6-h">Alice Johnson</h2>'
        '<div class="_a6-p"></div><footer class="_a6-o"><div class="_a72d">Jan 15, 2020 3:45:30 pm</div>'
        "</footer></section></div></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="found no chat export"):
        read(tmp_path)
