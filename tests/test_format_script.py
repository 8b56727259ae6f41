"""Scripts: CSV transcripts (Big Bang Theory layout and generic), screenplays, printed plays,
and a sniffer that leaves ordinary text alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.data.formats import script, script_text
from model.data.ingest import ingest
from model.data.report import Report
from model.data.sources import open_tree
from model.errors import InputError

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


def test_office_csv_with_line_text_and_seasons(tmp_path):
    path = tmp_path / "the-office-lines.csv"
    path.write_text(
        "id,season,episode,scene,line_text,speaker,deleted\n"
        '1,1,1,1,"All right Jim. Your quarterlies look very good.",Michael,FALSE\n'
        '2,1,1,1,"Oh, I told you. I couldn\'t close it.",Jim,FALSE\n'
        "3,2,1,1,Hello?,Pam,FALSE\n",
        encoding="utf-8",
    )
    messages, report = read(path, fmt="script")
    assert [(m.conversation, m.sender, m.text[:12]) for m in messages] == [
        ("season 1, episode 1 / scene 1", "Michael", "All right Ji"),
        ("season 1, episode 1 / scene 1", "Jim", "Oh, I told y"),
        ("season 2, episode 1 / scene 1", "Pam", "Hello?"),  # not season 1's scene
    ]
    assert not report.skipped


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiter_is_found_from_the_header(tmp_path, delimiter):
    path = tmp_path / "lines.csv"
    rows = [["id", "Speaker", "Line"], ["1", "Ross", "hello, you"], ["2", "Rachel", "hey; there"]]
    path.write_text("".join(delimiter.join(row) + "\n" for row in rows), encoding="utf-8")
    messages, _ = read(path)
    # an unquoted delimiter inside the last column's words stays in the words
    assert [(m.sender, m.text) for m in messages] == [("Ross", "hello, you"), ("Rachel", "hey; there")]


def test_csv_without_speaker_and_text_columns_names_its_header(tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("id,who_said,words_spoken\n1,Ana,hi\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read(path, fmt="script")
    message = str(caught.value)
    assert "'id,who_said,words_spoken'" in message
    assert "speaker column (one of person_scene, speaker," in message and "line_text" in message


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
        ("HORATIO and MARCELLUS.", "HORATIO and MARCELLUS"),
        ("II.", None),
    ],
)
def test_speaker_name(line, name):
    assert script_text.speaker_name(line) == name


PROSE = """CHAPTER ONE

It was a bright cold day in April, and the clocks were striking thirteen.

NOTE
Keep this.

TODO
buy milk

IMPORTANT
call mum
"""


GUTENBERG_NOVEL = """\
*** START OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***

Chapter 1.

It is a truth universally acknowledged, that a single man in possession
of a good fortune, must be in want of a wife.

“My dear Mr. Bennet,” said his lady to him one day, “have you heard that
Netherfield Park is let at last?”

Mr. Bennet replied that he had not.

Chapter 2.

Mr. Bennet was among the earliest of those who waited on Mr. Bingley.

*** END OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***
"""


@pytest.mark.parametrize(
    "text",
    [
        PROSE,
        "# README\n\nSome project.\n\n## USAGE\nrun it\n",
        "def main():\n    return 0\n",
        "name,age\nAna,30\n",  # a CSV, but no dialogue column
        "ANA\nhi\n\nBO\nhello\n",  # too little to be sure
        GUTENBERG_NOVEL,
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


# --- Project Gutenberg plays --------------------------------------------------------------

HAMLET = FIXTURES / "hamlet_gutenberg.txt"
SCENE_1 = "hamlet_gutenberg / 3: Scene I. Elsinore. A platform before the Castle."
SCENE_2 = "hamlet_gutenberg / 4: Scene II. Elsinore. A room of state in the Castle."
ACT_3 = "hamlet_gutenberg / 6: Scene I. A room in the Castle."
ACT_5 = "hamlet_gutenberg / 8: Scene I. A churchyard."


def test_gutenberg_play_with_abbreviated_speakers():
    messages, report = read(HAMLET)
    scenes = {}
    for m in messages:
        scenes.setdefault(m.conversation, []).append(m.sender)
    assert scenes == {
        SCENE_1: ["Bernardo", "Francisco"] * 4 + ["Horatio", "Marcellus", "Francisco"]
        + ["Marcellus", "Bernardo", "Horatio"],
        SCENE_2: ["King", "Cornelius and Voltimand", "King", "Laertes", "King", "Hamlet", "King"]
        + ["Hamlet", "Queen", "Hamlet", "Hamlet", "Horatio", "Hamlet"],
        ACT_3: ["Hamlet", "Ophelia"] * 2 + ["Hamlet"],
        ACT_5: ["First Clown", "Second Clown"],  # no persona is "First ..."; "Two Clowns" is not
    }  # fmt: skip
    said = {m.text for m in messages}
    assert "Say. What, is Horatio there?" in said  # verse lines joined
    assert "A little more than kin, and less than kind!" in said  # [Aside.] dropped
    # "[Exeunt Voltimand and Cornelius.]" inside the speech is dropped, the speech goes on
    assert (
        "We doubt it nothing: heartily farewell. And now, Laertes, what's the news with you?"
        in said
    )
    # _Exit._, Exeunt..., Enter ... and the cast list are not speeches; the header's "Note."
    # and the licence's "Section 1." are outside the START and END lines
    assert not {"Note", "Section 1", "Section 2"} & {m.sender for m in messages}
    assert not any("Exit" in text or "Enter" in text or "Courtier" in text for text in said)
    assert {m.time for m in messages} == {None} and not report.skipped


def test_gutenberg_play_detected_with_and_without_the_format(tmp_path):
    shutil.copy(HAMLET, tmp_path / "pg1524")
    auto, report = read(tmp_path / "pg1524")
    forced, _ = read(tmp_path / "pg1524", fmt="script")
    assert report.files == [(str(tmp_path / "pg1524"), "script")]
    assert [m.to_json() for m in auto] == [m.to_json() for m in forced] and len(auto) == 34


def test_gutenberg_play_with_speakers_on_the_speech_line():
    messages, report = read(FIXTURES / "hamlet_same_line.txt")
    assert [(m.conversation.split(" / ")[1], m.sender) for m in messages] == [
        ("2: ACT III. SCENE I.", "KING"), ("2: ACT III. SCENE I.", "ROSENCRANTZ"),
        ("2: ACT III. SCENE I.", "GUILDENSTERN"), ("2: ACT III. SCENE I.", "QUEEN"),
        ("2: ACT III. SCENE I.", "ROSENCRANTZ"), ("2: ACT III. SCENE I.", "POLONIUS"),
        ("2: ACT III. SCENE I.", "HAMLET"), ("2: ACT III. SCENE I.", "OPHELIA"),
        ("2: ACT III. SCENE I.", "HAMLET"),
        ("3: ACT III. SCENE 2.", "HAMLET"), ("3: ACT III. SCENE 2.", "PLAYER"),
        ("3: ACT III. SCENE 2.", "HAMLET"),
    ]  # fmt: skip
    assert messages[5].text == (  # "Exeunt ..." lines and "[To Ophelia]" dropped
        "Ophelia, walk you here.- Gracious, so please you, We will bestow ourselves.- "
        "Read on this book."
    )
    assert messages[6].text.startswith("To be, or not to be- that is the question: Whether")
    assert not report.skipped


MODERN_GUTENBERG = """\
*** START OF THE PROJECT GUTENBERG EBOOK 1524 ***

THE TRAGEDY OF HAMLET, PRINCE OF DENMARK

Contents

 ACT I
 Scene V. A more remote part of the Castle.


 Dramatis Personæ

HAMLET, Prince of Denmark
The GHOST of the late king, Hamlet’s father
HORATIO, Friend to Hamlet
MARCELLUS, Officer


ACT I

SCENE V. A more remote part of the Castle.

 Enter Ghost and Hamlet.

HAMLET.
Whither wilt thou lead me? Speak, I’ll go no further.

GHOST.
Mark me.

HAMLET.
I will.

 [_Exit._]

HORATIO and MARCELLUS.
[_Within._] My lord, my lord!

HAMLET.
How strange or odd soe’er I bear myself,
(As I perchance hereafter shall think meet
To put an antic disposition on),
That you, at such times seeing me, _never_ shall.

 [_Exeunt._]

*** END OF THE PROJECT GUTENBERG EBOOK 1524 ***
"""


def test_current_gutenberg_layout_keeps_parentheses_that_are_verse(tmp_path):
    path = tmp_path / "pg1524.txt"
    path.write_text(MODERN_GUTENBERG, encoding="utf-8")
    messages, report = read(path)
    assert [(m.sender, m.text) for m in messages] == [
        ("HAMLET", "Whither wilt thou lead me? Speak, I’ll go no further."),
        ("GHOST", "Mark me."),
        ("HAMLET", "I will."),
        ("HORATIO and MARCELLUS", "My lord, my lord!"),
        ("HAMLET", "How strange or odd soe’er I bear myself, (As I perchance hereafter shall "
         "think meet To put an antic disposition on), That you, at such times seeing me, "
         "never shall."),
    ]  # fmt: skip
    assert {m.conversation for m in messages} == {
        "pg1524 / 3: SCENE V. A more remote part of the Castle."
    }
    assert not report.skipped


WILDE = """\
FIRST ACT

SCENE

Morning-room in Algernon's flat in Half-Moon Street.

[Lane is arranging afternoon tea on the table, and after the music has
ceased, Algernon enters.]

ALGERNON.  Did you hear what I was playing, Lane?

LANE.  I didn't think it polite to listen, sir.

ALGERNON.  I'm sorry for that, for your sake.  I don't play
accurately--any one can play accurately--but I play with wonderful
expression.  (Takes a sandwich.)  _Very_ good.

LANE.  Yes, sir.  [Hands them on a salver.]

MRS. CHEVELEY.  How do you do?  _Aside._  Dreadful man.
"""


def test_speaker_on_the_speech_line_with_directions_inside(tmp_path):
    path = tmp_path / "earnest.txt"
    path.write_text(WILDE, encoding="utf-8")
    messages, _ = read(path)
    assert [(m.sender, m.text) for m in messages] == [
        ("ALGERNON", "Did you hear what I was playing, Lane?"),
        ("LANE", "I didn't think it polite to listen, sir."),
        ("ALGERNON", "I'm sorry for that, for your sake. I don't play accurately--any one can "
         "play accurately--but I play with wonderful expression. Very good."),
        ("LANE", "Yes, sir."),
        ("MRS. CHEVELEY", "How do you do? Dreadful man."),
    ]  # fmt: skip


def test_screenplay_action_line_is_not_a_speaker_on_the_speech_line(tmp_path):
    path = tmp_path / "heist.txt"
    text = (FIXTURES / "screenplay.txt").read_text(encoding="utf-8")
    path.write_text(text.replace("Jonah enters, dripping.", "BANG. The door flies open."))
    messages, report = read(path)
    assert "BANG" not in {m.sender for m in messages} and len(messages) == 5
    # dropped, but counted (the title "COFFEE RUN" is counted as a heading without speech)
    assert report.skipped["'NAME. speech' line of a name not yet heading a speech"] == 1


def test_play_mixing_both_speaker_layouts_reads_every_speech(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_text(
        "SCENE I. A room.\n\nHAMLET.\nTo be, or not to be.\n\nHORATIO.\nMy lord?\n\n"
        "HAMLET. I mean, sir, nothing.\n\nHORATIO.\nFarewell then.\n",
        encoding="utf-8",
    )
    messages, report = read(path, fmt="script")
    assert [(m.sender, m.text) for m in messages] == [
        ("HAMLET", "To be, or not to be."),
        ("HORATIO", "My lord?"),
        ("HAMLET", "I mean, sir, nothing."),
        ("HORATIO", "Farewell then."),
    ]
    assert not report.skipped


ROMEO_AND_JULIET_CAST = [
    "Escalus, Prince of Verona.",
    "Montague, Capulet, heads of two houses at variance with each other.",
    "Romeo, son to Montague.",
    "Friar Laurence, a Franciscan.",
    "Friar John, of the same Order.",
    "Lady Capulet, wife to Capulet.",
    "Nurse to Juliet.",
    "Citizens of Verona; Officers of the Watch, Guards, Watchmen, and Attendants.",
]


@pytest.mark.parametrize(
    "printed, expanded",
    [
        ("Rom", "Romeo"),
        ("Cap", "Capulet"),  # "Lady Capulet" starts with "Lady"
        ("La. Cap", "Lady Capulet"),
        ("Fri. L", "Friar Laurence"),
        ("Fri", "Fri"),  # Friar Laurence or Friar John: ambiguous, as printed
        ("Nurse", "Nurse"),  # "Nurse to Juliet" names no one
        ("Romeo", "Romeo"),
        ("Rom. and Cap", "Romeo and Capulet"),
        ("Prince", "Prince"),
    ],
)
def test_abbreviated_names_are_written_out_from_the_cast_list(printed, expanded):
    personae = [
        name for entry in ROMEO_AND_JULIET_CAST for name in script_text.persona_names(entry)
    ]
    assert personae == [
        "Escalus", "Montague", "Capulet", "Romeo", "Friar Laurence", "Friar John", "Lady Capulet",
    ]  # fmt: skip
    assert script_text.expand_name(printed, personae) == expanded


def test_cast_lists_in_capitals_and_crowds():
    personae = ["HAMLET", "Lords", "Officers"]
    assert script_text.expand_name("Ham", personae) == "Hamlet"
    assert script_text.expand_name("Lord", personae) == "Lord"  # one lord, not the crowd
    assert script_text.expand_name("Ham", []) == "Ham"


@pytest.mark.parametrize(
    "line, name",
    [
        ("Ham.", "Ham"),
        ("Cor. and Volt.", "Cor. and Volt"),
        ("First Clown.", "First Clown"),
        ("1 Clown.", "1 Clown"),
        ("Farewell, my lord.", None),
        ("Ham", None),
        ("SCENE II.", None),
        ("IV.", None),
    ],
)
def test_abbreviated_name(line, name):
    assert script_text.abbreviated_name(line) == name


def test_truncated_gutenberg_play_keeps_what_was_read_and_says_so(tmp_path):
    text = HAMLET.read_text(encoding="utf-8")
    path = tmp_path / "pg1524.txt"
    path.write_text(text[: text.index("ACT III.")], encoding="utf-8")  # cut in the middle
    messages, report = read(path)
    assert len(messages) == 27 and messages[-1].sender == "Hamlet"
    assert report.skipped == {"Project Gutenberg text without its END line (truncated?)": 1}


def test_gutenberg_text_cut_before_any_speech_is_a_clear_error(tmp_path, run_cli):
    text = HAMLET.read_text(encoding="utf-8")
    path = tmp_path / "pg1524.txt"
    path.write_text(text[: text.index("Claudius, King")], encoding="utf-8")
    with pytest.raises(InputError, match="unrecognised chat format") as caught:
        read(path)
    assert caught.value.path == str(path)
    forced = run_cli("model", "ingest", path, "--format", "script")
    assert forced.returncode == 2
    assert forced.stderr.strip() == f"error: {path}: nothing in it could be read as a script export"


def test_garbage_forced_as_a_script_names_file_and_line(tmp_path):
    path = tmp_path / "pg1524.txt"
    start = HAMLET.read_bytes()[:3000]
    path.write_bytes(start + b"\xff\xfe\x00garbage")  # a download cut off into noise
    with pytest.raises(InputError, match="not valid utf-8 text") as caught:
        read(path, fmt="script")
    assert (caught.value.path, caught.value.line) == (str(path), start.count(b"\n") + 1)
