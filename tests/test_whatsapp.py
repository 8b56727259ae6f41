"""WhatsApp export parser: header layouts of many locales, kinds, day/month order, files."""

from __future__ import annotations

import json
import logging
import re

import pytest

from model.data.formats import whatsapp, whatsapp_dates
from model.data.ingest import ingest
from model.data.pairs import PairOptions, build_pairs
from model.data.report import Report
from model.data.sources import open_tree
from model.errors import InputError
from tests.conftest import FIXTURES

HERE = FIXTURES / "whatsapp"
UPSTREAM = HERE / "upstream"
VECTORS = json.loads((UPSTREAM / "test_vectors.json").read_text(encoding="utf-8"))


def parse(tmp_path, text: str, name: str = "chat.txt", fmt: str = "whatsapp", report=None):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return list(ingest([str(path)], fmt, report))


def parse_file(path, report=None):
    return list(ingest([str(path)], "auto", report))


def triples(messages):
    return [(m.time, m.sender, m.text) for m in messages]


# --- header layouts --------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["header_formats"], ids=lambda v: v["id"])
def test_upstream_header_formats(tmp_path, vector):
    (message,) = parse(tmp_path, vector["line"] + "\n")
    shows_seconds = re.search(r"\d[:.]\d\d[:.]\d\d", vector["line"]) is not None
    expected = vector["expected_datetime"][: 19 if shows_seconds else 16]
    assert (message.time, message.sender, message.text) == (
        expected,
        vector["author"],
        vector["message"],
    )
    assert message.kind == "text"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3/27/22, 9:41 PM - ", "2022-03-27T21:41"),
        ("3/27/22, 9:41\u202fPM - ", "2022-03-27T21:41"),  # narrow no-break space
        ("3/27/22, 12:05\u00a0a.m. - ", "2022-03-27T00:05"),
        ("27/3/22, 12:05 p. m. - ", "2022-03-27T12:05"),
        ("27.03.22, 9:41 nachm. - ", "2022-03-27T21:41"),
        ("27.03.22, 9:41 vorm. - ", "2022-03-27T09:41"),
        ("27.3.2022 9:41 odp. - ", "2022-03-27T21:41"),  # Czech
        ("27/03/2022, 9:41 PTG - ", "2022-03-27T21:41"),  # Malay
        ("27/03/2022, 9:41 PG - ", "2022-03-27T09:41"),
        ("2022-03-27 9:41 em - ", "2022-03-27T21:41"),  # Swedish
        ("2022. 3. 27. 오후 9:41 - ", "2022-03-27T21:41"),  # Korean
        ("[2022. 3. 27. 오전 9:41:05] ", "2022-03-27T09:41:05"),
        ("2022/3/27 下午9:41 - ", "2022-03-27T21:41"),  # Chinese
        ("[R4/03/27 21:41:35] ", "2022-03-27T21:41:35"),  # Japanese era
        ("[令和4/03/27 21:41:35] ", "2022-03-27T21:41:35"),
        ("[H30/06/13 9:41:35] ", "2018-06-13T09:41:35"),
        ("[R4/3/18 14:56:01] ", "2022-03-18T14:56:01"),
        ("令和4/03/18 14:56 - ", "2022-03-18T14:56"),
        ("[3/18/R4, 14:56:01] ", "2022-03-18T14:56:01"),  # the era on a year written last
        ("[令和元/05/01 0:01:00] ", "2019-05-01T00:01:00"),  # 元: an era's first year
        ("R元/5/1 0:01 - ", "2019-05-01T00:01"),
        ("平成31年4月30日 23:59 - ", "2019-04-30T23:59"),
        ("[S64/1/7 10:00:00] ", "1989-01-07T10:00:00"),
        ("昭和20/8/15 12:00 - ", "1945-08-15T12:00"),
        ("大正15/12/24 12:00 - ", "1926-12-24T12:00"),
        ("[T1/7/30 9:00:00] ", "1912-07-30T09:00:00"),
        ("明治45/7/29 12:00 - ", "1912-07-29T12:00"),
        ("[M45/7/29 12:00:00] ", "1912-07-29T12:00:00"),
        ("27-03-2022 21:41 - ", "2022-03-27T21:41"),
        ("2022-03-27, 21:41 - ", "2022-03-27T21:41"),
        ("27.3.2022 klo 21.41 - ", "2022-03-27T21:41"),  # Finnish
        ("27. 3. 2022. 21:41 - ", "2022-03-27T21:41"),  # Croatian
        ("\u200e[27/03/2022, 21:41:35] ", "2022-03-27T21:41:35"),
        ("[21:41:35, 3/27/22] ", "2022-03-27T21:41:35"),  # time first (Vietnamese)
        ("21:41, 27/3/2022 - ", "2022-03-27T21:41"),
        ("٢٧\u200f/٣\u200f/٢٠٢٢، ٩:٤١ م - ", "2022-03-27T21:41"),  # Arabic-Indic digits
        ("۲۷/۳/۲۰۲۲، ۹:۴۱ ب.ظ. - ", "2022-03-27T21:41"),  # Persian digits
        ("[۱۴۰۱/۱/۷، ۲۱:۴۱:۳۵] ", "2022-03-27T21:41:35"),  # Solar Hijri year
        ("1399/12/30, 21:41 - ", "2021-03-20T21:41"),  # its leap day
        ("27/3/2565 21:41 - ", "2022-03-27T21:41"),  # Thai Buddhist year
        ("27/3/2565 9:41 หลังเที่ยง - ", "2022-03-27T21:41"),
        ("27/3/65 21:41 - ", "2022-03-27T21:41"),  # short Buddhist year
        ("[3/18/2565 BE, 14:56:01] ", "2022-03-18T14:56:01"),  # the era named
        ("[3/18/2565\u202fBE, 2:56:01\u202fPM] ", "2022-03-18T14:56:01"),
        ("18/3/2565 พ.ศ. 14:56 - ", "2022-03-18T14:56"),
        ("\u200f27/3/2022 \u200f9:41 \u200fم - ", "2022-03-27T21:41"),  # marks anywhere
    ],
)
def test_header_layouts_of_many_locales(tmp_path, header, expected):
    text = f"{header}Ana: first\n{header}Bo: second\nand more\n"
    messages = parse(tmp_path, text, fmt="auto")  # sniffed as WhatsApp too
    assert triples(messages) == [
        (expected, "Ana", "first"),
        (expected, "Bo", "second\nand more"),
    ]


def test_an_export_across_two_eras_keeps_every_header(tmp_path):
    # The first headers say Heisei; Reiwa began on 1 May 2019 (令和元年).
    text = (
        "平成31/04/30 23:59 - Ana: 平成最後の日\n"
        "令和元/05/01 0:00 - Bo: 令和になった\n"
        "令和2/01/01 0:00 - Ana: あけおめ\n"
    )
    assert triples(parse(tmp_path, text)) == [
        ("2019-04-30T23:59", "Ana", "平成最後の日"),
        ("2019-05-01T00:00", "Bo", "令和になった"),
        ("2020-01-01T00:00", "Ana", "あけおめ"),
    ]


def test_am_pm_words_of_an_unknown_locale_are_learned_from_the_day(tmp_path, caplog):
    # Albanian words are not in the table: within a day the morning word comes first.
    text = (
        "27.3.22, 9:41 e paradites - Ana: mirëmëngjes\n"
        "27.3.22, 1:05 e pasdites - Bo: përshëndetje\n"
        "28.3.22, 12:10 e paradites - Ana: sot?\n"
        "28.3.22, 11:30 e paradites - Bo: po\n"
        "28.3.22, 2:30 e pasdites - Ana: mirë\n"
    )
    with caplog.at_level(logging.WARNING):
        messages = parse(tmp_path, text, fmt="auto")
    assert triples(messages) == [
        ("2022-03-27T09:41", "Ana", "mirëmëngjes"),
        ("2022-03-27T13:05", "Bo", "përshëndetje"),
        ("2022-03-28T00:10", "Ana", "sot?"),
        ("2022-03-28T11:30", "Bo", "po"),
        ("2022-03-28T14:30", "Ana", "mirë"),
    ]
    assert "AM from PM" not in caplog.text


def test_unknown_am_pm_words_without_evidence_are_read_as_written(tmp_path, caplog):
    text = "27.3.22, 9:41 e paradites - Ana: a\n28.3.22, 1:05 e pasdites - Bo: b\n"
    with caplog.at_level(logging.WARNING):
        messages = parse(tmp_path, text)
    assert [m.time for m in messages] == ["2022-03-27T09:41", "2022-03-28T01:05"]
    assert [m.sender for m in messages] == ["Ana", "Bo"]
    assert "cannot tell AM from PM" in caplog.text


# --- months written as names (old Android exports) -------------------------------------
# Shapes of the public exports in github.com/starkdmi/whats_json, test/data/chats_unique:
# "TanayGahlot HowDataAffectDecision NITG.txt" (time first; the year written for earlier
# years only: "15:34, 30 Dec 2013" then "00:01, 1 Jan" for the New Year's wishes),
# "girish95k FaceMatch wa.txt" ("Mar 5, 8:11 PM", no year) and "swarbrickjones
# Horde_Analysis mike_raw.txt" ("18 Mar 12:14", no year); names and texts here are ours.


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("19:23, 28 Aug 2013 - ", "19:07, 20 Sep 2013 - ", ("2013-08-28T19:23", "2013-09-20T19:07")),
        ("28 Aug 2013 19:23 - ", "20 Sep 2013 19:07 - ", ("2013-08-28T19:23", "2013-09-20T19:07")),
        ("Mar 5, 8:11 PM - ", "Apr 12, 10:02 AM - ", ("2000-03-05T20:11", "2000-04-12T10:02")),
        ("18 Mar 12:14 - ", "2 Sep 09:30 - ", ("2000-03-18T12:14", "2000-09-02T09:30")),
    ],
)
def test_headers_with_the_month_as_a_name(tmp_path, first, second, expected):
    text = f"{first}Ana: Whoa :o\n{second}Bo: <Media omitted>\n{second}Ana changed the subject to “The horde”\n"
    messages = parse(tmp_path, text, fmt="auto")  # sniffed as WhatsApp too
    assert [(m.time, m.sender, m.text, m.kind) for m in messages] == [
        (expected[0], "Ana", "Whoa :o", "text"),
        (expected[1], "Bo", "<Media omitted>", "media"),
        (expected[1], "Ana", "Ana changed the subject to “The horde”", "system"),
    ]


def test_a_year_left_out_is_the_year_after_the_last_one_written(tmp_path):
    # Android wrote the year only for dates outside the year of the export.
    text = (
        "15:34, 30 Dec 2013 - Ana: last one of the year\n"
        "00:01, 1 Jan - Bo: Happy New Year!\n"
        "18:00, 9 Feb - Ana: see you\n"
    )
    assert [m.time for m in parse(tmp_path, text)] == [
        "2013-12-30T15:34", "2014-01-01T00:01", "2014-02-09T18:00",
    ]  # fmt: skip
    # … also when no New Year lies between: the year left out is the export's, a later one.
    text = "15:34, 30 Mar 2013 - Ana: a\n00:01, 1 Apr - Bo: b\n"
    assert [m.time for m in parse(tmp_path, text)] == ["2013-03-30T15:34", "2014-04-01T00:01"]


def test_a_yearless_export_across_new_year_runs_forward(tmp_path, caplog):
    # A message dated a day before the one above it (delivered late: NITG.txt has "00:11,
    # 14 Feb" then "23:33, 13 Feb") is no New Year.
    dates = ["Dec 30", "Dec 31", "Jan 1", "Mar 5", "Mar 4", "Dec 31", "Jan 1"]
    text = "".join(f"{date}, 11:59 PM - Ana: {n}\n" for n, date in enumerate(dates))
    with caplog.at_level(logging.WARNING, logger="model.data.formats.whatsapp_dates"):
        messages = parse(tmp_path, text)
    assert [m.time[:10] for m in messages] == [
        "2000-12-30", "2000-12-31", "2001-01-01", "2001-03-05", "2001-03-04", "2001-12-31",
        "2002-01-01",
    ]  # fmt: skip
    assert "no year" in caplog.text


def test_a_yearless_date_takes_its_year_from_later_evidence(tmp_path, caplog):
    # a later header that writes its year, counted back over the New Year between …
    text = "18 Dec 12:14 - Ana: a\n2 Jan 2014 09:30 - Bo: b\n"
    with caplog.at_level(logging.WARNING, logger="model.data.formats.whatsapp_dates"):
        assert [m.time for m in parse(tmp_path, text)] == ["2013-12-18T12:14", "2014-01-02T09:30"]
    # … or a media file, which Android names by the day it came: IMG-20140305-WA0001.jpg
    text = (
        "Mar 5, 8:11 PM - Ana: hi\n"
        "Mar 5, 8:12 PM - Ana: IMG-20140305-WA0001.jpg (file attached)\n"
    )
    messages = parse(tmp_path, text)
    assert [(m.time, m.kind) for m in messages] == [
        ("2014-03-05T20:11", "text"), ("2014-03-05T20:12", "media"),
    ]  # fmt: skip
    assert not caplog.records


def test_a_month_name_inside_a_message_does_not_start_one(tmp_path):
    text = "27/03/2022, 21:41 - Ana: pasted:\nMar 5, 8:11 PM - Bo: old\n27/03/2022, 21:42 - Bo: ok\n"
    assert triples(parse(tmp_path, text)) == [
        ("2022-03-27T21:41", "Ana", "pasted:\nMar 5, 8:11 PM - Bo: old"),
        ("2022-03-27T21:42", "Bo", "ok"),
    ]


# --- bodies: multi-line, kinds, senders ------------------------------------------------


def test_continuation_that_looks_like_a_date_stays_in_its_message(tmp_path):
    lines = VECTORS["multiline"]["lines"]
    (message,) = parse(tmp_path, "\n".join(lines) + "\n")
    assert message.text == VECTORS["multiline"]["expected_message"]


def test_header_of_another_layout_inside_a_message_is_not_a_new_message(tmp_path):
    text = (
        "27/03/2022, 21:41 - Ana: he wrote:\n"
        "[27/03/2022, 21:40:00] Bo: pasted from an iPhone export\n"
        "27/03/2022, 21:42 - Bo: ok\n"
    )
    assert triples(parse(tmp_path, text)) == [
        ("2022-03-27T21:41", "Ana", "he wrote:\n[27/03/2022, 21:40:00] Bo: pasted from an iPhone export"),
        ("2022-03-27T21:42", "Bo", "ok"),
    ]


@pytest.mark.parametrize("vector", VECTORS["attachment_formats"], ids=range(4))
def test_upstream_attachment_forms_are_media(tmp_path, vector):
    (message,) = parse(tmp_path, vector["line"] + "\n")
    caption = vector["line"].partition("\n")[2]  # under the German one: "Dir auch frohe Ostern."
    assert (message.kind, message.sender) == ("text" if caption else "media", "a")
    assert not caption or message.text == caption


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("<Media omitted>", "media"),
        ("\u200eimage omitted", "media"),
        ("\u200evideo omitted", "media"),
        ("\u200esticker omitted", "media"),
        ("\u200e<attached: 00000012-PHOTO-2020-01-01-12-00-00.jpg>", "media"),
        ("IMG-20200101-WA0001.jpg (file attached)", "media"),
        ("<Medien ausgeschlossen>", "media"),
        ("\u200eBild weggelassen", "media"),
        ("<Multimedia omitido>", "media"),
        ("\u200eimagen omitida", "media"),
        ("<Без медиафайлов>", "media"),
        ("<Média omis>", "media"),
        ("<Mídia oculta>", "media"),
        ("<Media weggelaten>", "media"),
        ("<media omessi>", "media"),
        ("This message was deleted", "deleted"),
        ("\u200eYou deleted this message.", "deleted"),
        ("Diese Nachricht wurde gelöscht", "deleted"),
        ("Se eliminó este mensaje.", "deleted"),
        ("Este mensaje fue eliminado", "deleted"),
        ("Verpasster Sprachanruf", "system"),
        ("\u200eMissed voice call", "system"),
        ("POLL:\nLunch?\nOPTION: pizza (2 votes)", "system"),
        ("Missed video call", "system"),
        ("Waiting for this message. This may take a while.", "system"),
        ("image omitted, haha", "text"),
        ("my IMG-1.jpg (file attached) is late", "text"),
        ("<3", "text"),
        ("null", "media"),  # Android's view-once photo or video
        ("nullable", "text"),
        ("location: https://maps.google.com/?q=52.5200,13.4050", "media"),  # a shared pin
        ("Standort: https://maps.google.com/?q=-33.86,151.2", "media"),
        ("meet me at the station https://maps.google.com/?q=52.52,13.40", "text"),
    ],
)
def test_kinds_of_bodies(tmp_path, body, kind):
    (message,) = parse(tmp_path, f"27/03/2022, 21:41 - Ana: {body}\n")
    assert (message.kind, message.sender) == (kind, "Ana")
    assert message.text == body.lstrip("\u200e")


def test_an_impossible_date_leaves_the_message_without_a_time(tmp_path):
    """30 February, or a year-less 29 February landing in a year without one: no time
    (the contract's null), not "2013-02-30", which every later step refused."""
    numeric = parse(tmp_path, "28/02/2013, 19:23 - Ana: hi\n30/02/2013, 19:24 - Bo: yo\n")
    assert [m.time for m in numeric] == ["2013-02-28T19:23", None]
    named = parse(tmp_path, "19:23, 28 Feb 2013 - Ana: hi\n10:00, 29 Feb - Bo: leap?\n"
                            "10:01, 1 Mar - Ana: ok\n")
    assert [m.time for m in named] == ["2013-02-28T19:23", None, "2014-03-01T10:01"]
    (pair,) = build_pairs(numeric, PairOptions(persona=["Bo"]))
    assert pair["context"] == ["hi"] and pair["reply"] == "yo"


def test_caption_under_a_file_is_a_text_message_that_reaches_pairs(tmp_path):
    text = (
        "13/01/2024, 09:00 - Bo: IMG-20240113-WA0001.jpg (file attached)\nlook at this view\n"
        "13/01/2024, 09:01 - Nat: <Media omitted>\nsame view\nfrom here\n"
        "13/01/2024, 09:02 - Nat: PTT-20240113-WA0002.opus (file attached)\n"
        "13/01/2024, 09:03 - Bo: nice\n"
    )
    messages = parse(tmp_path, text)
    assert [(m.sender, m.kind, m.text) for m in messages] == [
        ("Bo", "text", "look at this view"),
        ("Nat", "text", "same view\nfrom here"),
        ("Nat", "media", "PTT-20240113-WA0002.opus (file attached)"),
        ("Bo", "text", "nice"),
    ]
    (pair,) = build_pairs(messages, PairOptions(persona=["Nat"]))
    assert pair["context"] == ["look at this view"] and "same view" in pair["reply"]


@pytest.mark.parametrize(
    ("line", "actor"),
    [
        ("Messages and calls are end-to-end encrypted. Tap to learn more.", ""),
        ("+12 345 578 created group \"Groupname\"", "+12 345 578"),
        ("Ana added Bo", "Ana"),
        ("Ana removed Bo", "Ana"),
        ("Bo left", "Bo"),
        ("Ana changed the subject from \"Trip: 2021\" to \"Trip: 2022\"", "Ana"),
        ("Ana changed this group's icon", "Ana"),
        ("Ana changed the group description", "Ana"),
        ("Bo joined using this group's invite link", "Bo"),
        ("Ana turned on disappearing messages. New messages will disappear.", "Ana"),
        ("Your security code with Bo changed. Tap to learn more.", ""),
        ("You were added", ""),
        ("Missed video call", ""),
        ("Ana hat Bo hinzugefügt", "Ana"),
    ],
)
def test_system_lines_name_their_actor(tmp_path, line, actor):
    (message,) = parse(tmp_path, f"27/03/2022, 21:41 - {line}\n")
    assert (message.kind, message.sender, message.text) == ("system", actor, line)


def test_edit_markers_are_removed(tmp_path):
    text = (
        "27/03/2022, 21:41 - Ana: see you <This message was edited>\n"
        "27/03/2022, 21:42 - Ana: two\nlines \u200e<This message was edited>\n"
        "27/03/2022, 21:43 - Ana: <This message was edited> stays inside\n"
    )
    assert [m.text for m in parse(tmp_path, text)] == [
        "see you",
        "two\nlines",
        "<This message was edited> stays inside",
    ]


def test_senders_colons_empty_bodies_and_emoji_names(tmp_path):
    text = (
        "27/03/2022, 21:41 - \u202a+49 151 2345678\u202c: hallo : wie geht's\n"
        "27/03/2022, 21:42 - 🦄✨: ok\n"
        "27/03/2022, 21:43 - +1 (555) 123-4567: \n"
        "27/03/2022, 21:44 - 🦄✨:.\n"
        "27/03/2022, 21:45 - ~\u202fCleo: not in the address book\n"
        "27/03/2022, 21:46 - Chloé\u202f: bonjour\n"
    )
    assert triples(parse(tmp_path, text)) == [
        ("2022-03-27T21:41", "+49 151 2345678", "hallo : wie geht's"),
        ("2022-03-27T21:42", "🦄✨", "ok"),
        ("2022-03-27T21:43", "+1 (555) 123-4567", ""),
        ("2022-03-27T21:44", "🦄✨", "."),
        ("2022-03-27T21:45", "Cleo", "not in the address book"),
        ("2022-03-27T21:46", "Chloé", "bonjour"),
    ]


def test_upstream_full_chat_example(tmp_path):
    example = VECTORS["full_chat_example"]
    messages = parse(tmp_path, example["text"])
    assert len(messages) == example["expected_message_count"]
    # Trailing blank lines of a message are dropped (upstream keeps a final "\n").
    assert messages[-1].text == example["expected_last_message"].rstrip("\n")
    assert [m.kind for m in messages] == ["system", "system", "text", "text", "text"]


# --- day / month order -----------------------------------------------------------------


def test_upstream_issue_237_day_first_from_days_above_12(tmp_path):
    issue = VECTORS["issue_237"]
    times = [m.time for m in parse(tmp_path, issue["text"] + "\n")]
    assert times == [t[:16] for t in issue["expected"]]


def _dated_chat(dates: list[str]) -> str:
    return "".join(f"{date}, 10:{i % 60:02d} - Ana: message {i}\n" for i, date in enumerate(dates))


def test_month_first_revealed_late_applies_to_the_whole_file(tmp_path):
    # 3,000 messages on 1/2 … 1/12 read well both ways; only 1/13 proves month-first.
    dates = [f"1/{2 + i * 11 // 3000}/22" for i in range(3000)] + ["1/13/22"]
    messages = parse(tmp_path, _dated_chat(dates))
    assert messages[0].time == "2022-01-02T10:00"
    assert messages[2999].time == "2022-01-12T10:59"
    assert messages[-1].time == "2022-01-13T10:00"


def test_day_first_revealed_late(tmp_path):
    dates = ["5/1/22"] * 2000 + ["5/2/22"] * 500 + ["13/2/22"]
    messages = parse(tmp_path, _dated_chat(dates))
    assert [messages[0].time[:10], messages[2000].time[:10], messages[-1].time[:10]] == [
        "2022-01-05",
        "2022-02-05",
        "2022-02-13",
    ]


def test_order_from_dates_that_never_go_backwards(tmp_path):
    # 12/01 then 01/02: day-first runs forward (Jan 12 -> Feb 1), month-first would not.
    messages = parse(tmp_path, _dated_chat(["12/01/22", "01/02/22", "02/02/22"]))
    assert [m.time[:10] for m in messages] == ["2022-01-12", "2022-02-01", "2022-02-02"]
    # 01/12 then 02/01: month-first runs forward (Jan 12 -> Feb 1), day-first would not.
    messages = parse(tmp_path, _dated_chat(["01/12/22", "02/01/22", "02/02/22"]))
    assert [m.time[:10] for m in messages] == ["2022-01-12", "2022-02-01", "2022-02-02"]


def test_order_from_the_dates_that_follow_each_other_closely(tmp_path, caplog):
    # No field passes 12 and both readings run forward: month-first steps a day at a time,
    # day-first a month. A chat's days follow each other closely: month-first.
    days = range(2, 11)
    us = "".join(f"1/{day}/24, {hour}:00 PM - Bo: day {day}\n" for day in days for hour in (9, 10))
    with caplog.at_level(logging.WARNING, logger="model.data.formats.whatsapp_dates"):
        messages = parse(tmp_path, us)
    assert [m.time for m in messages[:3]] == [
        "2024-01-02T21:00", "2024-01-02T22:00", "2024-01-03T21:00",
    ]  # fmt: skip
    assert messages[-1].time == "2024-01-10T22:00" and not caplog.records
    # The same days written day-first read day-first.
    messages = parse(tmp_path, _dated_chat([f"{day}/1/24" for day in days]))
    assert [m.time[:10] for m in messages] == [f"2024-01-{day:02d}" for day in days]


def test_order_proven_after_the_lookahead_switches_and_says_so(tmp_path, caplog):
    ambiguous = ["1/2/22"] * whatsapp_dates.LOOKAHEAD_HEADERS
    with caplog.at_level(logging.WARNING, logger="model.data.formats.whatsapp_dates"):
        messages = parse(tmp_path, _dated_chat([*ambiguous, "1/13/22", "1/2/22"]))
    assert messages[0].time[:10] == "2022-02-01"  # the default, read before any proof
    assert [m.time[:10] for m in messages[-2:]] == ["2022-01-13", "2022-01-02"]
    notes = " ".join(record.getMessage() for record in caplog.records)
    assert "not proven" in notes and "proves month-first" in notes


# --- whole files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "test_ddmmyy_24hrs.txt",
        "test_mmddyy_24hrs.txt",
        "test_mmddyyyy_12hrs.txt",
        "test_yyyymmdd_24hrs.txt",
        "test_[mmddyy]_24hrs.txt",
    ],
)
def test_upstream_samples_match_chat_miners_expected_parse(name):
    messages = parse_file(UPSTREAM / name)
    target = json.loads((UPSTREAM / "chat-miner-target.json").read_text(encoding="utf-8"))
    # chat-miner keeps text messages only, newest first, lines joined with spaces; it
    # also drops "John Doe:." (no space after the colon), which we keep as the text ".".
    ours = [
        {"timestamp": m.time + ":00", "author": m.sender, "message": m.text.replace("\n", " ")}
        for m in reversed(messages)
        if m.kind == "text" and m.text != "."
    ]
    assert ours == target
    assert [(m.kind, m.sender) for m in messages if m.kind != "text"] == [
        ("system", "+12 345 578"),
        ("system", ""),
    ]
    assert [m.text for m in messages if m.sender == "John Doe"][1] == "."


def test_ios_crlf_export(tmp_path):
    messages = parse_file(HERE / "ios_en_crlf.txt")
    assert [(m.time, m.sender, m.kind) for m in messages] == [
        ("2022-03-27T21:41:35", "", "system"),
        ("2022-03-27T21:41:35", "Ana", "system"),
        ("2022-03-27T21:41:50", "Ana", "text"),
        ("2022-03-27T21:42:01", "Bo", "media"),
        ("2022-03-27T21:42:10", "Bo", "media"),
        ("2022-03-27T21:43:00", "Ana", "text"),
        ("2022-03-27T21:44:00", "Ana", "deleted"),
        ("2022-03-28T08:00:00", "Bo", "system"),
        ("2022-03-28T08:05:12", "+49 151 2345678", "text"),
        ("2022-03-28T08:06:00", "Ana", "system"),
        ("2022-03-28T08:07:00", "Cleo", "text"),
    ]
    assert messages[5].text == "Looks great\nsee you at 8\n\n27/03/2022, 21:43:30 is when I booked it"
    assert messages[8].text == "hallo zusammen"
    assert all("\r" not in m.text and "\u200e" not in m.text for m in messages)
    assert {m.conversation for m in messages} == {"ios_en_crlf"}


def test_android_german_export():
    messages = parse_file(HERE / "WhatsApp-Chat mit Ana.txt")
    assert [(m.sender, m.kind) for m in messages] == [
        ("", "system"),
        ("Ana", "system"),
        ("Ana", "text"),
        ("Bo", "media"),
        ("Bo", "deleted"),
        ("Ana", "text"),
        ("Bo", "media"),
        ("Ana", "text"),
        ("Bo", "system"),
    ]
    assert messages[5].text == "Guten Morgen\nwie geht's? : alles gut"
    assert messages[7].text == "Super"
    assert messages[0].time == "2022-03-27T21:41"
    assert {m.conversation for m in messages} == {"WhatsApp-Chat mit Ana"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ar_android.txt", [("2022-03-27T21:41", "Ana", "مرحبا"), ("2022-03-27T21:42", "Bo", "أهلا، كيف حالك؟"), ("2022-03-28T08:05", "Ana", "<تم استبعاد الوسائط>")]),
        ("th_android.txt", [("2022-03-27T21:41", "Ana", "สวัสดีครับ"), ("2022-03-27T21:42", "Bo", "สวัสดีค่ะ"), ("2022-04-01T09:00", "Ana", "ไปกินข้าวกัน")]),
        ("ja_android.txt", [("2022-03-27T21:41", "Ana", "こんにちは"), ("2022-03-27T21:42", "Bo", "こんばんは！"), ("2022-03-28T08:05", "Ana", "おはよう")]),
        ("vi_ios.txt", [("2022-03-27T21:41:35", "Ana", "Xin chào"), ("2022-03-27T21:42:10", "Bo", "Chào bạn"), ("2022-03-28T08:05:00", "Ana", "Hẹn gặp lại nhé\nngày mai 8:30, 28/3/22 nhé")]),
    ],
)
def test_locale_exports(name, expected):
    assert triples(parse_file(HERE / name)) == expected


def test_zip_export_uses_the_zips_name_and_reports_the_media_files():
    report = Report()
    messages = parse_file(HERE / "WhatsApp Chat - Ana.zip", report)
    assert [(m.sender, m.kind) for m in messages] == [
        ("", "system"),
        ("Ana", "text"),
        ("Ana", "media"),
        ("Bo", "text"),
    ]
    assert {m.conversation for m in messages} == {"WhatsApp Chat - Ana"}
    assert report.files == [(f"{HERE / 'WhatsApp Chat - Ana.zip'}!_chat.txt", "whatsapp")]
    assert report.skipped == {"not a chat export": 1}


def test_lines_before_the_first_header_are_reported(tmp_path):
    report = Report()
    text = "exported by a tool\n\nsecond note\n27/03/2022, 21:41 - Ana: hi\n27/03/2022, 21:42 - Bo: yo\n"
    messages = parse(tmp_path, text, name="x.txt", report=report)
    assert triples(messages)[0] == ("2022-03-27T21:41", "Ana", "hi")
    assert report.skipped == {"text before the first WhatsApp message header": 2}
    assert report.examples["text before the first WhatsApp message header"] == [
        f"{tmp_path / 'x.txt'}:1",
        f"{tmp_path / 'x.txt'}:3",
    ]


def test_file_without_any_header_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no WhatsApp message header"):
        parse(tmp_path, "just some notes\nno dates here\n", name="notes.txt")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("27/03/2022, 21:41 - Ana: hi\n27/03/2022, 21:42 - Bo: yo\n", True),
        ("[3/27/22, 9:41:35 PM] Ana: hi\n[3/27/22, 9:42:35 PM] Bo: yo\n", True),
        ("27/03/2022, 21:41 - Ana: only one header\n", False),
        ('{"messages": [{"date": "2022-03-27T21:41:00"}]}\n', False),
        ("ANA: To be.\nBO: Or not, 27/03/2022, 21:41 - late.\n", False),
        ("2022-03-27 21:41:00,Ana,hi\n2022-03-27 21:42:00,Bo,yo\n", False),
        ("Mar 5, 8:11 PM - Ana: hi\nMar 5, 8:12 PM - Bo: yo\n", True),
        # imessage-exporter's text: a month's name, but no " - " after the time
        ("Jan 02, 2023  4:05:06 PM (Read by you)\n+15558675309\nHi\n\n"
         "Jan 02, 2023  4:06:10 PM\nMe\nYes (after a while)\n", False),
    ],
)
def test_sniff_by_content(tmp_path, text, expected):
    path = tmp_path / "export.txt"
    path.write_text(text, encoding="utf-8")
    (entry,) = open_tree(path).entries
    assert whatsapp.sniff(entry) is expected


@pytest.mark.parametrize(
    ("relpath", "tree", "single", "expected"),
    [
        ("WhatsApp Chat with Ana.txt", "x/WhatsApp Chat with Ana.txt", True, "WhatsApp Chat with Ana"),
        ("_chat.txt", "exports/WhatsApp Chat - Ana.zip", False, "WhatsApp Chat - Ana"),
        ("_chat.txt", "exports/ana.zip", False, "ana"),
        ("WhatsApp Chat - Ana/_chat.txt", "exports", False, "WhatsApp Chat - Ana"),
        ("ana/_chat.txt", "exports", False, "ana"),
        ("WhatsApp Chat with Bo.txt", "exports/bo.zip", False, "WhatsApp Chat with Bo"),
        ("family.txt", "family.txt", True, "family"),
    ],
)
def test_conversation_name(relpath, tree, single, expected):
    assert whatsapp.conversation_name(relpath, tree, single) == expected


def test_cli_writes_jsonl(run_cli, tmp_path):
    out = tmp_path / "messages.jsonl"
    result = run_cli("model", "ingest", HERE / "WhatsApp-Chat mit Ana.txt", "--out", out)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 9
    assert records[2] == {
        "source": "whatsapp",
        "conversation": "WhatsApp-Chat mit Ana",
        "time": "2022-03-27T21:42",
        "sender": "Ana",
        "text": "Hallo zusammen!",
        "kind": "text",
    }
    assert "whatsapp" in result.stderr and "9 messages" in result.stderr


def test_zero_width_no_break_spaces_before_headers_are_marks(tmp_path):
    # Exports passed through some tools (WhatsR's German samples) carry U+FEFF before or
    # inside the header, one or two per line, not only as a byte order mark.
    text = (
        "[\ufeff29.01.18, 12:24:03] Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt.\n"
        "\ufeff\ufeff[29.01.18, 12:24:03] Du hast Mallory hinzugefügt.\n"
        "\ufeff\ufeff[29.01.18, 12:24:05] Mallory: Hey! :)\n"
    )
    assert [(m.sender, m.kind) for m in parse(tmp_path, text)] == [
        ("", "system"), ("", "system"), ("Mallory", "text"),
    ]  # fmt: skip
    android = "\ufeff29.01.18, 12:24 - Mallory: Hallo\n\ufeff29.01.18, 12:25 - Bo: Hi\n"
    assert triples(parse(tmp_path, android)) == [
        ("2018-01-29T12:24", "Mallory", "Hallo"), ("2018-01-29T12:25", "Bo", "Hi"),
    ]  # fmt: skip
