"""Telegram Desktop result.json: single chats, full-account exports, every message shape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from model.data.ingest import ingest
from model.data.pairs import PairOptions, build_pairs
from model.data.report import Report
from model.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"


def read(path, **options):
    report = Report()
    return [m for m in ingest([str(path)], report=report, **options)], report


def test_single_chat_every_kind():
    messages, report = read(FIXTURES / "result.json")
    rows = [(m.time, m.sender, m.kind, m.text) for m in messages]
    assert rows == [
        ("2021-03-14T09:02:11", "Марина 🌸", "system", "phone call"),
        ("2021-03-14T09:03:40", "Марина 🌸", "text", "Привет! Ты где? 😊"),
        (
            "2021-03-14T09:04:02",
            "Tomás",
            "text",
            "Ya casi llego, mira https://maps.example.org/x y no te vayas\nsegunda línea",
        ),
        ("2021-03-14T09:05:31", "Марина 🌸", "media", "<photo>"),
        # `from` is null: the name comes from the same from_id elsewhere in the export;
        # the words under the video are its caption, kept as text
        ("2021-03-14T09:06:00", "Tomás", "text", "mira esto"),
        ("2021-03-14T09:06:30", "Марина 🌸", "media", "<sticker: 😂>"),
        ("2021-03-14T09:07:00", "Tomás", "system", "poll: ¿Pizza o sushi?"),
    ]
    assert {m.conversation for m in messages} == {"Марина 🌸"}
    assert {m.source for m in messages} == {"telegram"}
    assert report.skipped == {"telegram message without sender or content": 1}
    assert "message 108" in report.examples["telegram message without sender or content"][0]


def test_full_account_export_keeps_chats_apart():
    messages, _ = read(FIXTURES / "full_account.json")
    conversations = [(m.conversation, m.text) for m in messages]
    assert conversations == [
        ("Saved Messages", "note to self: 買い物"),
        ("Family", "create group: Family"),
        ("Family", "hi all"),
        # a second chat with the same name must not merge with the first
        ("Family (12)", "the other family chat"),
        ("Old club", "bye"),  # from left_chats
    ]


def test_chat_miner_samples_match_their_expected_parse(monkeypatch):
    # the samples carry only date_unixtime; chat-miner's expected parse is in UTC
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        single, _ = read(FIXTURES / "test_single_export.json")
        batch, _ = read(FIXTURES / "test_batch_export.json")
    finally:
        monkeypatch.undo()
        time.tzset()
    expected = [
        ("2018-12-05T10:39:10", "Author 1", "Minimal Message"),
        ("2018-12-05T10:49:24", "Author 2", "Link:https://telegram.org/"),
    ]
    assert [(m.time, m.sender, m.text) for m in single] == expected
    assert [(m.time, m.sender, m.text) for m in batch] == expected
    assert batch[0].conversation == "Chatname"


def test_unix_time_uses_the_local_zone(monkeypatch, tmp_path):
    path = tmp_path / "export.json"
    record = {"type": "message", "date_unixtime": "1544006350", "from": "A", "text": "x"}
    path.write_text(json.dumps({"name": "c", "type": "personal_chat", "messages": [record]}))
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    try:
        messages, _ = read(path)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert messages[0].time == "2018-12-05T16:09:10"


def test_truncated_export_names_file_and_line(tmp_path):
    text = (FIXTURES / "result.json").read_text(encoding="utf-8")
    path = tmp_path / "result.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path, fmt="telegram")
    assert caught.value.path == str(path)
    assert caught.value.line == text[: len(text) // 2].count("\n") + 1
    assert "truncated" in caught.value.reason


def test_discord_and_chitchat_files_are_not_taken_for_telegram():
    from model.data.formats import telegram
    from model.data.sources import open_tree

    fixtures = FIXTURES.parent
    for other in ("discord/general.json", "chitchat/chitchat_sample_top_speaker.json"):
        assert not telegram.sniff(open_tree(fixtures / other).entries[0]), other


def test_chat_without_messages_is_still_telegram(tmp_path):
    path = tmp_path / "result.json"
    path.write_text('{"name": "Quiet", "type": "private_group", "id": 5, "messages": []}')
    messages, report = read(path)
    assert messages == [] and report.files == [(str(path), "telegram")]


def test_forwarded_messages_are_marked_and_never_learned_as_a_reply(tmp_path):
    path = tmp_path / "result.json"
    bo = {"type": "message", "date": "2024-01-02T21:00:00", "from": "Bo", "from_id": "user2"}
    nat = {"type": "message", "date": "2024-01-02T21:01:00", "from": "Nat", "from_id": "user1"}
    path.write_text(json.dumps({"name": "Bo", "type": "personal_chat", "id": 3, "messages": [
        {**bo, "id": 1, "text": "seen this?"},
        {**nat, "id": 2, "text": "look"},
        {**nat, "id": 3, "forwarded_from": "News", "text": "Breaking: cats"},
        {**nat, "id": 4, "forwarded_from": None, "photo": "(File not included)", "text": ""},
        {**nat, "id": 5, "text": "wild"},
    ]}))
    messages, report = read(path)
    assert [(m.kind, m.text) for m in messages][2:4] == [("forwarded", "Breaking: cats"), ("forwarded", "<photo>")]
    assert report.by_kind == {"text": 3, "forwarded": 2}
    (pair,) = build_pairs(messages, PairOptions(persona=["Nat"]))
    assert pair["reply"] == "look <brk> wild"  # not another's words, nor a break in Nat's turn


def test_wrongly_typed_fields_are_named_and_exports_without_ids_numbered(tmp_path):
    path = tmp_path / "result.json"
    good = {"type": "message", "date": "2024-01-01T10:00:00", "from": "A", "text": "hi"}
    path.write_text(json.dumps({"name": "c", "type": "personal_chat", "messages": [
        {**good, "id": 1}, "oops", {**good, "id": 3, "from": ["x"]}, {**good, "id": 4, "text": 12345},
    ]}))
    messages, report = read(path)
    assert [m.text for m in messages] == ["hi"]
    assert report.examples == {
        "telegram message that is not a JSON object": [f"{path} (chat #1, message #2)"],
        "telegram message with a wrongly typed 'from' field": [f"{path} (chat #1, message 3)"],
        "telegram message with a wrongly typed 'text' field": [f"{path} (chat #1, message 4)"],
    }


def test_words_under_a_photo_are_text_and_reach_pairs(tmp_path):
    path = tmp_path / "result.json"
    base = {"type": "message", "date": "2024-01-02T21:00:00", "from_id": "user1"}
    path.write_text(json.dumps({"name": "Bo", "type": "personal_chat", "id": 3, "messages": [
        {**base, "id": 1, "from": "Bo", "from_id": "user2", "text": "where are you?"},
        {**base, "id": 2, "from": "Nat", "photo": "photos/a.jpg", "text": "on the beach!"},
        {**base, "id": 3, "from": "Nat", "photo": "photos/b.jpg", "text": ""},
    ]}))
    messages, _ = read(path)
    assert [(m.kind, m.text) for m in messages][1:] == [("text", "on the beach!"), ("media", "<photo>")]
    (pair,) = build_pairs(messages, PairOptions(persona=["Nat"]))
    assert pair["reply"] == "on the beach!"


def test_forum_topics_are_conversations_of_their_own():
    # a message in a topic points at the topic's creation (its id is the topic's) or at
    # the message it answers there; one that points nowhere is in "General"
    messages, _ = read(FIXTURES / "forum.json")
    assert [(m.conversation, m.sender, m.text) for m in messages] == [
        ("Trail Runners / General", "Ana", "create channel: Trail Runners"),
        ("Trail Runners / General", "Ana", "welcome everyone!"),
        ("Trail Runners / Routes 🗺️", "Ana", "topic created: Routes 🗺️"),
        ("Trail Runners / Gear", "Bo", "topic created: Gear"),
        ("Trail Runners / Routes 🗺️", "Bo", "which trail on Sunday?"),
        ("Trail Runners / Gear", "Kai", "anyone tried the new Speedgoats?"),
        ("Trail Runners / Routes 🗺️", "Nat", "the ridge loop, 18 km"),
        ("Trail Runners / Gear", "Nat", "mine gave me blisters"),
        ("Trail Runners / General", "Kai", "parking is free this week"),
        ("Trail Runners / Routes 🗺️", "Bo", "perfect, I'm in"),  # answers 7, which answers 5
        # the export does not say the topic of a message that answers one deleted since,
        # nor of a reply to another chat's message
        ("Trail Runners / topic 11", "Kai", "who deleted that?"),
        ("Trail Runners / topic 13", "Nat", "the club posted this too"),
    ]
    pairs = build_pairs(messages, PairOptions(persona=["Nat"]))
    assert [(p["context"], p["reply"]) for p in pairs] == [
        (["which trail on Sunday?"], "the ridge loop, 18 km"),
        (["anyone tried the new Speedgoats?"], "mine gave me blisters"),
    ]


def test_forum_topics_of_the_same_title_stay_apart(tmp_path):
    path = tmp_path / "result.json"
    base = {"type": "message", "date": "2024-01-02T21:00:00", "from": "A", "from_id": "user1"}
    topic = {"type": "service", "date": "2024-01-02T20:00:00", "actor": "A", "action": "topic_created"}
    path.write_text(json.dumps({"name": "G", "type": "private_supergroup", "id": 7, "messages": [
        {**topic, "id": 2, "title": "Random"}, {**topic, "id": 3, "title": "Random"},
        {**base, "id": 4, "reply_to_message_id": 3, "text": "in the second"},
        {**base, "id": 5, "reply_to_message_id": 2, "text": "in the first"},
    ]}))
    messages, _ = read(path)
    assert [(m.conversation, m.text) for m in messages][2:] == [
        ("G / Random (3)", "in the second"), ("G / Random", "in the first")]
