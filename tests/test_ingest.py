"""`python -m model ingest`: format dispatch by content, folders and zips, and every way
input can be wrong (one-line error naming file and line, exit status 2, no output left)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from model.data.ingest import detect, ingest
from model.data.messages import Message
from model.data.pairs import PairOptions, build_pairs
from model.data.report import Report
from model.data.sources import open_tree
from model.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"
TELEGRAM = FIXTURES / "telegram" / "result.json"

# one sample per format and shape, each detected by content alone
SAMPLES = {
    "jsonl": ["jsonl/messages.jsonl"],
    "telegram": ["telegram/result.json", "telegram/full_account.json", "telegram/forum.json"],
    "chitchat": ["chitchat/chitchat_sample_top_speaker.json"],
    "discord": ["discord/general.json"],
    "x-archive": ["xarchive/sample/tweets.js", "xarchive/archive/data/direct-messages.js"],
    "imessage": ["imessage/Family 🏡.txt"],
    "script": ["script/bbt_lines.csv", "script/screenplay.txt", "script/play.txt"],
}


def neutral_copies(tmp_path: Path) -> dict[Path, str]:
    copies = {}
    for fmt, paths in SAMPLES.items():
        for index, rel in enumerate(paths):
            target = tmp_path / f"{fmt}-{index}.dat".replace("x-archive", "xa")
            shutil.copy(FIXTURES / rel, target)
            copies[target] = fmt
    return copies


def test_every_format_is_detected_by_content(tmp_path):
    for path, fmt in neutral_copies(tmp_path).items():
        assert detect(open_tree(path).entries[0]) == fmt, path.name


# every fixture folder, but the one holding a page no reader may read (French Meta HTML)
CONTRACT_FOLDERS = sorted(
    str(p.relative_to(FIXTURES)) for p in [*FIXTURES.iterdir(), *(FIXTURES / "meta_html").iterdir()]
    if p.is_dir() and p.name not in ("meta_html", "french"))


@pytest.mark.parametrize("folder", CONTRACT_FOLDERS)
def test_every_message_a_reader_writes_keeps_the_contract(folder):
    """What ingest writes is what pairs reads back: a time that is not a real ISO date
    ("2013-02-30") made the whole file unreadable for the next step."""
    messages = list(ingest([str(FIXTURES / folder)], report=Report()))
    assert messages
    for message in messages:
        assert Message.from_dict(json.loads(message.to_json())) == message


def test_imessage_database_and_slack_folder_are_detected(tmp_path):
    db = sqlite3.connect(tmp_path / "x")
    schema = (FIXTURES / "imessage" / "sms_db_iOS11.2.sql").read_text()
    db.executescript("".join(s + ";" for s in schema.split(";") if "TABLE sqlite_" not in s))
    db.close()
    assert detect(open_tree(tmp_path / "x").entries[0]) == "imessage"
    shutil.copytree(FIXTURES / "slack" / "workspace", tmp_path / "w")
    report = Report()
    list(ingest([str(tmp_path / "w")], report=report))
    assert report.files == [(str(tmp_path / "w"), "slack")]


def test_formats_do_not_claim_each_others_files(tmp_path):
    # every sniffer against every other format's sample: exactly one says yes
    from model.data.formats import FORMATS

    for path, fmt in neutral_copies(tmp_path).items():
        entry = open_tree(path).entries[0]
        claims = [name for name, module in FORMATS.items() if module.sniff(entry)]
        assert claims == [fmt], (path.name, claims)


def test_several_paths_and_a_mixed_zip(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(TELEGRAM, folder / "result.json")
    shutil.copy(FIXTURES / "discord" / "general.json", folder / "general.json")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64))
    (folder / "notes.txt").write_text("remember to export WhatsApp too\n")
    zipped = shutil.make_archive(str(tmp_path / "all"), "zip", folder)
    report = Report()
    messages = list(ingest([zipped, str(FIXTURES / "script" / "play.txt")], report=report))
    assert [m.source for m in messages] == ["discord"] * 7 + ["telegram"] * 7 + ["script"] * 5
    assert report.skipped["not a chat export"] == 2
    assert sorted(report.examples["not a chat export"]) == [
        f"{zipped}!notes.txt",
        f"{zipped}!photo.jpg",
    ]


def test_zips_in_a_folder_are_read_like_zips_given_directly(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(FIXTURES / "whatsapp" / "WhatsApp Chat - Ana.zip", folder)
    with zipfile.ZipFile(folder / "several.zip", "w") as archive:
        archive.write(TELEGRAM, "result.json")
        archive.writestr("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(32))
    shutil.copy(FIXTURES / "discord" / "general.json", folder)
    report = Report()
    messages = list(ingest([str(folder)], report=report))
    alone = list(ingest([str(FIXTURES / "whatsapp" / "WhatsApp Chat - Ana.zip")]))
    assert [m.text for m in messages if m.source == "whatsapp"] == [m.text for m in alone]
    assert Counter(m.source for m in messages) == {"whatsapp": len(alone), "telegram": 7, "discord": 7}
    assert (f"{folder}/several.zip!result.json", "telegram") in report.files
    assert f"{folder}/several.zip!photo.jpg" in report.examples["not a chat export"]


def test_finding_no_chat_says_why_files_were_left_out(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("remember to export WhatsApp too\n")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    with pytest.raises(InputError) as caught:
        list(ingest([str(folder)]))
    assert str(caught.value) == (f"{folder}: found no chat export among 3 file(s) "
                                 "(2 not a chat export; 1 not a regular file (dangling link))")


def test_chats_of_the_same_name_in_two_files_stay_two_conversations(tmp_path):
    for sub, line in (("work", "report done?"), ("family", "dinner sunday?")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "WhatsApp Chat with Bo.txt").write_text(
            f"[1/2/24, 21:01:00] Bo: {line}\n[1/2/24, 21:02:00] Ana: yes\n")
    messages = list(ingest([str(tmp_path), str(tmp_path / "work")]))
    assert [(m.conversation, m.text) for m in messages if m.sender == "Bo"] == [
        ("WhatsApp Chat with Bo", "dinner sunday?"),  # family/ comes first in the walk
        ("WhatsApp Chat with Bo (2)", "report done?"),
    ]  # and work/ again is read once


def test_a_discord_channel_exported_in_parts_is_one_conversation(tmp_path):
    """DiscordChatExporter splits a long channel into "[part 1]", "[part 2]" files: the
    chat names itself (guild and channel), so the same name in two files is one chat."""
    export = json.loads((FIXTURES / "discord" / "general.json").read_text(encoding="utf-8"))
    half = len(export["messages"]) // 2
    for part, messages in ((1, export["messages"][:half]), (2, export["messages"][half:])):
        (tmp_path / f"chat [part {part}].json").write_text(
            json.dumps({**export, "messages": messages}), encoding="utf-8")
    messages = list(ingest([str(tmp_path)]))
    assert len(messages) == 7 and len({m.conversation for m in messages}) == 1


def test_two_discord_servers_with_namesake_channels_stay_two_conversations(tmp_path):
    """A channel is its id: two servers both called "Friends" with a "#general" are two
    chats, and a reply in one is never learned as answering the other."""
    servers = {"1": [("bo", "pizza tonight?")],
               "2": [("kai", "is the build red?"), ("nat", "yes, fixing it")]}
    for server, said in servers.items():
        (tmp_path / f"server{server}.json").write_text(json.dumps({
            "guild": {"id": server, "name": "Friends"},
            "channel": {"id": f"{server}0", "type": "GuildTextChat", "name": "general"},
            "messages": [{"id": f"{server}{n}", "type": "Default", "content": text,
                          "timestamp": f"2024-01-02T21:0{n}:00+01:00", "author": {"name": who}}
                         for n, (who, text) in enumerate(said, 1)]}))  # fmt: skip
    messages = list(ingest([str(tmp_path)]))
    assert [(m.conversation, m.sender) for m in messages] == [
        ("Friends / general", "bo"), ("Friends / general (2)", "kai"), ("Friends / general (2)", "nat")]
    (pair,) = build_pairs(messages, PairOptions(persona=["nat"]))
    assert pair["context"] == ["is the build red?"]


def test_the_commands_own_output_is_not_read_back(tmp_path, run_cli):
    (tmp_path / "chat.txt").write_text("[1/2/24, 21:01:00] Bo: hi\n[1/2/24, 21:02:00] Ana: hello\n")
    out = tmp_path / "messages.jsonl"
    for _ in range(2):
        result = run_cli("model", "ingest", tmp_path, "--out", out)
        assert result.returncode == 0, result.stderr
        assert len(out.read_text().splitlines()) == 2
    assert "this command's own output (--out)" in result.stderr


def test_a_chat_read_once_however_often_it_is_found(tmp_path):
    """An export's .txt beside the .zip it came in (or one file given twice) is one chat:
    read twice, its replies were learned twice and could fall on both sides of the split."""
    zipped = FIXTURES / "whatsapp" / "WhatsApp Chat - Ana.zip"
    shutil.copy(zipped, tmp_path)
    with zipfile.ZipFile(zipped) as archive:
        [chat] = [name for name in archive.namelist() if name.endswith(".txt")]
        (tmp_path / "unzipped.txt").write_bytes(archive.read(chat))
    report = Report()
    messages = list(ingest([str(tmp_path), str(tmp_path / "unzipped.txt")], report=report))
    alone = list(ingest([str(zipped)]))
    assert len(messages) == len(alone) and len({m.conversation for m in messages}) == 1
    assert report.skipped["a copy of a chat export read already"] == 2


def test_cli_summary_lists_kinds_senders_and_skips(run_cli, tmp_path):
    folder = tmp_path / "chats"
    folder.mkdir()
    shutil.copy(TELEGRAM, folder / "result.json")
    (folder / "IMG_0001.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    out = tmp_path / "messages.jsonl"
    result = run_cli("model", "ingest", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 7
    summary = result.stderr
    assert "7 messages from 1 file(s)" in summary
    assert "by kind: text 3, system 2, media 2" in summary
    assert "       4  Марина 🌸" in summary and "       3  Tomás" in summary
    assert "1  not a chat export" in summary and "IMG_0001.jpg" in summary
    assert "1  telegram message without sender or content" in summary


def test_forcing_a_format(run_cli, tmp_path):
    short = tmp_path / "scene.txt"  # too short for the cautious play sniffer
    short.write_text("ANA\nhi there\n\nBO\nhello\n", encoding="utf-8")
    assert run_cli("model", "ingest", short).returncode == 2
    result = run_cli("model", "ingest", short, "--format", "script")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["sender"], r["text"]) for r in records] == [("ANA", "hi there"), ("BO", "hello")]
    # a forced format that reads nothing from the file is an error, not an empty output
    wrong = run_cli("model", "ingest", TELEGRAM, "--format", "discord")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        f"error: {TELEGRAM}: nothing in it could be read as a discord export"
    )


def truncated_json(path: Path) -> int:
    text = TELEGRAM.read_text(encoding="utf-8")
    cut = text.index('"Tomás"') + 3  # inside a string
    path.write_text(text[:cut], encoding="utf-8")
    return text[:cut].count("\n") + 1


def invalid_json(path: Path) -> int:
    text = TELEGRAM.read_text(encoding="utf-8")
    path.write_text(text.replace('"id": 104,', '"id": 104,,'), encoding="utf-8")
    return text[: text.index('"id": 104,')].count("\n") + 1


def chatless_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("photos/IMG_0001.jpg", b"\xff\xd8\xff\xe0" + bytes(32))
        archive.writestr("readme.txt", "nothing to see\n")


def truncated_zip(path: Path) -> None:
    chatless = path.with_suffix(".full")
    with zipfile.ZipFile(chatless, "w") as archive:
        archive.write(TELEGRAM, "result.json")
    path.write_bytes(chatless.read_bytes()[:300])
    chatless.unlink()


def corrupt_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(TELEGRAM, "result.json")
    data = bytearray(path.read_bytes())
    start = data.index(b"result.json") + len("result.json") + 20  # inside the deflated data
    data[start : start + 40] = bytes(40)
    path.write_bytes(bytes(data))


CASES = {
    "unknown format": (lambda p: p.write_text("shopping list\n- milk\n- eggs\n"), None,
                       "unrecognised chat format"),
    "binary": (lambda p: p.write_bytes(bytes(range(256)) * 4), None, "binary file of an unknown format"),
    "empty": (lambda p: p.write_bytes(b""), None, "empty file"),
    "byte-order mark only": (lambda p: p.write_bytes(b"\xef\xbb\xbf\n"), None, "empty file"),
    "truncated json": (truncated_json, "line", "truncated JSON (file ends early)"),
    "invalid json": (invalid_json, "line", "invalid JSON (Expecting property name enclosed in double quotes)"),
    "zip without a chat": (chatless_zip, None, "found no chat export among 2 file(s)"),
    "truncated zip": (truncated_zip, None, "damaged or truncated zip archive"),
    "corrupt zip": (corrupt_zip, "member", "damaged or truncated archive"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_no_output(run_cli, tmp_path, case):
    make, where, reason = CASES[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    path = inputs / "export.bin"
    line = make(path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("model", "ingest", path, "--out", out_dir / "messages.jsonl")
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip()
    assert "\n" not in error and "Traceback" not in error
    place = {None: f"{path}: ", "line": f"{path}:{line}: ", "member": f"{path}!result.json: "}
    assert error.startswith(f"error: {place[where]}{reason}"), error
    assert list(out_dir.iterdir()) == []  # neither the output nor its temporary file
    assert result.stdout == ""


def test_missing_file(run_cli, tmp_path):
    out = tmp_path / "messages.jsonl"
    result = run_cli("model", "ingest", TELEGRAM, tmp_path / "nope.json", "--out", out)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.json'}: no such file or folder"
    assert list(tmp_path.iterdir()) == []  # the first path's messages were not kept either


def _mutate(node, rng, depth=0):
    """A copy of a JSON value with some values swapped for ones of the wrong type."""
    wrong = [None, 7, "x", [], {}, [None], {"a": None}]
    if rng.random() < 0.08 and depth > 0:
        return rng.choice(wrong)
    if isinstance(node, dict):
        return {key: _mutate(value, rng, depth + 1) for key, value in node.items()}
    if isinstance(node, list):
        return [_mutate(value, rng, depth + 1) for value in node[:50]]
    return node


@pytest.mark.parametrize(
    "sample",
    ["telegram/result.json", "telegram/full_account.json", "telegram/forum.json",
     "discord/general.json",
     "chitchat/chitchat_sample_top_speaker.json", "jsonl/messages.jsonl"],
)  # fmt: skip
def test_wrongly_typed_values_never_crash(tmp_path, sample):
    import random

    source = FIXTURES / sample
    fmt = next(name for name, paths in SAMPLES.items() if sample in paths)
    rng = random.Random(20240601)
    parsed = 0
    for attempt in range(40):
        path = tmp_path / f"{attempt}{source.suffix}"
        if source.suffix == ".jsonl":
            lines = source.read_text(encoding="utf-8").splitlines()
            records = [_mutate(json.loads(line), rng, 1) for line in lines if line]
            path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        else:
            data = _mutate(json.loads(source.read_text(encoding="utf-8")), rng)
            path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        try:
            messages = list(ingest([str(path)], fmt, Report()))
        except InputError:
            continue
        parsed += 1
        for message in messages:  # whatever got through still honours the contract
            assert isinstance(message.text, str) and message.text
            assert isinstance(message.sender, str) and message.sender
            assert message.time is None or isinstance(message.time, str)
    assert parsed >= 5  # most damaged exports still yield their intact records


@pytest.mark.parametrize("folder", ["xarchive/archive", "slack/workspace"])
def test_wrongly_typed_values_in_folder_exports_never_crash(tmp_path, folder):
    import random

    rng = random.Random(7)
    parsed = 0
    for attempt in range(25):
        root = tmp_path / str(attempt)
        shutil.copytree(FIXTURES / folder, root)
        for path in root.rglob("*.js*"):
            text = path.read_text(encoding="utf-8")
            header, _, body = text.partition("= ") if path.suffix == ".js" else ("", "", text)
            data = _mutate(json.loads(body), rng)
            path.write_text(header + "= " * bool(header) + json.dumps(data), encoding="utf-8")
        try:
            messages = list(ingest([str(root)], "auto", Report()))
        except InputError:
            continue
        parsed += 1
        assert all(isinstance(m.sender, str) and isinstance(m.text, str) for m in messages)
    assert parsed >= 5  # most damaged exports still yield their intact records


def test_the_summary_names_the_senderless_notices_row():
    """WhatsApp's own notices have no sender: their row said nothing but a count."""
    from model.data.messages import Message

    report = Report()
    for sender in ("", "", "Ana"):
        report.count(Message("whatsapp", "chat", None, sender, "x", "system" if not sender else "text"))
    assert "       2  (no sender: the app's own notices)" in report.render()
