"""Pair building: turns, sessions, personas, PII scrubbing, the CLI."""

from __future__ import annotations

import json

import pytest

from model.data.messages import Message
from model.data.pairs import (
    PairOptions,
    PairSummary,
    build_pairs,
    is_heldout,
    read_pairs,
    scrub_pii,
    split_of,
)
from model.errors import InputError


def msg(sender, text, time="2022-03-18T14:00:00", kind="text", conversation="chat"):
    return Message("whatsapp", conversation, time, sender, text, kind)


CHAT = [
    msg("Bo", "are you coming?", "2022-03-18T14:00:00"),
    msg("Bo", "it starts at 8", "2022-03-18T14:00:30"),
    msg("Ana", "yes!", "2022-03-18T14:01:00"),
    msg("Ana", "<Media omitted>", "2022-03-18T14:01:10", kind="media"),
    msg("Ana", "see you at 8", "2022-03-18T14:01:20"),
    msg("Bo", "great", "2022-03-18T14:02:00"),
    # 7 hours of silence: a new session, so this Ana turn has no context and no pair
    msg("Ana", "morning", "2022-03-18T21:05:00"),
    msg("Bo", "hi", "2022-03-18T21:06:00"),
    msg("Ana", "how did it go", "2022-03-18T21:07:00"),
]


def test_turns_join_with_brk_and_skip_media():
    pairs = list(build_pairs(CHAT, PairOptions(persona=["Ana"])))
    assert pairs[0] == {
        "persona": "Ana",
        "context": ["are you coming? <brk> it starts at 8"],
        "context_speakers": ["Bo"],
        "reply": "yes! <brk> see you at 8",
        "conversation": "chat",
        "session": 0,
    }
    assert all("Media omitted" not in p["reply"] for p in pairs)


def test_context_never_crosses_sessions():
    pairs = list(build_pairs(CHAT, PairOptions(persona=["Ana"])))
    assert [p["reply"] for p in pairs] == ["yes! <brk> see you at 8", "how did it go"]
    assert pairs[1]["context"] == ["morning", "hi"]  # not "great" from the session before


def test_time_running_backwards_ends_the_session():
    # one chat's two exports read one after the other: the second must not take the
    # first's end as context; a message delivered late (a minute back) is no such jump
    chat = [msg("Bo", "you up?", "2024-01-15T09:00:00"), msg("Ana", "yeah", "2024-01-15T09:01:00"),
            msg("Bo", "k", "2024-01-12T10:02:00"), msg("Ana", "sure", "2024-01-12T10:03:00"),
            msg("Bo", "sent late", "2024-01-12T10:01:00"), msg("Ana", ".", "2024-01-12T10:04:00")]
    summary = PairSummary()
    pairs = list(build_pairs(chat, PairOptions(persona=["Ana"]), summary))
    assert [(p["context"], p["reply"]) for p in pairs] == [
        (["you up?"], "yeah"), (["k"], "sure"), (["k", "sure", "sent late"], ".")]
    assert summary.sessions == 2


def test_naive_and_aware_times_compare_by_their_wall_time(tmp_path, run_cli):
    messages = tmp_path / "messages.jsonl"
    chat = [msg("Bo", "hi", "2024-01-13T09:00"), msg("Ana", "with tz", "2024-01-13T09:04+02:00"),
            msg("Bo", "later", "2024-01-13T16:00-05:00"), msg("Ana", "new session", "2024-01-13T16:01")]
    messages.write_text("".join(m.to_json() + "\n" for m in chat), encoding="utf-8")
    result = run_cli("model", "pairs", messages, "--persona", "Ana")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["context"] for line in result.stdout.splitlines()] == [["hi"], ["later"]]
    assert "2 pairs from 1 conversations, 2 sessions" in result.stderr


def test_another_speakers_media_or_deleted_message_ends_the_turn_and_the_context():
    chat = [msg("Bo", "are you coming?"), msg("Bo", "it starts at 8"), msg("Ana", "yes!"),
            msg("Ana", "see you at 8"), msg("Bo", "<Media omitted>", kind="media"),
            msg("Ana", "lol nice pic"), msg("Bo", "This message was deleted", kind="deleted"),
            msg("Ana", "what did you delete"), msg("Bo", "nothing"), msg("Ana", "ok")]
    pairs = list(build_pairs(chat, PairOptions(persona=["Ana"])))
    # no reply is learned after what the model cannot see: "lol nice pic" answers a photo
    assert [(p["context"], p["reply"]) for p in pairs] == [
        (["are you coming? <brk> it starts at 8"], "yes! <brk> see you at 8"),
        (["what did you delete", "nothing"], "ok"),
    ]


def test_same_named_chats_of_two_manifest_sources_are_two_conversations(tmp_path):
    from model.data.manifest import load_manifest
    from model.data.pairs import build_pairs_from_manifest

    for sub, line in (("work", "report done?"), ("family", "dinner sunday?")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "WhatsApp Chat with Bo.txt").write_text(
            f"[1/2/24, 21:01:00] Bo: {line}\n[1/2/24, 21:02:00] Ana: yes\n")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("name: ana\npersona: Ana\nsources:\n"
                        "  - {format: whatsapp, path: work/WhatsApp Chat with Bo.txt}\n"
                        "  - {format: whatsapp, path: family/WhatsApp Chat with Bo.txt}\n")
    pairs = build_pairs_from_manifest(load_manifest(manifest))
    assert [(p["conversation"], p["context"]) for p in pairs] == [
        ("WhatsApp Chat with Bo", ["report done?"]), ("WhatsApp Chat with Bo (2)", ["dinner sunday?"])]


def test_session_gap_is_configurable():
    pairs = list(build_pairs(CHAT, PairOptions(persona=["Ana"], session_gap_hours=8)))
    assert [p["reply"] for p in pairs] == ["yes! <brk> see you at 8", "morning", "how did it go"]


def test_context_turns_limit_and_augment():
    chat = [msg("Bo" if i % 2 == 0 else "Ana", f"m{i}", f"2022-01-01T10:{i:02d}:00") for i in range(8)]
    pairs = list(build_pairs(chat, PairOptions(persona=["Ana"], context_turns=3)))
    last = pairs[-1]
    assert last["reply"] == "m7" and last["context"] == ["m4", "m5", "m6"]
    assert last["context_speakers"] == ["Bo", "Ana", "Bo"]
    augmented = list(build_pairs(chat, PairOptions(persona=["Ana"], context_turns=3, augment=True)))
    contexts_for_m7 = [p["context"] for p in augmented if p["reply"] == "m7"]
    assert contexts_for_m7 == [["m4", "m5", "m6"], ["m5", "m6"], ["m6"]]


def test_aliases_merge_into_one_speaker_and_extra_personas():
    chat = [
        msg("Bo", "hey"),
        msg("Ana B.", "hi"),
        msg("Ana", "what's up"),  # same person under another name: one turn
        msg("Bo", "not much"),
        msg("Cy", "me neither"),
        msg("Bo", "ok"),
    ]
    options = PairOptions(persona=["Ana", "Ana B."], extra_personas=1)
    pairs = list(build_pairs(chat, options))
    ana = [p for p in pairs if p["persona"] == "Ana"]
    assert ana == [{"persona": "Ana", "context": ["hey"], "context_speakers": ["Bo"],
                    "reply": "hi <brk> what's up", "conversation": "chat", "session": 0}]
    # Bo is the most active other sender, so he becomes a learned speaker; Cy does not.
    assert {p["persona"] for p in pairs} == {"Ana", "Bo"}
    assert [p["context_speakers"] for p in pairs if p["reply"] == "ok"] == [["Bo", "Ana", "Bo", "Cy"]]


def test_auto_persona_and_unknown_persona():
    chat = [*CHAT, msg("Ana", "are you there?", "2022-03-18T21:08:00")]
    pairs = list(build_pairs(chat, PairOptions(persona=["auto"])))
    assert {p["persona"] for p in pairs} == {"Ana"}  # Ana sends the most text messages (5 to 4)
    with pytest.raises(InputError, match=r"'Zoe' sent no text messages; senders are: 'Bo' \(4\), 'Ana' \(4\)"):
        list(build_pairs(CHAT, PairOptions(persona=["Zoe"])))


def test_auto_persona_that_is_an_unsaved_contacts_number_is_refused_with_the_fix(tmp_path,
                                                                                 run_cli):
    """WhatsApp names an unsaved contact by their number (in direction marks, as exported):
    'auto' must not ship it as the persona's name in the bundle and its prompt."""
    number = "\u202a+44 7700 900123\u202c"
    lines = []
    for day in range(1, 4):
        lines += [f"{day:02d}/03/2023, 10:15 - {number}: free tonight?",
                  f"{day:02d}/03/2023, 10:16 - Ana: maybe, why?",
                  f"{day:02d}/03/2023, 10:17 - {number}: pizza at mine"]
    (tmp_path / "chat.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("name: x\npersona: auto\nsources: [{format: whatsapp, path: chat.txt}]\n")
    out = tmp_path / "pairs.jsonl"
    result = run_cli("model", "pairs", "--manifest", manifest, "--out", out)
    assert result.returncode == 2 and not out.exists()
    assert result.stderr == (
        f"error: {manifest}: persona: 'auto' chose the most active sender, '+44 7700 900123', "
        "a phone number or e-mail address that would name the persona in the bundle and its "
        'prompt; name them, with it as an alias: persona: [Name, "+44 7700 900123"]\n')
    manifest.write_text(manifest.read_text().replace("auto", '[Bo, "+44 7700 900123"]'))
    result = run_cli("model", "pairs", "--manifest", manifest, "--out", out)
    assert result.returncode == 0, result.stderr
    assert [(p["persona"], p["context_speakers"]) for p in read_pairs(out)] == [
        ("Bo", ["Bo", "Ana"])] * 3


def test_extra_personas_named_by_a_number_or_an_address_are_refused():
    chat = [msg("+1 555 123 4567", "hi"), msg("Ana", "hello"), msg("bo@example.com", "hey"),
            msg("+1 555 123 4567", "so?"), msg("Ana", "fine")]
    with pytest.raises(InputError) as refused:
        list(build_pairs(chat, PairOptions(persona=["Ana"], extra_personas=2)))
    assert refused.value.reason == (
        "pairs.extra_personas: would learn '+1 555 123 4567', 'bo@example.com', named by a "
        "phone number or e-mail address that would ship in the bundle; name them: rename: "
        '{"+1 555 123 4567": Name, "bo@example.com": Name}')


def test_min_reply_chars_counts_skips():
    summary = PairSummary()
    chat = [msg("Bo", "hi"), msg("Ana", "k"), msg("Bo", "so?"), msg("Ana", "fine then")]
    pairs = list(build_pairs(chat, PairOptions(persona=["Ana"], min_reply_chars=2), summary))
    assert [p["reply"] for p in pairs] == ["fine then"]
    assert summary.skipped == {"reply shorter than min_reply_chars": 1}
    assert summary.as_dict()["pairs_by_persona"] == {"Ana": 1}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call me on +44 7700 900123 tonight", "call me on <phone> tonight"),
        ("(555) 123-4567", "<phone>"),
        ("mail ana.b+x@example.co.uk now", "mail <email> now"),
        ("see https://example.com/a?b=1 and www.test.org", "see <url> and <url>"),
        ("card 4111 1111 1111 1111 ok", "card <card> ok"),
        ("order 1234 5678 9012 3456 ok", "order <number> ok"),  # fails Luhn: a number, not a card
        ("meet at 8:30 on 2022-03-18, 3 people", "meet at 8:30 on 2022-03-18, 3 people"),
        ("I have 12 cats and 300 dogs", "I have 12 cats and 300 dogs"),
    ],
)
def test_scrub_pii(text, expected):
    assert scrub_pii(text) == expected


def test_scrub_applies_to_phone_number_senders():
    chat = [msg("+1 555 123 4567", "hi, I'm at x@y.com"), msg("Ana", "hello")]
    pair = next(build_pairs(chat, PairOptions(persona=["Ana"])))
    assert pair["context"] == ["hi, I'm at <email>"] and pair["context_speakers"] == ["<phone>"]
    pair = next(build_pairs(chat, PairOptions(persona=["Ana"], scrub_pii=False)))
    assert pair["context_speakers"] == ["+1 555 123 4567"]


def test_heldout_split_is_by_conversation_and_stable():
    names = [f"chat {i}" for i in range(2000)]
    held = [n for n in names if is_heldout(n, 0.1)]
    assert 150 < len(held) < 250
    assert held == [n for n in names if is_heldout(n, 0.1)]
    assert set(held) <= {n for n in names if is_heldout(n, 0.2)}  # nested as fraction grows


def test_read_pairs_names_line_of_bad_record(tmp_path):
    path = tmp_path / "pairs.jsonl"
    good = {"persona": "A", "context": ["x"], "context_speakers": ["B"], "reply": "y", "conversation": "c"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "context": []}) + "\n")
    with pytest.raises(InputError, match=r"pairs.jsonl:2: 'context' must be non-empty"):
        list(read_pairs(path))


def test_pairs_cli_from_message_jsonl(tmp_path, run_cli):
    messages = tmp_path / "messages.jsonl"
    messages.write_text("".join(m.to_json() + "\n" for m in CHAT), encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    result = run_cli("model", "pairs", messages, "--persona", "Ana", "--out", out)
    assert result.returncode == 0, result.stderr
    assert [p["reply"] for p in read_pairs(out)] == ["yes! <brk> see you at 8", "how did it go"]
    assert "2 pairs from 1 conversations, 2 sessions" in result.stderr


def test_pairs_cli_unknown_persona_leaves_no_output(tmp_path, run_cli):
    messages = tmp_path / "messages.jsonl"
    messages.write_text("".join(m.to_json() + "\n" for m in CHAT), encoding="utf-8")
    out = tmp_path / "pairs.jsonl"
    result = run_cli("model", "pairs", messages, "--persona", "Zoe", "--out", out)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "'Zoe' sent no text messages" in result.stderr
    assert list(tmp_path.iterdir()) == [messages]



def test_pairs_cli_with_no_pairs_fails_instead_of_writing_an_empty_file(tmp_path, run_cli):
    messages = tmp_path / "messages.jsonl"
    only_bo = [msg("Ana", "hi", "2022-03-18T13:00:00")] + [m for m in CHAT if m.sender == "Bo"]
    messages.write_text("".join(m.to_json() + "\n" for m in only_bo), encoding="utf-8")
    result = run_cli("model", "pairs", messages, "--persona", "Ana", "--out",
                     tmp_path / "pairs.jsonl")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"error: {messages}: no pairs")
    assert list(tmp_path.iterdir()) == [messages]


@pytest.mark.parametrize("flag, value", [("--min-reply-chars", "-3"), ("--extra-personas", "-1"),
                                         ("--session-gap-hours", "nan"),
                                         ("--context-turns", "0")])
def test_pairs_cli_refuses_settings_out_of_range(tmp_path, run_cli, flag, value):
    result = run_cli("model", "pairs", tmp_path / "any.jsonl", "--persona", "Ana", flag, value)
    assert result.returncode == 2 and f"argument {flag}: expected" in result.stderr


def test_one_long_chat_is_split_by_session_many_chats_by_conversation():
    """One chat with one person is the commonest export: split by conversation, all of it
    fell in one split (QA: no val_fraction could train on it)."""
    from model.data.pairs import MIN_CONVERSATIONS_TO_SPLIT, Split

    one_chat = [msg(sender, f"{sender} on day {day}", f"2022-03-{day:02d}T1{i}:00:00")
                for day in range(1, 29) for i, sender in enumerate(("Bo", "Ana", "Bo", "Ana"))]
    pairs = list(build_pairs(one_chat, PairOptions(persona=["Ana"])))
    assert {p["session"] for p in pairs} == set(range(28))  # a day apart: 28 sessions
    split = Split(pairs, 0.2)
    assert split.by_session and {split.of(p) for p in pairs} == {"test", "val", "train"}
    for session in range(28):  # a session is never cut between splits
        assert len({split.of(p) for p in pairs if p["session"] == session}) == 1
    many = [{**p, "conversation": f"chat {i}"} for i in range(MIN_CONVERSATIONS_TO_SPLIT)
            for p in pairs[:2]]
    split = Split(many, 0.2)
    assert not split.by_session
    assert all(split.of(p) == split_of(p["conversation"], 0.2) for p in many)
