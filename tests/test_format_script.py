"""Scripts: CSV transcripts (Big Bang Theory layout and generic), screenplays, printed plays,
and a sniffer that leaves ordinary text alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.errors import InputError
from model.formats import script
from model.ingest import ingest
from model.report import Report
from model.sources import open_tree

FIXTURES = Path(__file__).parent / "fixtures" / "script"
PILOT = "Series 01 Episode 01 – Pilot Episode"


def read(path, **options):
    report = Report()
    return list(ingest([str(path)], report=report, **options)), report


def test_big_bang_theory_csv_scenes_and_directions():
    messages, report = read(FIXTURES / "bbt_lines.csv")
    rows = [(m.conversation, m.sender, m.text[:30]) for m in messages]
    assert rows == [
        (f"{PILOT} / scene 1", "Sheldon", "So if a photon is directed thr"),
        (f"{PILOT} / scene 1", "Leonard", "Agreed, what’s your point?"),
        (f"{PILOT} / scene 1", "Sheldon", "There’s no point, I just think"),
        (f"{PILOT} / scene 1", "Leonard", "Excuse me?"),
        (f"{PILOT} / scene 1", "Receptionist", "Hang on."),  # "(to receptionist)" dropped
        (f"{PILOT} / scene 2", "Penny", "Hi.\nNew line in the same speec"),  # quoted newline kept
        ("Series 01 Episode 02 – The Big Bran Hypothesis / scene 1", "Penny", "Ça va ? 😀"),
    ]
    assert {m.time for m in messages} == {None} and {m.kind for m in messages} == {"text"}
    # "(Leonard stares.)" is a direction, not a line; its CSV row is line 11 (after a
    # quoted two-line cell)
    assert report.skipped == {"script row with stage direction only": 1}
    assert report.examples["script row with stage direction only"] == [
        f"{FIXTURES / 'bbt_lines.csv'}:11"
    ]


def test_generic_csv_with_scene_column():
    messages, report = read(FIXTURES / "lines.csv")
    assert [(m.conversation, m.sender, m.text) for m in messages] == [
        ("lines / scene 1", "BORIS", "Привет! Как дела?"),
        ("lines / scene 1", "ANNA", "Хорошо, спасибо"),
        ("lines / scene 2", "BORIS", "До завтра"),
    ]
    assert report.skipped == {"script row with no speaker or text": 1}


def test_screenplay():
    messages, _ = read(FIXTURES / "screenplay.txt")
    assert [(m.conversation, m.sender, m.text) for m in messages] == [
        ("screenplay / 1: INT. TINY CAFÉ - MORNING", "MAYA", "You're late. Again."),
        ("screenplay / 1: INT. TINY CAFÉ - MORNING", "JONAH", "Traffic! I swear the whole city was out today."),
        ("screenplay / 1: INT. TINY CAFÉ - MORNING", "MAYA", "Sure it was."),
        ("screenplay / 2: EXT. STREET - CONTINUOUS", "JONAH", "One espresso. Por favor."),
        ("screenplay / 2: EXT. STREET - CONTINUOUS", "MAYA", "Fine."),
    ]  # fmt: skip


def test_printed_play():
    messages, _ = read(FIXTURES / "play.txt")
    assert [(m.conversation, m.sender) for m in messages] == [
        ("play / 2: SCENE I. A street.", "VALENTINE"),
        ("play / 2: SCENE I. A street.", "PROTEUS"),
        ("play / 2: SCENE I. A street.", "VALENTINE"),
        ("play / 3: SCENE II. The garden.", "JULIA"),
        ("play / 3: SCENE II. The garden.", "LUCETTA"),
    ]
    assert messages[0].text == (
        "Cease to persuade, my loving Proteus: Home-keeping youth have ever homely wits."
    )


@pytest.mark.parametrize(
    "line, name",
    [
        ("HAMLET.", "HAMLET"),
        ("          JONAH (O.S.)", "JONAH"),
        ("MAYA (CONT'D)", "MAYA"),
        ("MRS. O'NEIL", "MRS. O'NEIL"),
        ("ΣΩΚΡΑΤΗΣ", "ΣΩΚΡΑΤΗΣ"),
        ("CUT TO:", None),
        ("INT. HOUSE - DAY", None),
        ("FADE OUT.", None),
        ("Hamlet.", None),
        ("THIS LINE IS FAR TOO LONG TO BE ANYONE'S NAME AT ALL", None),
        ("1984", None),
    ],
)
def test_speaker_name(line, name):
    assert script.speaker_name(line) == name


PROSE = """CHAPTER ONE

It was a bright cold day in April, and the clocks were striking thirteen.

NOTE
Keep this.

TODO
buy milk

IMPORTANT
call mum
"""


@pytest.mark.parametrize(
    "text",
    [
        PROSE,
        "# README\n\nSome project.\n\n## USAGE\nrun it\n",
        "def main():\n    return 0\n",
        "name,age\nAna,30\n",  # a CSV, but no dialogue column
        "ANA\nhi\n\nBO\nhello\n",  # too little to be sure
    ],
)
def test_ordinary_text_is_not_a_script(tmp_path, text):
    path = tmp_path / "notes.txt"
    path.write_text(text, encoding="utf-8")
    assert not script.sniff(open_tree(path).entries[0])


def test_detected_by_content_under_neutral_names(tmp_path):
    for name in ("bbt_lines.csv", "screenplay.txt", "play.txt"):
        shutil.copy(FIXTURES / name, tmp_path / f"file-{name.split('.')[0]}")
    _, report = read(tmp_path)
    assert [fmt for _, fmt in report.files] == ["script"] * 3


def test_csv_in_another_encoding_names_file_and_line(tmp_path):
    path = tmp_path / "lines.csv"
    rows = "speaker,line\n" + "ANA,hola\n" * 3000 + "JOSÉ,¿qué tal?\n"  # past the first chunk
    path.write_bytes(rows.encode("latin-1"))
    with pytest.raises(InputError, match="not valid utf-8 text") as caught:
        list(ingest([str(path)], report=Report()))
    assert (caught.value.path, caught.value.line) == (str(path), 3002)


def test_play_without_blank_lines_between_speeches(tmp_path):
    path = tmp_path / "dense.txt"
    path.write_text(
        "ROMEO.\nHe jests at scars that never felt a wound.\n"
        "JULIET.\nAy me.\nROMEO.\nShe speaks.\nO, speak again, bright angel!\n"
        "JULIET.\nO Romeo, Romeo, wherefore art thou Romeo?\n",
        encoding="utf-8",
    )
    messages, _ = read(path)
    assert [(m.sender, m.text) for m in messages] == [
        ("ROMEO", "He jests at scars that never felt a wound."),
        ("JULIET", "Ay me."),
        ("ROMEO", "She speaks. O, speak again, bright angel!"),
        ("JULIET", "O Romeo, Romeo, wherefore art thou Romeo?"),
    ]
