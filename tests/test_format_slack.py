"""Slack workspace export as a folder or zip: names, markup, subtypes, local times."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from model.data.formats.slack import unformat
from model.data.ingest import ingest
from model.data.pairs import PairOptions, build_pairs
from model.data.report import Report
from model.errors import InputError

WORKSPACE = Path(__file__).parent / "fixtures" / "slack" / "workspace"
THREADS = WORKSPACE.parent / "threads"  # #dev: a thread spanning two day files
PR_THREAD = "#dev / thread 1614592800.000100"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


THREAD = "#general / thread 1577872860.000200"  # Bo's reply to Ana, with her message
EXPECTED = [
    ("DM Ana, Bo Chen", "2020-01-03T09:59:00", "Bo Chen", "text", "call at 3?"),
    ("DM Ana, Bo Chen", "2020-01-03T10:00:00", "Ana", "text", "tá bom"),
    ("#general", "2020-01-01T10:00:00", "Bo Chen", "system", "@Bo Chen has joined the channel"),
    ("#general", "2020-01-01T10:01:00", "Ana", "text", "hi @Bo Chen! see the plan & #random <3"),
    ("#general", "2020-01-01T10:03:00", "Ana", "system", "@Ana set the channel topic: planning 2020"),
    ("#general", "2020-01-01T10:04:00", "deploybot", "text", "Deployed https://ci.example.org/1 to prod"),
    ("#general", "2020-01-01T10:05:00", "Ana", "media", "<file: roadmap.pdf>"),
    ("#general", "2020-01-02T10:00:00", "chidi", "text", "こんにちは chidi@example.org"),
    ("#general", "2020-01-02T10:02:00", "Ana", "media", "<file: foto.jpg>"),
    (THREAD, "2020-01-01T10:01:00", "Ana", "text", "hi @Bo Chen! see the plan & #random <3"),
    (THREAD, "2020-01-01T10:02:00", "Bo Chen", "text", "obrigado! @here 🎉\nsecond line"),
    ("group DM Ana, Bo Chen, chidi", "2020-01-04T10:00:00", "chidi", "text", "@design review pls"),
    ("#random", "2020-01-01T12:00:00", "Bo Chen", "text", "lunch? @ghost"),
]  # fmt: skip


def rows(messages):
    return [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages]


def test_folder_export(utc):
    messages, report = read(WORKSPACE)
    assert rows(messages) == EXPECTED
    assert report.files == [(str(WORKSPACE), "slack")]
    assert report.skipped == {"not a Slack conversation file": 1, "slack message_deleted event": 1}


def test_zip_with_a_top_folder_is_the_same(utc, tmp_path):
    shutil.copytree(WORKSPACE, tmp_path / "Acme Slack export Jan 1 2020")
    zipped = shutil.make_archive(
        str(tmp_path / "export"), "zip", tmp_path, "Acme Slack export Jan 1 2020"
    )
    messages, _ = read(zipped)
    assert rows(messages) == EXPECTED


def test_times_are_local(monkeypatch):
    monkeypatch.setenv("TZ", "BRT+3")
    time.tzset()
    try:
        messages, _ = read(WORKSPACE)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert messages[0].time == "2020-01-03T06:59:00"


def test_unformat_markup():
    names = {"U1": "Ana"}
    assert unformat("<@U1> <@U2|bo> <@U3>", names) == "@Ana @bo @U3"
    assert unformat("<#C1|dev> <#C2>", names) == "#dev #C2"
    assert unformat("<!channel> <!date^1|Jan 1>", names) == "@channel Jan 1"
    assert unformat("<https://x.org/a?b=1&amp;c=2>", names) == "https://x.org/a?b=1&c=2"
    assert unformat("a &amp;lt; b", names) == "a &lt; b"  # one level of escaping only


def test_single_day_file_forced_as_slack_is_a_clear_error():
    with pytest.raises(InputError, match="users.json") as caught:
        read(WORKSPACE / "random" / "2020-01-01.json", fmt="slack")
    assert caught.value.path == str(WORKSPACE / "random" / "2020-01-01.json")


def test_damaged_records_are_skipped_with_reasons(utc, tmp_path):
    shutil.copytree(WORKSPACE, tmp_path / "w")
    day = tmp_path / "w" / "random" / "2020-01-05.json"
    day.write_text(
        '[{"type": "message", "ts": "soon", "user": "U01ANA", "text": "a"},'
        ' {"type": "message", "ts": "nan", "user": "U01ANA", "text": "b"},'
        ' {"type": "message", "ts": "1578218400.0001", "user": "U01ANA", "text": ""},'
        ' {"type": "message", "ts": "1578218460.0001", "user": "U01ANA", "text": "ok"}]'
    )
    messages, report = read(tmp_path / "w")
    assert rows(messages)[-1] == ("#random", "2020-01-05T10:01:00", "Ana", "text", "ok")
    assert report.skipped["slack message without a valid ts"] == 2
    assert report.skipped["slack message without text or sender"] == 1


def test_export_beside_other_chats_in_one_folder(utc, tmp_path):
    shutil.copytree(WORKSPACE, tmp_path / "exports" / "slack")
    telegram = Path(__file__).parent / "fixtures" / "telegram" / "result.json"
    shutil.copy(telegram, tmp_path / "exports" / "result.json")
    messages, report = read(tmp_path / "exports")
    assert rows([m for m in messages if m.source == "slack"]) == EXPECTED
    assert len([m for m in messages if m.source == "telegram"]) == 7
    assert [fmt for _, fmt in report.files] == ["slack", "telegram"]
    assert report.skipped["not a Slack conversation file"] == 1  # integration_logs.json


def with_day(tmp_path, *records):
    """The fixture workspace with one more day of `records` in #random; its messages."""
    shutil.copytree(WORKSPACE, tmp_path / "w")
    (tmp_path / "w" / "random" / "2020-01-05.json").write_text(json.dumps(list(records)))
    messages, _ = read(tmp_path / "w")
    return [(m.sender, m.kind, m.text) for m in messages if m.time.startswith("2020-01-05")]


def test_notices_of_any_subtype_are_system(utc, tmp_path):
    assert with_day(tmp_path,
        {"subtype": "bot_add", "ts": "1578218400.1", "user": "U01ANA",
         "text": "added an integration to this channel: <https://a.slack.com/services/B1|github>"},
        {"subtype": "reminder_add", "ts": "1578218401.1", "user": "U01ANA", "text": "set up a reminder"},
        {"subtype": "me_message", "ts": "1578218402.1", "user": "U01ANA", "text": "waves"},
    ) == [("Ana", "system", "added an integration to this channel: github"),
          ("Ana", "system", "set up a reminder"), ("Ana", "text", "waves")]  # fmt: skip


def test_words_posted_with_a_file_are_text(utc, tmp_path):
    assert with_day(tmp_path,
        {"subtype": "file_share", "ts": "1578218400.1", "user": "U01ANA", "text": "the plan, finally",
         "files": [{"id": "F9", "name": "plan.pdf"}]},
        {"ts": "1578218401.1", "user": "U01ANA", "text": "", "files": [{"id": "F8", "name": "a.png"}]},
    ) == [("Ana", "text", "the plan, finally"), ("Ana", "media", "<file: a.png>")]  # fmt: skip


def test_people_of_a_shared_channel_are_named_by_their_profile(utc, tmp_path):
    # Slack Connect: users of another workspace are in no users.json, only in user_profile
    assert with_day(tmp_path,
        {"ts": "1578218400.1", "user": "UEXT1", "text": "hi <@U01ANA>, <@UEXT2> joins too",
         "user_profile": {"display_name": "", "real_name": "Eve Ext", "name": "eve"}},
        {"ts": "1578218401.1", "user": "UEXT2", "text": "hello",
         "user_profile": {"display_name": "zed", "real_name": "Zed Ext", "name": "zed.x"}},
    ) == [("Eve Ext", "text", "hi @Ana, @zed joins too"), ("zed", "text", "hello")]  # fmt: skip


def test_a_thread_is_its_own_conversation_across_day_files(utc):
    messages, report = read(THREADS)
    question = (PR_THREAD, "2021-03-01T10:00:00", "Ana", "text", "who can review the parser PR?")
    assert rows(messages) == [
        ("#dev", *question[1:]),  # the parent stays in the channel's flow
        ("#dev", "2021-03-01T10:01:00", "Cy", "text", "lunch at 12?"),
        ("#dev", "2021-03-01T10:03:00", "Ana", "text", "12 works"),  # a thread without replies
        ("#dev", "2021-03-02T10:00:00", "Bo", "text", "approved, two nits"),  # also sent to #dev
        ("#dev", "2021-03-02T10:02:00", "Cy", "text", "morning all"),
        question,
        (PR_THREAD, "2021-03-01T10:02:00", "Bo", "text", "I can, after standup"),
        (PR_THREAD, "2021-03-02T10:00:00", "Bo", "text", "approved, two nits"),
        (PR_THREAD, "2021-03-02T10:01:00", "Ana", "text", "thanks!"),
    ]
    assert not report.skipped


def test_a_reply_learns_from_the_message_it_answers(utc):
    messages, _ = read(THREADS)
    pairs = build_pairs(messages, PairOptions(persona=["Bo"], session_gap_hours=48))
    assert [(p["context"][-1], p["reply"]) for p in pairs] == [
        ("12 works", "approved, two nits"),  # the broadcast, as #dev shows it
        ("who can review the parser PR?", "I can, after standup <brk> approved, two nits"),
    ]


def test_emoji_codes_are_the_emoji_people_saw(utc, tmp_path):
    # names as Slack writes them (emoji-datasource's, skin tone as a second code);
    # a workspace's custom emoji has no character and stays as written
    assert with_day(tmp_path,
        {"ts": "1578218400.1", "user": "U01ANA", "text": ":joy: :+1::skin-tone-3: :simple_smile:"},
        {"ts": "1578218401.1", "user": "U01ANA",
         "text": ":man-shrugging::skin-tone-5: :flag-br: :first_place_medal: :partyparrot:"},
    ) == [("Ana", "text", "😂 👍🏼 🙂"),
          ("Ana", "text", "🤷🏾\u200d♂️ 🇧🇷 🥇 :partyparrot:")]  # fmt: skip


def test_emoji_codes_in_code_and_links_stay_as_typed(utc, tmp_path):
    text = "run `echo :joy:` then\n```\nx = {':tada:': 1}\n``` <https://x.org/a:b:c> :tada:"
    assert with_day(tmp_path, {"ts": "1578218400.1", "user": "U01ANA", "text": text}) == [
        ("Ana", "text", "run `echo :joy:` then\n```\nx = {':tada:': 1}\n``` https://x.org/a:b:c 🎉")
    ]
