"""X archive: the owner's tweets as threads, both sides of DMs, names from the archive."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model.data.ingest import ingest
from model.data.report import Report
from model.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "xarchive"
ARCHIVE = FIXTURES / "archive"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def by_file(messages):
    return [(m.conversation, m.time, m.sender, m.kind, m.text) for m in messages]


def test_tweets_become_threads_named_by_their_root():
    messages, report = read(ARCHIVE)
    tweets = [m for m in messages if not m.conversation.startswith(("DM", "bike"))]
    assert by_file(tweets) == [
        ("tweets", "2023-02-28T07:30:00", "Inês 🚲", "text", "bom dia ☀️"),
        # a reply to someone else's tweet: the thread is rooted at that tweet; the @name
        # X puts first to address it is not the owner's words
        ("thread 2499", "2023-03-01T20:00:00", "Inês 🚲", "text", "ha, exactly https://t.co/abc123"),
        # a self-thread stored newest first comes out oldest first, entities unescaped
        ("thread 3001", "2023-03-02T09:05:00", "Inês 🚲", "text", "1/ a thread about commuting in Lisboa 🚲"),
        ("thread 3001", "2023-03-02T09:10:00", "Inês 🚲", "text", "2/ bikes & trains > cars"),
        ("thread 3001", "2023-03-02T09:15:00", "Inês 🚲", "text", "and a third one <3"),
    ]  # fmt: skip
    assert report.skipped["retweet (not the owner's words)"] == 1
    # account.js and like.js are part of the archive, but not chats
    assert report.skipped["not a chat export"] == 2


def test_direct_messages_both_sides_with_names():
    messages, _ = read(ARCHIVE)
    dms = [m for m in messages if m.conversation.startswith(("DM", "bike"))]
    assert by_file(dms) == [
        ("DM Inês 🚲 & kofi_a", "2023-03-03T18:00:00", "Inês 🚲", "text", "ride tomorrow?"),
        ("DM Inês 🚲 & kofi_a", "2023-03-03T18:01:00", "kofi_a", "text", "sim! 18h? & bring the map"),
        ("DM Inês 🚲 & kofi_a", "2023-03-03T18:02:00", "Inês 🚲", "media", "<media>"),
        # nobody in the archive reveals who 3000 is: the id stays
        ("DM Inês 🚲 & 3000", "2023-02-01T08:00:00", "3000", "text", "olá"),
        # (direct-messages-group.js, read after direct-messages.js) the owner joining the group: initiatingUserId is who added them
        ("bike gang", "2023-04-01T10:00:00", "Inês 🚲", "system", "joined the conversation, added by kofi_a"),
        ("bike gang", "2023-04-01T10:01:00", "Inês 🚲", "system", "named the conversation bike gang"),
        ("bike gang", "2023-04-01T10:02:00", "kofi_a", "text", "welcome 👋"),
    ]  # fmt: skip


def test_without_account_js_the_owner_is_me(tmp_path):
    shutil.copytree(ARCHIVE, tmp_path / "a")
    (tmp_path / "a" / "data" / "account.js").unlink()
    messages, _ = read(tmp_path / "a", me="Inês")
    assert {m.sender for m in messages if m.conversation == "tweets"} == {"Inês"}
    assert {m.sender for m in messages if m.conversation.startswith("DM")} == {"Inês", "kofi_a", "3000"}


def test_zipped_archive_with_neutral_names(tmp_path):
    root = tmp_path / "export"
    shutil.copytree(ARCHIVE, root)
    for path in (root / "data").iterdir():
        if path.name in ("tweets.js", "direct-messages.js"):
            path.rename(path.with_name(f"part-{len(path.name)}.js"))
    zipped = shutil.make_archive(str(tmp_path / "twitter-2023"), "zip", root)
    messages, report = read(zipped)
    assert len(messages) == 12
    assert {fmt for _, fmt in report.files} == {"x-archive"}


def write_ytd(path, name, items):
    path.write_text(f"window.YTD.{name} = {json.dumps(items)}", encoding="utf-8")


def tweet(tweet_id: str, when: str, text: str, parent: str | None = None,
          parent_author: str = "") -> dict:
    """A tweets.js item; `when` as X writes it, without the zone and year (UTC, 2023)."""
    record = {"id_str": tweet_id, "full_text": text, "created_at": f"{when} +0000 2023"}
    if parent:
        record |= {"in_reply_to_status_id_str": parent, "in_reply_to_screen_name": parent_author}
    return {"tweet": record}


def test_tweets_split_over_parts_keep_their_threads_whole(tmp_path):
    write_ytd(tmp_path / "tweets.js", "tweets.part0",
              [tweet("11", "Thu Mar 02 09:05:00", "1/ root"),
               tweet("13", "Thu Mar 02 09:15:00", "@ines_dev 3/ end", "12", "ines_dev")])
    write_ytd(tmp_path / "tweets-part1.js", "tweets.part1",
              [tweet("12", "Thu Mar 02 09:10:00", "2/ middle", "11", "ines_dev"),
               tweet("20", "Thu Mar 02 09:20:00", "on its own")])
    messages, _ = read(tmp_path, me="Inês")
    assert [(m.conversation, m.text) for m in messages] == [
        ("thread 11", "1/ root"), ("thread 11", "2/ middle"), ("thread 11", "3/ end"),
        ("tweets", "on its own"),
    ]  # fmt: skip


def test_who_left_a_group_dm(tmp_path):
    leave = {"participantsLeave": {"userIds": ["2000"], "createdAt": "2023-04-01T10:05:00.000Z"}}
    write_ytd(tmp_path / "direct-messages-group.js", "direct_messages_group.part0",
              [{"dmConversation": {"conversationId": "999", "messages": [leave]}}])
    messages, _ = read(tmp_path)
    assert [(m.sender, m.text, m.kind) for m in messages] == [("2000", "left the conversation", "system")]


def test_real_sample_tweets():
    messages, report = read(FIXTURES / "sample" / "tweets.js", me="exGenesis")
    assert len(messages) == 7 and {m.sender for m in messages} == {"exGenesis"}
    times = [m.time for m in messages]
    assert times == sorted(times) and times[0] == "2023-02-18T00:48:56"
    thread = [m.text[:20] for m in messages if m.conversation == "thread 1626699961042698240"]
    assert thread == ["into the thick of it", "Another lesson is: t"]
    # replies to others start with the @names X added, not with what the owner wrote
    assert "did NOT know but now I'm listening to her solo act bc of u" in [m.text for m in messages]
    assert not any(m.text.startswith("@") for m in messages)
    assert not report.skipped


def test_truncated_file_names_file_and_line(tmp_path):
    text = (ARCHIVE / "data" / "tweets.js").read_text(encoding="utf-8")
    path = tmp_path / "tweets.js"
    path.write_text(text[:300], encoding="utf-8")
    with pytest.raises(InputError, match="truncated") as caught:
        read(path)
    assert caught.value.path == str(path)
    assert caught.value.line == text[:300].count("\n") + 1


def test_long_tweets_get_their_whole_text_from_note_tweet_js(tmp_path):
    """tweets.js keeps a long tweet's start, "…" and a t.co link; note-tweet.js keeps its
    whole text with no tweet id: the note created in the same second whose text starts
    with the kept start is the tweet's."""
    data = tmp_path / "archive" / "data"
    data.mkdir(parents=True)
    long_text = "Cycling to work in Lisboa, a long story & its hills: " + "up, down, " * 30 + "home."
    reply_text = "A long answer about trains: " + "the 7:40 is late again, " * 12 + "so I ride."
    # a link in the kept start is X's t.co link there, and the link as written in the note
    linked_text = "The map is at https://example.org/bike-lanes, " + "read it, " * 30 + "then ride."

    def note(note_id, second, text):
        return {"noteTweet": {"noteTweetId": note_id, "core": {"text": text, "urls": [], "mentions": []},
                              "createdAt": f"2023-03-05T10:00:{second:02d}.000Z",
                              "updatedAt": f"2023-03-05T10:00:{second:02d}.000Z"}}

    truncated = long_text[:270].replace("&", "&amp;") + "… https://t.co/AbC123"
    write_ytd(data / "tweets.js", "tweets.part0", [
        tweet("1", "Sun Mar 05 10:00:00", truncated),
        tweet("2", "Sun Mar 05 10:00:01", "@kofi_a " + reply_text[:260] + "… https://t.co/XyZ789",
              "900", "kofi_a"),
        tweet("3", "Sun Mar 05 10:00:02", "short, with a link https://t.co/Q1w2E3"),  # kept
        tweet("4", "Sun Mar 05 10:00:03", "not the start of the note made then https://t.co/R4t5Y6"),
        tweet("5", "Sun Mar 05 10:00:04",
              "The map is at https://t.co/MaP456, " + "read it, " * 25 + "… https://t.co/MoR789"),
    ])  # fmt: skip
    write_ytd(data / "note-tweet.js", "note_tweet.part0", [
        note("71", 0, long_text), note("72", 1, "@kofi_a " + reply_text),
        note("73", 3, "another long text " * 20), note("74", 4, linked_text),
    ])  # fmt: skip
    write_ytd(data / "account.js", "account.part0",
              [{"account": {"accountId": "1000", "accountDisplayName": "Inês"}}])
    messages, _ = read(tmp_path / "archive")
    assert [(m.conversation, m.time, m.text) for m in messages] == [
        ("tweets", "2023-03-05T10:00:00", long_text),
        ("thread 900", "2023-03-05T10:00:01", reply_text),
        ("tweets", "2023-03-05T10:00:02", "short, with a link https://t.co/Q1w2E3"),
        ("tweets", "2023-03-05T10:00:03", "not the start of the note made then https://t.co/R4t5Y6"),
        ("tweets", "2023-03-05T10:00:04", linked_text),
    ]  # fmt: skip
    assert {m.sender for m in messages} == {"Inês"}
