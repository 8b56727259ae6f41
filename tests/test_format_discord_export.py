"""DiscordChatExporter's HTML, TXT and CSV exports read as its JSON is."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.data.formats.discord_export import IMPOSSIBLE, MISSING, RULE, UNREADABLE
from model.data.ingest import ingest
from model.data.report import Report

CHANNEL = Path(__file__).parent / "fixtures" / "discord_export"
STEM = "Night Owls - Text Channels - general [859000000000000002]"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def rows(messages):
    return [(m.source, m.conversation, m.time, m.sender, m.kind, m.text) for m in messages]


@pytest.mark.parametrize("suffix", [".html", ".txt", ".csv"])
def test_same_channel_as_the_json_export(suffix):
    # one channel exported four ways: HTML in en-US (U+202F before PM, grouped messages
    # with only their time, a group running past midnight), TXT in en-GB, CSV with ISO dates
    expected = rows(read(CHANNEL / f"{STEM}.json")[0])
    messages, report = read(CHANNEL / f"{STEM}{suffix}")
    assert report.files == [(str(CHANNEL / f"{STEM}{suffix}"), "discord-export")]
    if suffix == ".txt":  # a TXT names neither the sticker nor the embed's title
        expected = [row[:5] + ({"<sticker: Wave>": "<sticker>", "<embed: Weather in Lyon>": "<embed>"}
                               .get(row[5], row[5]),) for row in expected]
    if suffix == ".csv":  # a CSV has no stickers or embeds: those messages are empty
        expected = [row for row in expected if row[5] not in ("<sticker: Wave>", "<embed: Weather in Lyon>")]
        assert report.skipped == {MISSING: 2}
    assert rows(messages) == expected


def test_partitioned_export_is_one_conversation(tmp_path):
    lines = (CHANNEL / f"{STEM}.txt").read_text(encoding="utf-8").split("\n")
    preamble, cut = lines[:5], lines.index("[30/05/2023 23:58] OldTimer#0042")
    postamble = [RULE, "Exported 7 message(s)", RULE, ""]
    (tmp_path / f"{STEM}.txt").write_text("\n".join(lines[:cut] + postamble), encoding="utf-8")
    (tmp_path / f"{STEM} [part 2].txt").write_text("\n".join(preamble + lines[cut:]), encoding="utf-8")
    csv = (CHANNEL / f"{STEM}.csv").read_text(encoding="utf-8").split("\n")
    (tmp_path / f"{STEM}.csv").write_text("\n".join(csv[:5]) + "\n", encoding="utf-8")
    (tmp_path / f"{STEM} [part 2].csv").write_text("\n".join(csv[:1] + csv[5:]), encoding="utf-8")
    for suffix in (".txt", ".csv"):
        parts = read(tmp_path / f"{STEM}{suffix}")[0] + read(tmp_path / f"{STEM} [part 2]{suffix}")[0]
        assert rows(parts) == rows(read(CHANNEL / f"{STEM}{suffix}")[0])
        assert {m.conversation for m in parts} == {"Night Owls / general"}
        # given as a folder, the first part is read first (plain sorting put "[part 2]"
        # before it: a space sorts before the dot)
        folder = tmp_path / suffix.strip(".")
        folder.mkdir()
        for part in ("", " [part 2]"):
            (tmp_path / f"{STEM}{part}{suffix}").rename(folder / f"{STEM}{part}{suffix}")
        assert rows(read(folder)[0]) == rows(parts)


def text_export(tmp_path, *messages, channel="Text Channels / general"):
    """A TXT export of ("stamp", "author", "content lines…") messages."""
    lines = [RULE, "Guild: Night Owls", f"Channel: {channel}", RULE, ""]
    for stamp, author, *content in messages:
        lines += [f"[{stamp}] {author}", *content, "", ""]
    path = tmp_path / "export.txt"
    path.write_text("\n".join(lines + [RULE, f"Exported {len(messages)} message(s)", RULE, ""]),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("first, second", [
    ("30.05.2023 18:02", "31.05.2023 09:15"),  # de-DE, ru-RU
    ("2023/05/30 18:02", "2023/05/31 9:15"),  # ja-JP
    ("2023. 5. 30. 오후 6:02", "2023. 5. 31. 오전 9:15"),  # ko-KR
    ("5/30/2023 6:02\u202fPM", "5/31/2023 9:15\u202fAM"),  # en-US on ICU
    ("05/30/2023 6:02 PM", "05/31/2023 9:15 AM"),  # 2.36-2.40 default "MM/dd/yyyy h:mm tt"
    ("30-May-23 06:02 PM", "31-May-23 09:15 AM"),  # before 2.36: "dd-MMM-yy hh:mm tt"
])
def test_dates_of_every_locale_and_version(tmp_path, first, second):
    path = text_export(tmp_path, (first, "kenji_t", "hi"), (second, "amelie.r", "morning"))
    assert [m.time for m in read(path)[0]] == ["2023-05-30T18:02:00", "2023-05-31T09:15:00"]


def test_a_month_name_settles_the_order_without_a_warning(tmp_path, caplog):
    # "dd-MMM-yy" (before 2.41), one day under 13: the month's name says which is which
    path = text_export(tmp_path, ("05-Dec-19 03:27 PM", "kenji_t", "a"),
                       ("05-Dec-19 04:36 PM", "amelie.r", "b"))
    with caplog.at_level("INFO"):
        times = [m.time for m in read(path)[0]]
    assert times == ["2019-12-05T15:27:00", "2019-12-05T16:36:00"]
    assert "day/month order" not in caplog.text


def test_day_and_month_order_read_from_the_file(tmp_path):
    # no field above 12: the order under which the dates follow each other wins
    path = text_export(tmp_path, ("01/05/2023 18:02", "kenji_t", "a"),
                       ("02/05/2023 09:00", "kenji_t", "b"), ("03/05/2023 10:00", "kenji_t", "c"))
    assert [m.time[:10] for m in read(path)[0]] == ["2023-05-01", "2023-05-02", "2023-05-03"]


def test_unreadable_and_impossible_dates_are_reported_by_line(tmp_path):
    # --dateformat unix (before 2.41) writes seconds since 1970: no date layout reads them
    path = text_export(tmp_path, ("1685462520", "kenji_t", "hi"), ("1685462580", "kenji_t", "yo"))
    messages, report = read(path)
    assert messages == [] and report.skipped == {UNREADABLE: 2}
    assert report.examples[UNREADABLE] == [f"{path}:6", f"{path}:10"]
    path = text_export(tmp_path, ("30.05.2023 18:02", "kenji_t", "hi"), ("31.02.2023 18:03", "kenji_t", "no"))
    messages, report = read(path)
    assert [m.text for m in messages] == ["hi"] and report.skipped == {IMPOSSIBLE: 1}


def test_text_content_that_looks_like_a_header_stays_content(tmp_path):
    path = text_export(tmp_path, ("30.05.2023 18:02", "kenji_t", "list:", "", "[1] eggs", "[2] milk"),
                       ("30.05.2023 18:03", "amelie.r (pinned)", "ok"))
    assert [(m.sender, m.text) for m in read(path)[0]] == [
        ("kenji_t", "list:\n\n[1] eggs\n[2] milk"), ("amelie.r", "ok")]


def test_forwarded_message_is_not_the_senders_words(tmp_path):
    path = text_export(tmp_path, ("30.05.2023 18:02", "kenji_t", "", "", "{Forwarded Message}",
                                  "the bus is late", "Originally sent: 30.05.2023 17:50"))
    assert [(m.kind, m.text) for m in read(path)[0]] == [("forwarded", "the bus is late")]


def test_thread_name_comes_from_the_html_title(tmp_path):
    html = (CHANNEL / f"{STEM}.html").read_text(encoding="utf-8")
    html = html.replace("<title>Night Owls - general</title>", "<title>Night Owls - plans / ideas</title>")
    html = html.replace("Text Channels / general</div>", "Text Channels / general / plans / ideas</div>")
    path = tmp_path / "thread.html"
    path.write_text(html, encoding="utf-8")
    assert {m.conversation for m in read(path)[0]} == {"Night Owls / plans / ideas"}


def test_csv_of_a_version_before_iso_dates_and_a_file_name_of_its_own(tmp_path):
    path = tmp_path / "bo.csv"
    path.write_text('AuthorID,Author,Date,Content,Attachments,Reactions\n'
                    '"42","kenji_t#1234","30-May-23 06:02 PM","see ""you""","",""\n', encoding="utf-8")
    assert rows(read(path)[0]) == [
        ("discord", "bo", "2023-05-30T18:02:00", "kenji_t", "text", 'see "you"')]



def test_one_channel_exported_in_every_format_is_never_one_interleaved_conversation():
    """The folder holds the same channel as JSON, HTML, TXT and CSV: four conversations,
    each no longer than the channel, not one saying everything up to four times."""
    messages, _ = read(CHANNEL)
    channel = len(read(CHANNEL / f"{STEM}.json")[0])
    sizes = {}
    for message in messages:
        sizes[message.conversation] = sizes.get(message.conversation, 0) + 1
    assert sorted(sizes) == ["Night Owls / general"] + [f"Night Owls / general ({n})"
                                                        for n in (2, 3, 4)]
    assert max(sizes.values()) <= channel


OLD = Path(__file__).parent / "fixtures" / "discord_export_old"


def test_html_of_versions_before_2_34():
    # 2.17-2.33: a group's author and date once, then a chatlog__message per message,
    # its own date in its title since 2.28 ("Message sent: …"); replies, reactions,
    # "(edited)" and the BOT tag are no words of the message
    assert rows(read(OLD / "general (2.33).html")[0]) == [
        ("discord", "Night Owls / general", "2023-05-30T23:58:00", "kenji_t", "text", "anyone up?\nit's late"),
        ("discord", "Night Owls / general", "2023-05-31T00:01:00", "kenji_t", "media", "<attachment: moon.png>"),
        ("discord", "Night Owls / general", "2023-05-31T00:03:00", "amelie.r", "text", "me 🦉"),
        ("discord", "Night Owls / general", "2023-05-31T00:05:00", "WeatherBot", "media", "<embed: Weather in Lyon>"),
    ]
    # before 2.17 the header is "info__…", and before 2.28 a message has only its group's date
    assert rows(read(OLD / "general (2.16).html")[0]) == [
        ("discord", "Night Owls / general", "2019-12-05T04:27:00", "kenji_t", "text", "anyone up?"),
        ("discord", "Night Owls / general", "2019-12-05T04:27:00", "kenji_t", "text", "it's late"),
        ("discord", "Night Owls / general", "2019-12-05T10:26:00", "amelie.r", "media", "<attachment: moon.png>"),
    ]


def test_csv_of_versions_before_2_17_is_semicolon_separated(tmp_path):
    # DiscordChatExporter wrote ";" between fields, and after the last, until 2.17
    path = tmp_path / "Night Owls - general [859000000000000002].csv"
    path.write_text('AuthorID;Author;Date;Content;Attachments;Reactions;\n'
                    '"42";"kenji_t#1234";"05-Dec-19 03:27 PM";"Hi,\nsee ""you"", ok";"";"";\n'
                    '"43";"amelie.r#0042";"05-Dec-19 04:36 PM";"";'
                    '"https://cdn.discordapp.com/attachments/4/5/animation.gif.mp4";"";\n', encoding="utf-8")
    assert rows(read(path)[0]) == [
        ("discord", "Night Owls / general", "2019-12-05T15:27:00", "kenji_t", "text", 'Hi,\nsee "you", ok'),
        ("discord", "Night Owls / general", "2019-12-05T16:36:00", "amelie.r", "media",
         "<attachment: animation.gif.mp4>")]
