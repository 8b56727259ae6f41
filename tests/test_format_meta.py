"""Facebook Messenger and Instagram "Download your information" JSON, and Messenger's
encrypted-chat export: escaped UTF-8 repaired, thread parts merged in time order, kinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.data.formats import meta
from model.data.ingest import ingest
from model.data.report import Report
from model.data.sources import open_tree
from model.errors import InputError

pytestmark = pytest.mark.usefixtures("utc")  # Meta stores instants; read them in UTC

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
INBOX = FIXTURES / "facebook" / "your_activity_across_facebook" / "messages" / "inbox"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def rows(messages):
    return [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages]


def test_messenger_export_merges_thread_parts_in_time_order():
    messages, report = read(FIXTURES / "facebook")
    ana, other_ana = "Ana Silva", "Ana Silva (anasilva_20001)"  # two people, one name
    assert rows(messages) == [
        (ana, "2024-03-20T16:05:00", "Zoë Martin", "text", "salut Ana, ça va ?"),  # message_2.json
        (ana, "2024-03-20T16:20:00", "Ana Silva", "text", "tu viens au café ? ☕"),
        (ana, "2024-03-20T16:21:00", "Zoë Martin", "text", "ok!"),  # message_1.json from here
        (ana, "2024-03-20T16:21:00", "Zoë Martin", "text", "on arrive dans 5 min 🚗\ngarde-nous une table"),
        (ana, "2024-03-20T16:30:00", "Ana Silva", "media", "<photo>"),  # its reaction is no message
        (ana, "2024-03-20T16:31:00", "Zoë Martin", "text", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
        (ana, "2024-03-20T16:40:00", "Ana Silva", "media", "<sticker>"),
        (ana, "2024-03-20T16:50:00", "Zoë Martin", "deleted", "<unsent>"),
        (ana, "2024-03-20T17:00:00", "Ana Silva", "system", "Ana Silva called you."),
        (ana, "2024-03-20T17:05:00", "Zoë Martin", "system", "Zoë Martin reacted 😍 to your message "),
        (ana, "2024-03-20T17:10:00", "Ana Silva", "media", "Ana Silva sent an attachment."),
        (other_ana, "2024-03-20T06:00:00", "Ana Silva", "text", "Olá! Do you still sell the bike?"),
        ("Trip 🏔️", "2024-03-19T22:50:00", "Zoë Martin", "media", "<file: packing-list.pdf>"),
        ("Trip 🏔️", "2024-03-19T23:00:00", "Zoë Martin", "system", "Zoë Martin added Bruno Costa to the group."),
        ("Trip 🏔️", "2024-03-19T23:10:00", "Ana Silva", "system", "Ana Silva named the group Trip 🏔️."),
        ("Trip 🏔️", "2024-03-19T23:20:00", "Bruno Costa", "text", "who has the tent?"),
    ]  # fmt: skip
    assert report.files == [(str(FIXTURES / "facebook"), "meta")]
    part = INBOX / "anasilva_10158123" / "message_2.json"
    assert report.examples == {
        "meta message with an impossible timestamp": [f"{part} (message #2)"],
        "meta message without sender or content": [f"{part} (message #3)"],
    }


def test_threads_of_one_title_stay_apart():
    # the encrypted export's chat with Ana (read first: "e2ee" sorts first), the older
    # Messenger thread with her, and another Ana Silva: three conversations
    messages, _ = read(FIXTURES)
    assert sorted({(m.conversation, m.time[:10]) for m in messages if "Ana" in m.conversation}) == [
        ("Ana Silva", "2024-03-21"),
        ("Ana Silva (anasilva_10158123)", "2024-03-20"),
        ("Ana Silva (anasilva_20001)", "2024-03-20"),
    ]


def test_one_thread_file_on_its_own():
    messages, _ = read(INBOX / "anasilva_10158123" / "message_2.json")
    assert [(m.conversation, m.sender, m.text) for m in messages] == [
        ("Ana Silva", "Zoë Martin", "salut Ana, ça va ?"),
        ("Ana Silva", "Ana Silva", "tu viens au café ? ☕"),
    ]


def test_instagram_thread():
    messages, _ = read(FIXTURES / "instagram")
    assert rows(messages) == [
        ("Bo Chen", "2024-03-20T16:05:00", "Zoë Martin", "text", "hahaha où est-ce ?"),
        ("Bo Chen", "2024-03-20T16:06:00", "Bo Chen", "media", "<video>"),
        ("Bo Chen", "2024-03-20T16:07:00", "Bo Chen", "media", "<link: https://www.instagram.com/p/C4xYz123/>"),
        ("Bo Chen", "2024-03-20T16:08:00", "Zoë Martin", "system", "Reacted 😂 to your message "),
        ("Bo Chen", "2024-03-20T16:09:00", "Bo Chen", "system", "Liked a message"),
    ]  # fmt: skip


def test_encrypted_chat_export():
    messages, _ = read(FIXTURES / "e2ee" / "ana_silva_1.json")
    assert rows(messages) == [
        ("Ana Silva", "2024-03-21T16:00:00", "Zoë Martin", "text", "café demain ? ☕"),  # real UTF-8 kept
        ("Ana Silva", "2024-03-21T16:01:00", "Ana Silva", "media", "<photo>"),
        ("Ana Silva", "2024-03-21T16:02:00", "Ana Silva", "deleted", "<unsent>"),
        ("Ana Silva", "2024-03-21T16:03:00", "Zoë Martin", "text", "regarde"),  # a video's caption
    ]  # fmt: skip


@pytest.mark.parametrize(
    "written, meant",
    [
        ("caf\u00c3\u00a9", "café"),
        ("\u00f0\u009f\u0098\u008d", "😍"),  # an emoji is four escaped bytes
        ("café", "café"),  # real text is left alone
        ("Zoë ☕", "Zoë ☕"),
        ("\u00c3", "\u00c3"),  # not UTF-8 bytes: kept as written
    ],
)
def test_repair_undoes_escaped_bytes_only(written, meant):
    assert meta.repair(written) == meant


def test_seconds_in_old_exports(tmp_path):
    path = tmp_path / "message.json"
    record = {"sender_name": "Ana", "timestamp": 1300000000, "content": "hi"}
    path.write_text(json.dumps({"participants": [{"name": "Ana"}], "messages": [record]}))
    messages, _ = read(path)
    assert [(m.conversation, m.time) for m in messages] == [("Ana", "2011-03-13T07:06:40")]


def test_thread_without_message_list_is_an_input_error(tmp_path):
    path = tmp_path / "message_1.json"
    path.write_text('{"participants": [{"name": "Ana"}], "thread_path": "inbox/ana_1", "messages": {}}')
    with pytest.raises(InputError, match="message list") as caught:
        read(path)
    assert caught.value.path == str(path)


def test_truncated_thread_is_one_line_exit_2_and_no_output(run_cli, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    text = (INBOX / "trip_3345" / "message_1.json").read_text(encoding="utf-8")
    (folder / "message_1.json").write_text(text[: len(text) // 2], encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("model", "ingest", tmp_path / "inbox", "--out", out / "messages.jsonl")
    assert result.returncode == 2
    line = text[: len(text) // 2].count("\n") + 1
    assert result.stderr.strip() == (
        f"error: {folder / 'message_1.json'}:{line}: truncated JSON (file ends early)"
    )
    assert list(out.iterdir()) == []


def test_no_other_format_is_taken_for_meta():
    twin = FIXTURES.parent / "meta_html" / "json"  # the JSON download of meta_html's thread
    others = [p for p in FIXTURES.parent.rglob("*") if p.is_file() and {FIXTURES, twin}.isdisjoint(p.parents)]
    assert [p for p in others if meta.sniff(open_tree(p).entries[0])] == []


@pytest.mark.parametrize(
    "content, kind",
    [
        ("Bo sent a GIF from GIPHY.", "media"),
        ("Bo waved at you!", "system"),
        # Messenger's greeting atop a new chat, under the other person's name
        ("You can now message and call each other and see info like Active Status and when "
         "you've read messages.", "system"),
        ("You are now connected on Messenger.", "system"),
        ("Say hi to your new Facebook friend, Ana.", "system"),
        ("you can now call me", "text"),
    ],
)
def test_meta_lines_are_not_the_senders_words(tmp_path, content, kind):
    path = tmp_path / "message_1.json"
    record = {"sender_name": "Bo", "timestamp_ms": 1710950000000, "content": content}
    path.write_text(json.dumps({"participants": [{"name": "Bo"}], "messages": [record]}))
    messages, _ = read(path)
    assert [(m.kind, m.text) for m in messages] == [(kind, content)]
