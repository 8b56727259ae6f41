"""DiscordChatExporter JSON: kinds by message type, stable sender names, times as exported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.data.ingest import ingest
from model.data.report import Report
from model.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_channel_export():
    messages, report = read(FIXTURES / "discord" / "general.json")
    assert [(m.time, m.sender, m.kind, m.text) for m in messages] == [
        ("2023-05-30T18:02:11", "kenji_t", "system", "guild member join"),
        ("2023-05-30T18:03:00", "amelie.r", "text", "salut tout le monde 👋\nqui vient ce soir ?"),
        ("2023-05-30T18:05:42", "kenji_t", "text", "@Amélie moi ! 行きます"),
        ("2023-05-30T18:06:10", "amelie.r", "media", "<attachment: plan.png>"),
        ("2023-05-30T18:07:00", "amelie.r", "system", "Pinned a message."),
        ("2023-05-30T18:08:00", "kenji_t", "media", "<sticker: Wave>"),
        ("2023-05-30T21:00:00", "amelie.r", "system", "call"),
    ]
    assert {m.conversation for m in messages} == {"Café Crème ☕ / général"}
    assert report.skipped == {"discord message without author or content": 1}
    assert "message 1000000000000000007" in report.examples[next(iter(report.skipped))][0]


def test_sender_is_the_username_even_when_a_nickname_exists(tmp_path):
    # one person, a nickname in one server only: both exports must name them the same
    data = json.loads((FIXTURES / "discord" / "general.json").read_text(encoding="utf-8"))
    for record in data["messages"]:
        record["author"]["nickname"] = "Somebody Else"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    messages, _ = read(path)
    assert {m.sender for m in messages} == {"kenji_t", "amelie.r"}


def test_author_without_username_falls_back_to_nickname(tmp_path):
    data = {
        "guild": {"id": "1", "name": "Direct Messages"},
        "channel": {"id": "2", "type": "DirectTextChat", "name": "bo"},
        "messages": [
            {"id": "3", "type": "Default", "timestamp": "2020-01-02T03:04:05+00:00",
             "content": "hey", "author": {"id": "9", "nickname": "Bo"}},
        ],
    }  # fmt: skip
    path = tmp_path / "dm.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    messages, _ = read(path)
    assert [(m.conversation, m.sender, m.time) for m in messages] == [
        ("Direct Messages / bo", "Bo", "2020-01-02T03:04:05")
    ]


def test_object_without_message_list_is_an_input_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"guild": {"name": "g"}, "channel": {"name": "c"}, "messages": 5}')
    with pytest.raises(InputError, match="message list") as caught:
        read(path, fmt="discord")
    assert caught.value.path == str(path)


def channel(tmp_path, *records):
    """A one-channel export of `records` ({"type", "content", ...} over a plain message)."""
    base = {"timestamp": "2023-05-30T18:00:00.1234567+02:00", "content": "",
            "author": {"id": "1", "name": "mee6", "isBot": True},
            "attachments": [], "embeds": [], "stickers": []}  # fmt: skip
    data = {"guild": {"id": "1", "name": "G"}, "channel": {"id": "2", "name": "c"},
            "messages": [{**base, "id": str(n), **r} for n, r in enumerate(records, 1)]}  # fmt: skip
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return read(path)[0]


def test_command_answers_written_as_numbers_are_text(tmp_path):
    # DiscordChatExporter writes types its enum lacks as numbers: 20 and 23 answer commands
    messages = channel(tmp_path, {"type": "20", "content": "your rank is 5"},
                       {"type": "23", "content": "translated: hi"}, {"type": "24", "content": "blocked"})
    assert [(m.kind, m.text) for m in messages] == [
        ("text", "your rank is 5"), ("text", "translated: hi"), ("system", "blocked")]


def test_embed_and_sticker_without_a_name(tmp_path):
    messages = channel(tmp_path, {"type": "Default", "embeds": [{"description": "a card"}]},
                       {"type": "Default", "stickers": [{"id": "9", "name": ""}]})
    assert [(m.kind, m.text) for m in messages] == [("media", "<embed>"), ("media", "<sticker>")]


def test_a_forwarded_message_is_someone_elses_words(tmp_path):
    """DiscordChatExporter writes a forward's words under `forwardedMessage` and leaves
    `content` empty: they are `forwarded` (never learned, and they end a session in pairs),
    not a message without content skipped as if nothing had been said."""
    data = json.loads((FIXTURES / "discord" / "general.json").read_text(encoding="utf-8"))
    template = next(m for m in data["messages"] if m["content"] and m["type"] == "Default")
    data["messages"] = [
        {**template, "id": "1", "content": "",
         "forwardedMessage": {"timestamp": template["timestamp"], "content": "the bus is late",
                              "attachments": []}},
        {**template, "id": "2", "content": "",
         "forwardedMessage": {"content": "", "attachments": [{"fileName": "map.png"}]}},
        {**template, "id": "3", "content": "mine",
         "forwardedMessage": {"content": "theirs", "attachments": []}},
    ]
    path = tmp_path / "channel.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert [(m.kind, m.text) for m in read(path)[0]] == [
        ("forwarded", "the bus is late"), ("forwarded", "<attachment: map.png>"), ("text", "mine")]
