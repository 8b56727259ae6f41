"""WhatsApp's own words in every language it ships: placeholders, markers, notices, files.

Each language of `whatsapp_strings.STRINGS` gets one export, written the way Android and
iOS write them, fed through the real parser: a placeholder must come out as media /
deleted / system, never as a text the model would learn to say.
"""

from __future__ import annotations

import pytest

from model.data.formats import whatsapp
from model.data.formats.whatsapp_strings import STRINGS
from model.data.ingest import ingest
from tests.conftest import FIXTURES

LANGUAGES = sorted(STRINGS)
ANDROID = "27/03/2022, 21:{minute:02d} - Ana: {body}\n"
IOS = "[27/03/2022, 21:{minute:02d}:35] Ana: {body}\n"
IOS_MARKED = "[27/03/2022, 21:{minute:02d}:35] Ana: \u200e{body}\n"  # iOS marks WhatsApp's words


def parse(tmp_path, lines: list[str], name: str = "WhatsApp Chat with Ana.txt"):
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return list(ingest([str(path)], "whatsapp"))


def parse_each(tmp_path, bodies: list[str], layouts=(ANDROID, IOS_MARKED)):
    """The bodies in one export per header layout, the exports' messages one after another."""
    return [
        message
        for n, layout in enumerate(layouts)
        for message in parse(
            tmp_path,
            [layout.format(minute=i % 60, body=body) for i, body in enumerate(bodies)],
            f"export{n}.txt",
        )
    ]


def spellings(phrase: str) -> list[str]:
    """How exports of different versions write one phrase: bare, in <>, with a full stop,
    the first letter in the other case, wrapped in direction marks."""
    return [
        phrase,
        f"<{phrase}>",
        f"{phrase}.",
        phrase[0].swapcase() + phrase[1:],
        f"\u200f{phrase}\u202c",
    ]


def written(kind: str, language: str) -> list[tuple[str, str]]:
    """(expected kind, body) for every spelling of every phrase of one kind."""
    return [(kind, body) for phrase in STRINGS[language].get(kind, ()) for body in spellings(phrase)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_of_every_language_are_never_text(tmp_path, language):
    cases = [case for kind in ("media", "deleted", "system") for case in written(kind, language)]
    assert cases, f"{language} lists no placeholder"
    messages = parse_each(tmp_path, [body for _, body in cases], (ANDROID, IOS, IOS_MARKED))
    assert [(m.kind, m.sender) for m in messages] == [(kind, "Ana") for kind, _ in cases] * 3


@pytest.mark.parametrize("language", LANGUAGES)
def test_edit_markers_of_every_language_are_removed(tmp_path, language):
    markers = STRINGS[language]["edited"]
    bodies = [f"see you at 8 <{marker}>" for marker in markers]
    bodies += [f"see you at 8 \u200e<{marker}.>" for marker in markers]
    messages = parse_each(tmp_path, bodies, (ANDROID, IOS))
    assert [(m.kind, m.text) for m in messages] == [("text", "see you at 8")] * 2 * len(bodies)


@pytest.mark.parametrize("language", LANGUAGES)
def test_notices_of_every_language_are_system_lines_of_no_one(tmp_path, language):
    notices = [f"{notice} … Tap to learn more." for notice in STRINGS[language]["notice"]]
    # Android writes a notice with no sender, iOS as the chat's and marked; where a tool
    # stripped the marks, notices of _NOTICE_HEAD characters or more are still known.
    android = [f"27/03/2022, 22:{i:02d} - {notice}\n" for i, notice in enumerate(notices)]
    long_ones = [notice for notice in notices if notice.index(" … ") >= whatsapp._NOTICE_HEAD]
    messages = [
        *parse(tmp_path, android, "android.txt"),
        *parse_each(tmp_path, notices, (IOS_MARKED,)),
        *parse_each(tmp_path, long_ones, (IOS,)),
    ]
    assert [(m.kind, m.sender) for m in messages] == [("system", "")] * (
        2 * len(notices) + len(long_ones)
    )


@pytest.mark.parametrize("language", [name for name in LANGUAGES if STRINGS[name].get("attached")])
def test_files_of_media_exports_of_every_language_are_media(tmp_path, language):
    templates = STRINGS[language]["attached"]
    names = ("00000012-PHOTO-2022-03-27-21-41-35.jpg", "IMG-20220327-WA0001 (1).jpg")
    bodies = [template % name for template in templates for name in names]
    messages = parse_each(tmp_path, bodies, (ANDROID, IOS, IOS_MARKED))
    assert [m.kind for m in messages] == ["media"] * 3 * len(bodies)


def test_no_phrase_means_two_kinds():
    kinds: dict[str, set[str]] = {}
    for strings in STRINGS.values():
        for kind in ("media", "deleted", "system", "edited"):
            for phrase in strings.get(kind, ()):
                key = whatsapp._key(phrase)
                assert key, f"{phrase!r} is empty once normalised"
                kinds.setdefault(key, set()).add(kind)
    assert {key: found for key, found in kinds.items() if len(found) > 1} == {}


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        # Czech, Portuguese, Arabic, Hindi, Indonesian … as the issue reported them
        ("\u200eobrázek vynechán", "media"),
        ("<Média vynechány>", "media"),
        ("Tato zpráva byla smazána.", "deleted"),
        ("<Mídia oculta>", "media"),
        ("\u200f<تم استبعاد الوسائط>", "media"),
        ("यह मैसेज डिलीट कर दिया गया है.", "deleted"),
        ("<Media tidak disertakan>", "media"),
        ("Panggilan suara tak terjawab", "system"),
        # iOS names a left-out document after the file, behind a mark
        ("Resume.pdf \u200e• \u200e2 pages \u200edocument omitted", "media"),
        ("Template.docx \u200edokument vynechán", "media"),
        ("Template.docx \u200fلم يتم إدراج المستند", "media"),  # Arabic: a right-to-left mark
        # Android's live location, in the phone's language (strings.xml email_live_location_message)
        ("live location shared", "media"),
        ("Live-Standort wird geteilt", "media"),
        ("ubicación en tiempo real compartida", "media"),
        ("localização atual compartilhada", "media"),
        ("Геоданные отправлены", "media"),
        ("共享实时位置", "media"),
        # ordinary messages that merely contain such words stay text
        ("obrázek vynechán? proč", "text"),
        ("the document omitted a page", "text"),
        ("You were added to the list, see you there", "text"),
        ("see (file attached)", "text"),
        ("<3", "text"),
        (".", "text"),
    ],
)
def test_bodies_seen_in_exports(tmp_path, body, kind):
    (message,) = parse(tmp_path, [ANDROID.format(minute=41, body=body)])
    assert (message.kind, message.sender) == (kind, "Ana")


def test_a_whole_czech_ios_export():
    """Written by hand from WhatsApp's Czech strings: marks, CRLF, a multi-line message."""
    messages = list(ingest([str(FIXTURES / "whatsapp" / "cs_ios.txt")], "auto"))
    assert [(m.time, m.sender, m.kind) for m in messages] == [
        ("2022-03-18T14:56:01", "", "system"),
        ("2022-03-18T14:56:20", "Ana", "text"),
        ("2022-03-18T14:57:02", "Bo", "media"),
        ("2022-03-18T14:57:30", "Bo", "media"),
        ("2022-03-18T14:58:00", "Bo", "deleted"),
        ("2022-03-18T14:59:10", "Ana", "text"),
        ("2022-03-18T15:00:00", "Ana", "system"),
        ("2022-03-18T15:00:40", "Bo", "media"),
        ("2022-03-19T08:01:00", "Bo", "text"),
    ]
    assert [m.text for m in messages if m.kind == "text"] == [
        "Ahoj, jak se máš?",
        "Uvidíme se v 8?",
        "Dobře, v 8\na vezmu víno",
    ]


# Android's group-subject events (its strings.xml, group_subject_changed_by_name_from_to
# and group_created_by_name) with a subject that holds ": ", in each language's quotes.
SUBJECT_EVENTS = [
    "Ana ha cambiato l'oggetto da “Gita” a “Gita: 2022”",  # Italian
    "Ana heeft het onderwerp gewijzigd van 'Reis' naar 'Reis: 2022'",  # Dutch
    "Ana a modifié le sujet “Voyage” en “Voyage : 2022”",  # French
    "Ana изменил(-а) тему с \"Поездка\" на \"Поездка: 2022\"",  # Russian
    "Ana, “Gezi” olan konuyu “Gezi: 2022” olarak değiştirdi",  # Turkish
    "Ana zmienił(a) temat z \"Wycieczka\" na \"Wycieczka: 2022\"",  # Polish
    "Ana が件名を“旅行”から“旅行: 2022”に変更しました",  # Japanese
    "Anaがグループ「旅行: 2022」を作成しました",
    "Ana님이 그룹 이름을 “여행”에서 “여행: 2022”로 변경했습니다.",  # Korean
    "Ana החליף/ה את נושא הקבוצה מ-\"טיול\" ל-\"טיול: 2022\"",  # Hebrew
    "Ana telah mengubah subjek dari \"Liburan\" menjadi \"Liburan: 2022\"",  # Indonesian
    "Ana alterou o nome de \"Viagem\" para \"Viagem: 2022\"",  # Portuguese (Brazil)
]


def test_group_subjects_with_a_colon_are_system_lines_in_every_language(tmp_path):
    lines = [f"27/03/2022, 21:{i:02d} - {event}\n" for i, event in enumerate(SUBJECT_EVENTS)]
    # quotes in a name are balanced; an apostrophe inside a word is no quote
    lines += [
        "27/03/2022, 22:00 - Motheo \"Matt\" Sekgetho: hi\n",
        "27/03/2022, 22:01 - Sean O'Brien: hi\n",
        "27/03/2022, 22:02 - Ana 'Annie' Silva: hi\n",
    ]
    messages = parse(tmp_path, lines)
    assert [(m.kind, m.text) for m in messages[: len(SUBJECT_EVENTS)]] == [
        ("system", event) for event in SUBJECT_EVENTS
    ]
    assert [(m.kind, m.sender) for m in messages[len(SUBJECT_EVENTS) :]] == [
        ("text", "Motheo \"Matt\" Sekgetho"), ("text", "Sean O'Brien"), ("text", "Ana 'Annie' Silva"),
    ]  # fmt: skip


def test_shared_places_are_media(tmp_path):
    # A place picked from the map: iOS writes "Name (address): link", Android three lines
    # (whats_json's iOS and Android exports of 2022; timelinize's iOS fixture).
    text = (
        "[27/03/2022, 21:46:02] Ana: Pimlico Gardens (London, United Kingdom): "
        "https://foursquare.com/v/4e89af95e5fa82ad4c0aa03b\n"
        "[27/03/2022, 21:47:02] Ana: British Library (96 Euston Rd, London NW1 2DB): "
        "https://foursquare.com/v/4ac518cef964a52019a620e3\n"
        "[27/03/2022, 21:48:02] Bo: try https://foursquare.com/v/pimlico-gardens/4e89af95e5fa82ad4c0aa03b\n"
    )
    ios = parse(tmp_path, [text], "ios.txt")
    android = parse(tmp_path, [
        "27.03.22 21:46 - Ana: Pimlico Gardens\nLondon, United Kingdom\n"
        "https://foursquare.com/v/4e89af95e5fa82ad4c0aa03b\n",
        "27.03.22 21:47 - Bo: Pimlico Gardens\nsee you there\n",
    ], "android.txt")  # fmt: skip
    assert [m.kind for m in ios] == ["media", "media", "text"]
    assert [m.kind for m in android] == ["media", "text"]


# A poll: its word, the question, one line per option with its votes, the words in the
# phone's language (English POLL/OPTION, Spanish ENCUESTA/OPCIÓN in public exports);
# Dutch stands for a language whose words the table lacks.
POLLS = [
    "POLL:\nLunch?\nOPTION: pizza (1 vote)\nOPTION: sushi (2 votes)",
    "ENCUESTA:\nUna pregunta\nOPCIÓN: Opción A (0 votos)\nOPCIÓN: Opción B (1 voto)",
    "PEILING:\nEten?\nOPTIE: pizza (1 stem)\nOPTIE: sushi (0 stemmen)",
    "PEILING:\nEten?\n\u200eOPTIE: pizza (1 stem)",  # iOS marks each option
    "SONDAGE :\nDîner ?\nOPTION : pizza (1 vote)",
]


@pytest.mark.parametrize("poll", POLLS)
def test_polls_in_any_language_are_system_lines(tmp_path, poll):
    messages = parse_each(tmp_path, [poll], (ANDROID, IOS_MARKED))
    assert [(m.kind, m.sender, m.text) for m in messages] == [("system", "Ana", poll)] * 2


@pytest.mark.parametrize(
    "body",
    [
        "Shopping:\nmilk\nEggs: 12 (2 boxes)",  # a person's list: not in capitals
        "NOTE:\nbring food",  # no options with votes
    ],
)
def test_lists_that_look_like_polls_stay_text(tmp_path, body):
    (message,) = parse(tmp_path, [ANDROID.format(minute=41, body=body)])
    assert (message.kind, message.text) == ("text", body)
