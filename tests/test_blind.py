"""Blind sense grading (model.eval.blind) and `python -m model eval --blind/--grades`."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from model.errors import InputError
from model.eval.blind import (
    bubbles,
    grade,
    label_systems,
    pick_contexts,
    read_grades,
    render_ssa,
    ssa_by_system,
    wilson,
    write_sheet,
)

TINY = "data/demo/manifest-tiny.yaml"
# A sheet graded before labels were shared (and before sheet ids), with its figures: many
# of its items show one reply twice, under two labels graded apart.
KEPT = Path(__file__).resolve().parent.parent / \
    "data/models/demo-pretrained/eval/experiments/fused-norm-dev/sheet"


def tiny_manifest_copy(folder: Path, *edits: tuple[str, str], limit: int | None = None) -> Path:
    """The tiny manifest written into `folder` (its sample named by absolute path), with
    each (old, new) text edit applied and, given `limit`, reading only that many chats."""
    tiny = Path(__file__).resolve().parent.parent / TINY
    source = f"path: {tiny.parent / 'chitchat_sample.json'}"
    text = tiny.read_text().replace("path: chitchat_sample.json",
                                    source + (f", limit: {limit}" if limit else ""))
    for old, new in edits:
        assert old in text, f"the tiny manifest no longer holds {old!r}"
        text = text.replace(old, new)
    manifest = folder / "manifest.yaml"
    manifest.write_text(text)
    return manifest
# Distinctive names: a name like "real" could occur in chat text by chance.
SYSTEMS = ("zorbot-large", "zorbot-small", "tfidf-neighbour", "human-gold")


def pairs(count: int = 12) -> list[dict]:
    return [{"persona": "Ana", "context": [f"how was day {i}?", f"tell me <brk> about {i}"],
             "context_speakers": ["Bo", None] if i % 2 else None,
             "reply": f"day {i} was fine", "conversation": f"c{i}"} for i in range(count)]


def sheet(tmp_path, count: int = 12):
    items = pairs(count)
    systems = {name: [f"{name.split('-')[1]} reply {i} <brk> more" for i in range(count)]
               for name in SYSTEMS}
    write_sheet(tmp_path, items, systems, seed=3)
    return items, systems, json.loads((tmp_path / "key.json").read_text())


def fill(tmp_path, marks) -> object:
    """grades.csv with marks(system) -> (sensible, specific) for every row (systems that
    share a row must get the same marks)."""
    key = json.loads((tmp_path / "key.json").read_text())
    labels = {(item["item"], label): label_systems(names) for item in key["items"]
              for label, names in item["labels"].items()}
    with open(tmp_path / "grades.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        marked = {tuple(marks(name)) for name in labels[int(row[0]), row[1]]}
        assert len(marked) == 1, f"one row, several marks: {marked}"
        row[2:4] = marked.pop()
    path = tmp_path / "filled.csv"
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_sheet_is_blind_and_lists_every_system_once_per_item(tmp_path):
    items, systems, key = sheet(tmp_path)
    text = (tmp_path / "sheet.md").read_text()
    for name in SYSTEMS:
        assert name not in text
        assert name not in (tmp_path / "grades.csv").read_text()
    assert "Sensible" in text and "Specific" in text
    assert "**Bo:** how was day 1?" in text and "**someone:** tell me / about 1" in text
    assert "<brk>" not in text and "reply 0 / more" in text
    assert len(key["items"]) == len(items) and key["systems"] == list(SYSTEMS)
    for item in key["items"]:
        assert sorted(item["labels"].values()) == sorted(SYSTEMS)
        assert list(item["labels"]) == ["A", "B", "C", "D"]
    # The shuffle is per item: label A stands for several systems over the sheet.
    assert len({item["labels"]["A"] for item in key["items"]}) > 1
    with open(tmp_path / "grades.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["item", "label", "sensible", "specific", f"sheet {key['sheet']}"]
    assert len(rows) == 1 + len(items) * len(SYSTEMS)
    assert all(row[2:] == ["", ""] for row in rows[1:])


def shown(folder: Path) -> list[dict[str, str]]:
    """{label: reply as shown} per item of folder/sheet.md."""
    items = (folder / "sheet.md").read_text().split("\n## ")[1:]
    return [dict(re.findall(r"^- \*\*([A-Z]):\*\* (.*)$", text, re.M)) for text in items]


def shared_sheet(folder: Path, count: int = 6) -> dict:
    """A sheet where two systems answer item 3 alike as displayed (spacing around <brk>
    differs) and two others item 5 (both empty); its key."""
    systems = {name: [f"{name.split('-')[1]} reply {i}" for i in range(count)]
               for name in SYSTEMS}
    systems["tfidf-neighbour"][2] = "day 2 was fine <brk>  see you"
    systems["human-gold"][2] = "day 2  was fine<brk>see you"
    systems["zorbot-large"][4] = systems["zorbot-small"][4] = ""
    write_sheet(folder, pairs(count), systems, seed=3)
    return json.loads((folder / "key.json").read_text())


def test_a_reply_several_systems_gave_is_shown_once_under_one_label(tmp_path):
    key = shared_sheet(tmp_path)
    replies = shown(tmp_path)
    assert list(replies[2].values()).count("day 2 was fine / see you") == 1
    assert list(replies[4].values()).count("(no reply)") == 1
    assert [len(item) for item in replies] == [4, 4, 3, 4, 3, 4]
    for item, candidates in zip(key["items"], replies, strict=True):
        assert list(item["labels"]) == list(candidates) == list("ABCD")[:len(candidates)]
        systems = [name for names in item["labels"].values() for name in label_systems(names)]
        assert sorted(systems) == sorted(SYSTEMS)  # each system once per item
    assert ["tfidf-neighbour", "human-gold"] in key["items"][2]["labels"].values()
    assert ["zorbot-large", "zorbot-small"] in key["items"][4]["labels"].values()
    assert all(isinstance(names, str) for item in key["items"][:2]
               for names in item["labels"].values())  # one system: a name, as always
    with open(tmp_path / "grades.csv", newline="") as handle:
        assert len(list(csv.reader(handle))) == 1 + 6 * 4 - 2
    text = (tmp_path / "sheet.md").read_text()
    assert not any(name in text for name in SYSTEMS)
    shared_sheet(tmp_path / "again")
    assert (tmp_path / "again" / "sheet.md").read_text() == text


def test_a_kept_sheet_written_again_keeps_the_labels_of_its_items_without_repeats(tmp_path):
    """The kept sheet's replies written again: an item without repeats keeps the labels it
    had, and the shared candidates do not all come first."""
    key = json.loads((KEPT / "key.json").read_text())
    before = shown(KEPT)
    systems = {name: [] for name in key["systems"]}
    for item, replies in zip(key["items"], before, strict=True):
        for label, name in item["labels"].items():
            systems[name].append(replies[label])
    write_sheet(tmp_path, [{"context": ["hi"]}] * len(before), systems, key["seed"])
    again = json.loads((tmp_path / "key.json").read_text())["items"]
    plain = [n for n, replies in enumerate(before) if len(set(replies.values())) == len(replies)]
    assert 0 < len(plain) < len(before)
    assert [again[n]["labels"] for n in plain] == [key["items"][n]["labels"] for n in plain]
    shared = [label for item in again for label, names in item["labels"].items()
              if not isinstance(names, str)]
    assert len(shared) == len(before) - len(plain) and len(set(shared)) > 2


def test_a_shared_row_counts_for_each_of_its_systems(tmp_path):
    key = shared_sheet(tmp_path)
    marks = {(item["item"], label): (item["item"] != 3 or isinstance(names, str), False)
             for item in key["items"] for label, names in item["labels"].items()}
    result = ssa_by_system(marks, key)
    assert {name: row["n"] for name, row in result.items()} == dict.fromkeys(SYSTEMS, 6)
    assert {name: row["sensible"] for name, row in result.items()} == {
        "zorbot-large": 1.0, "zorbot-small": 1.0, "tfidf-neighbour": 5 / 6, "human-gold": 5 / 6}

    path = fill(tmp_path, lambda name: ("1", "1") if "zorbot" in name else ("0", ""))
    printed = grade(tmp_path, path)
    note = ("2 of 6 items showed one reply for several systems, marked once and credited to "
            "each: tfidf-neighbour + human-gold 1, zorbot-large + zorbot-small 1.")
    assert printed.endswith(f"|\n\n{note}") and note in (tmp_path / "ssa.md").read_text()
    saved = json.loads((tmp_path / "ssa.json").read_text())
    assert saved["shared_items"] == 2 and saved["systems"]["zorbot-small"]["ssa"] == 1.0


def test_a_key_written_before_sharing_grades_as_it_did(tmp_path):
    """Its repeated replies sit under two labels each, every label naming one system."""
    assert any(len(set(replies.values())) < len(replies) for replies in shown(KEPT))
    for name in ("key.json", "grades.csv"):
        shutil.copy(KEPT / name, tmp_path / name)
    printed = grade(tmp_path, tmp_path / "grades.csv")
    kept = json.loads((KEPT / "ssa.json").read_text())
    saved = json.loads((tmp_path / "ssa.json").read_text())
    assert saved.keys() == kept.keys() and saved["systems"] == kept["systems"]
    assert (KEPT / "ssa.md").read_text().endswith(f"brackets.\n\n{printed}\n")


def test_grades_round_trip_into_per_system_rates(tmp_path):
    sheet(tmp_path)
    marks = {"zorbot-large": ("1", "1"), "zorbot-small": ("yes", "no"),
             "tfidf-neighbour": ("0", ""), "human-gold": ("N", "y")}  # not sensible: not specific
    path = fill(tmp_path, lambda name: marks[name])
    result = ssa_by_system(read_grades(path), json.loads((tmp_path / "key.json").read_text()))
    rates = {name: (row["n"], row["sensible"], row["specific"], row["ssa"])
             for name, row in result.items()}
    assert rates == {"zorbot-large": (12, 1.0, 1.0, 1.0), "zorbot-small": (12, 1.0, 0.0, 0.5),
                     "tfidf-neighbour": (12, 0.0, 0.0, 0.0), "human-gold": (12, 0.0, 0.0, 0.0)}
    low, high = result["zorbot-small"]["sensible_ci"]
    assert 0.7 < low < 1.0 and high == pytest.approx(1.0)
    table = render_ssa(result).splitlines()
    assert table[2].startswith("| zorbot-large | 12 | 100%")
    assert table[3].startswith("| zorbot-small | 12 | 50%")

    printed = grade(tmp_path, path)
    assert printed == render_ssa(result)
    saved = json.loads((tmp_path / "ssa.json").read_text())
    assert saved["systems"]["zorbot-small"]["specific"] == 0.0
    assert "| zorbot-large |" in (tmp_path / "ssa.md").read_text()


def test_the_table_counts_short_replies_a_reader_marks_sensible(tmp_path):
    """A system that mostly says "yeah" gets sensible marks and an SSA near 50%; the
    table shows its replies' length beside it, so that is seen, not mistaken for sense."""
    items = pairs(4)
    systems = {"zorbot-large": ["yeah", "yeah <brk> lol", "", "I'm 27, you?"],
               "human-gold": ["day 1 was a long one at work", "fine / thanks", "ok", "same"]}
    write_sheet(tmp_path, items, systems, seed=3)
    key = json.loads((tmp_path / "key.json").read_text())
    path = fill(tmp_path, lambda name: ("1", "0"))
    result = ssa_by_system(read_grades(path), key)
    assert result["zorbot-large"]["words"] == pytest.approx((1 + 2 + 0 + 3) / 4)
    assert result["zorbot-large"]["short"] == 0.75  # "yeah", "yeah / lol", no reply
    assert result["human-gold"]["short"] == 0.75  # "fine / thanks", "ok", "same"
    table = render_ssa(result).splitlines()
    assert table[0] == "| system | n | SSA | sensible | specific | words | ≤ 2 words |"
    assert next(line for line in table if "zorbot" in line).endswith("| 1.5 | 75% |")


def test_mixed_marks_give_the_interval_of_the_reply_score(tmp_path):
    sheet(tmp_path, count=4)
    key = json.loads((tmp_path / "key.json").read_text())
    grades = {(item["item"], label): (item["item"] <= 2, item["item"] == 1)
              for item in key["items"] for label in item["labels"]}
    row = ssa_by_system(grades, key)["zorbot-large"]
    assert (row["sensible"], row["specific"], row["ssa"]) == (0.5, 0.25, 0.375)
    low, high = row["ssa_ci"]
    assert 0.0 <= low < 0.375 < high <= 1.0


@pytest.mark.parametrize("marks", [(True, False), (True, True), (False, False)])
def test_replies_all_marked_alike_still_get_a_real_ssa_interval(tmp_path, marks):
    """A bot that answers "haha" to everything, all sensible and none specific, was
    reported as SSA 50% (50%-50%) on six contexts: no spread is not certainty."""
    sheet(tmp_path, count=6)
    key = json.loads((tmp_path / "key.json").read_text())
    grades = {(item["item"], label): marks for item in key["items"] for label in item["labels"]}
    row = ssa_by_system(grades, key)["zorbot-large"]
    low, high = row["ssa_ci"]
    assert 0.0 <= low <= row["ssa"] <= high <= 1.0
    assert high - low > 0.2


@pytest.mark.parametrize(("mark", "message"), [("maybe", "sensible mark 'maybe'"),
                                               ("", "sensible mark ''")])
def test_a_bad_or_missing_mark_names_the_file_and_line(tmp_path, mark, message):
    sheet(tmp_path, count=2)
    path = fill(tmp_path, lambda name: (mark, "1") if name == "zorbot-small" else ("1", "0"))
    with open(path, newline="") as handle:
        line = next(n for n, row in enumerate(csv.reader(handle), start=1) if row[2] == mark)
    with pytest.raises(InputError) as caught:
        read_grades(path)
    assert str(caught.value).startswith(f"{path}:{line}: {message}")


def test_a_sensible_reply_needs_a_specific_mark(tmp_path):
    sheet(tmp_path, count=2)
    path = fill(tmp_path, lambda name: ("1", ""))
    with pytest.raises(InputError, match=r"filled\.csv:2: specific mark ''"):
        read_grades(path)


def test_missing_rows_and_a_filled_sheet_are_refused(tmp_path):
    sheet(tmp_path, count=2)
    path = fill(tmp_path, lambda name: ("1", "1"))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(InputError, match="no grades for item 2"):
        grade(tmp_path, path)
    shutil.copy(path, tmp_path / "grades.csv")
    with pytest.raises(InputError, match="holds marks already"):
        sheet(tmp_path, count=2)


def test_marks_of_another_sheet_of_the_same_size_are_refused(tmp_path):
    """grades.csv names its sheet: marks for sheet b scored against a's key were taken."""
    first, second = tmp_path / "a", tmp_path / "b"
    sheet(first)
    items = pairs()
    write_sheet(second, items, {name: [f"other {i}" for i in range(len(items))]
                                for name in SYSTEMS}, seed=4)
    path = fill(second, lambda name: ("1", "1"))
    with pytest.raises(InputError) as caught:
        grade(first, path)
    sheets = {folder: json.loads((folder / "key.json").read_text())["sheet"]
              for folder in (first, second)}
    assert sheets[first] != sheets[second]
    assert str(caught.value) == (
        f"{path}:1: these marks are for sheet {sheets[second]}, not for the sheet of this "
        f"key.json ({sheets[first]}): grade them with their own sheet's folder")
    assert not (first / "ssa.json").exists()
    grade(second, path)  # their own sheet takes them


def test_marks_without_a_sheet_id_are_still_read(tmp_path):
    """grades.csv files from before sheets had ids (the repository's own) still count."""
    sheet(tmp_path, count=2)
    path = fill(tmp_path, lambda name: ("1", "0"))
    rows = path.read_text().splitlines()
    path.write_text("\n".join(["item,label,sensible,specific", *rows[1:]]) + "\n")
    grade(tmp_path, path)
    assert json.loads((tmp_path / "ssa.json").read_text())["systems"]["human-gold"]["n"] == 2
    sheet_now = json.loads((tmp_path / "key.json").read_text())["sheet"]
    kept = sorted(Path("data/models").glob("*/eval/**/grades*.csv"))
    assert kept
    for old in kept:  # each against its own sheet's id where its key has one
        key = old.parent / "key.json"
        own = json.loads(key.read_text()).get("sheet") if key.is_file() else None
        assert read_grades(old, sheet=own or sheet_now)


@pytest.mark.parametrize("successes", [0, 60])
def test_wilson_interval_at_the_extremes_is_inside_0_1_and_not_degenerate(successes):
    low, high = wilson(successes, 60)
    assert 0.0 <= low < high <= 1.0
    assert high - low > 0.04
    assert (low if successes == 0 else high) == pytest.approx(successes / 60)
    assert wilson(30, 60)[0] == pytest.approx(1 - wilson(30, 60)[1])


def test_contexts_spread_over_conversations_first():
    rows = [{"persona": "Ana", "context": ["hi", f"q{i}"], "reply": "r", "conversation": c}
            for i, c in enumerate("aaabbc")]
    rows += [{"persona": "Bo", "context": ["x"], "reply": "r", "conversation": "d"},
             {"persona": "Ana", "context": ["hi", " "], "reply": "r", "conversation": "e"}]
    picked = pick_contexts(rows, {"Ana"}, 3, seed=1)
    assert sorted(p["conversation"] for p in picked) == ["a", "b", "c"]
    more = pick_contexts(rows, {"Ana"}, 10, seed=1)
    assert len(more) == 6 and more[:3] == picked  # then the rest; never Bo's or empty ones
    assert pick_contexts(rows, {"Ana"}, 10, seed=1) == more


def test_blind_eval_writes_a_sheet_and_scores_the_grades(run_cli, demo_bundle, tmp_path):
    bundle = tmp_path / "bundle"  # a copy, so the two bundles share a name
    shutil.copytree(demo_bundle, bundle)
    meta = (bundle / "bundle.json").read_bytes()
    out = tmp_path / "blind"
    result = run_cli("model", "eval", bundle, "--manifest", TINY, "--blind", out,
                     "--contexts", "5", "--compare", demo_bundle, "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    key = json.loads((out / "key.json").read_text())
    systems = ["demo (bundle)", "demo (demo)", "retrieval", "real"]
    assert key["systems"] == systems and len(key["items"]) == 5
    text = (out / "sheet.md").read_text()
    assert "demo" not in text and "retrieval" not in text
    # The two copies of one bundle answer alike: one candidate each item, not two.
    assert all(systems[:2] in item["labels"].values() for item in key["items"])
    assert len(re.findall(r"^- \*\*[A-D]:\*\* ", text, re.M)) == sum(
        len(item["labels"]) for item in key["items"]) == 5 * 3
    assert (bundle / "bundle.json").read_bytes() == meta  # the metrics eval did not run

    path = fill(out, lambda name: ("1", "0") if name == "real" else ("0", ""))
    result = run_cli("model", "eval", bundle, "--blind", out, "--grades", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith("| real | 5 | 50%")
    assert ("5 of 5 items showed one reply for several systems, marked once and credited to "
            "each: demo (bundle) + demo (demo) 5.") in result.stdout
    saved = json.loads((out / "ssa.json").read_text())["systems"]
    assert saved["real"]["sensible"] == 1.0 and saved["demo (bundle)"]["ssa"] == 0.0

    path.write_text(path.read_text().replace(",1,0", ",perhaps,0", 1))
    result = run_cli("model", "eval", bundle, "--blind", out, "--grades", path)
    assert result.returncode == 2 and f"{path}:" in result.stderr


def test_blind_sheet_of_several_personas_answers_each_as_its_own(run_cli, demo_bundle,
                                                                 tmp_path):
    """--personas: contexts answered by any of them, every system answering as the persona
    that answered the context, and the sheet saying who writes next."""
    from model.data.manifest import load_manifest
    from model.data.pairs import build_pairs_from_manifest, split_of

    manifest = tiny_manifest_copy(  # the tiny chats, a second speaker named Max
        tmp_path, ("rename:\n", "rename:\n  3863a74c-69fa-4909-a2d1-cfb3f06cdd49: Max\n"))
    out = tmp_path / "blind"
    result = run_cli("model", "eval", demo_bundle, "--manifest", manifest, "--blind", out,
                     "--split", "dev", "--personas", "Sam", "Max", "--contexts", "30")
    assert result.returncode == 0, result.stderr
    assert "of 2 personas" in result.stdout
    items = json.loads((out / "key.json").read_text())["items"]
    assert {item["persona"] for item in items} == {"Sam", "Max"}
    said = re.findall(r"^(\w+) writes next:$", (out / "sheet.md").read_text(), re.M)
    assert said == [item["persona"] for item in items]
    train = [p for p in build_pairs_from_manifest(load_manifest(manifest))
             if split_of(p["conversation"], 0.1) == "train"]
    replies = {who: {p["reply"] for p in train if p["persona"] == who} for who in ("Sam", "Max")}
    sheet = (out / "sheet.md").read_text().split("\n## ")[1:]
    for item, text in zip(items, sheet, strict=True):  # retrieval answers from the right chats
        label = next(k for k, v in item["labels"].items() if "retrieval" in label_systems(v))
        shown = re.search(rf"^- \*\*{label}:\*\* (.*)$", text, re.M).group(1)
        assert shown in {bubbles(reply) for reply in replies[item["persona"]]}

    unknown = run_cli("model", "eval", demo_bundle, "--manifest", manifest, "--blind",
                      tmp_path / "other", "--personas", "Zed")
    assert unknown.returncode == 2 and "'Zed' is not a persona of this bundle" in unknown.stderr
    assert not (tmp_path / "other").exists()
    alone = run_cli("model", "eval", demo_bundle, "--personas", "all")
    assert alone.returncode == 2 and "--personas and --context-turns only work with --blind" \
        in alone.stderr


def test_blind_sheet_with_only_the_last_turn_reads_like_a_first_message(run_cli, demo_bundle,
                                                                        tmp_path):
    """--context-turns 1: each context cut to the message itself, as a mention would come."""
    full, cut = tmp_path / "full", tmp_path / "cut"
    for folder, extra in ((full, []), (cut, ["--context-turns", "1"])):
        result = run_cli("model", "eval", demo_bundle, "--manifest", TINY, "--blind", folder,
                         "--contexts", "6", *extra)
        assert result.returncode == 0, result.stderr
    items = {folder: (folder / "sheet.md").read_text().split("\n## ")[1:] for folder in (full, cut)}
    turns = {folder: [re.findall(r"^> \*\*.*$", item, re.M) for item in items[folder]]
             for folder in (full, cut)}
    assert [len(t) for t in turns[cut]] == [1] * 6
    assert max(len(t) for t in turns[full]) > 1
    assert [t[-1] for t in turns[full]] == [t[0] for t in turns[cut]]  # the same messages
    short = run_cli("model", "eval", demo_bundle, "--manifest", TINY, "--blind", tmp_path / "all",
                    "--contexts", "5000", "--context-turns", "1")
    assert short.returncode == 0, short.stderr
    held_out = len(json.loads((tmp_path / "all" / "key.json").read_text())["items"])
    assert f"({held_out} contexts of 1 persona," in short.stdout
    assert (f"only {held_out} of the 5000 contexts asked for: the test split holds no more "
            "replies of Sam") in short.stdout
    zero = run_cli("model", "eval", demo_bundle, "--blind", tmp_path / "zero",
                   "--context-turns", "0")
    assert zero.returncode == 2 and "expected a positive whole number" in zero.stderr


def test_held_out_pairs_of_an_augmented_manifest_are_the_real_contexts_once(tmp_path):
    """pairs.augment adds shorter contexts for training; evaluation reads each real one once."""
    from model.eval.evaluate import load_split

    tiny = Path(__file__).resolve().parent.parent / TINY
    augmented = tiny_manifest_copy(tmp_path,
                                   ("extra_personas: 2}", "extra_personas: 2, augment: true}"))
    for split in ("test", "dev"):
        plain = load_split({}, tiny.parent, tiny, None, split=split)
        assert load_split({}, tmp_path, augmented, None, split=split) == plain


def test_dev_split_holds_out_validation_chats_and_trains_on_train_only():
    from model.data.pairs import split_of
    from model.eval.evaluate import load_split

    manifest = Path(__file__).resolve().parent.parent / "data" / "demo" / "manifest-tiny.yaml"
    train, dev = load_split({}, manifest.parent, manifest, None, split="dev")
    _, test = load_split({}, manifest.parent, manifest, None)
    fraction = 0.1  # the tiny manifest's val_fraction
    assert dev and train and test
    assert {split_of(p["conversation"], fraction) for p in dev} == {"val"}
    assert {split_of(p["conversation"], fraction) for p in train} == {"train"}
    assert not {p["conversation"] for p in dev} & {p["conversation"] for p in test}


def test_unseen_split_is_the_chats_past_the_limit_answered_by_the_learned_personas(tmp_path):
    """--split unseen: the 20 chats a limit of 30 leaves out, none of them read for training,
    and pairs only of the people training learned (the unseen chats' own most active
    senders are others: chosen there, the extra personas would be strangers)."""
    from model.data.manifest import load_manifest
    from model.data.pairs import (
        build_pairs,
        build_pairs_from_manifest,
        messages_from_manifest,
        options_from_manifest,
    )
    from model.eval.evaluate import load_split

    limited = tiny_manifest_copy(tmp_path, limit=30)
    train, unseen = load_split({}, tmp_path, limited, None, split="unseen")
    read = build_pairs_from_manifest(load_manifest(limited))
    every = build_pairs_from_manifest(load_manifest(Path(__file__).resolve().parent.parent / TINY))
    chats = {name: {p["conversation"] for p in pairs}
             for name, pairs in (("read", read), ("unseen", unseen), ("every", every))}
    assert len(chats["read"]) == 30 and len(chats["unseen"]) == 20
    assert not chats["read"] & chats["unseen"] and chats["read"] | chats["unseen"] == chats["every"]
    assert {p["conversation"] for p in train} <= chats["read"]
    learned = {p["persona"] for p in read}
    assert {p["persona"] for p in unseen} <= learned and "Sam" in {p["persona"] for p in unseen}
    chosen_there = build_pairs(messages_from_manifest(load_manifest(limited), beyond_limit=True),
                               options_from_manifest(load_manifest(limited)))
    assert {p["persona"] for p in chosen_there} - learned  # what `counts` protects against


def test_blind_sheet_of_unseen_chats_and_the_error_without_a_limit(run_cli, demo_bundle,
                                                                    tmp_path):
    from model.data.manifest import load_manifest
    from model.data.pairs import build_pairs_from_manifest

    limited = tiny_manifest_copy(tmp_path, limit=30)
    out = tmp_path / "blind"
    result = run_cli("model", "eval", demo_bundle, "--manifest", limited, "--blind", out,
                     "--split", "unseen", "--contexts", "8")
    assert result.returncode == 0, result.stderr
    read = {p["conversation"] for p in build_pairs_from_manifest(load_manifest(limited))}
    items = json.loads((out / "key.json").read_text())["items"]
    assert len(items) == 8 and not {item["conversation"] for item in items} & read

    unlimited = run_cli("model", "eval", demo_bundle, "--manifest", TINY, "--blind",
                        tmp_path / "none", "--split", "unseen")
    assert unlimited.returncode == 2
    assert "no source has a `limit`" in unlimited.stderr and "manifest-tiny.yaml" in unlimited.stderr
    assert not (tmp_path / "none").exists()
