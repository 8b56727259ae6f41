"""Blind sense grading (Meena's SSA: sensible / specific), see notes/sense-grading.md.

A reader who knows which system wrote a reply grades it differently, so the sheet they
read (`sheet.md`) shows only contexts and candidate replies under neutral labels, and
the labels are reshuffled for every item: "B" means nothing from one item to the next.
Systems whose replies read the same on the sheet share one label (a reply shown twice
would hint that it is retrieval's copy of the real one, and cost reading time): the
reader marks it once and each of those systems gets the marks, so every system still has
one graded reply per item.
The only file that names systems is `key.json`; the reader fills `grades.csv`, and
`grade()` joins it with the key into per-system rates with 95% intervals (at n = 60 a
difference of ±12 points is noise, so the table must say how wide it is). Both files carry
the sheet's id: marks made on another sheet of the same size are refused, not scored
against the wrong key.

stdlib only: `python -m model eval --grades` scores a sheet without loading a model.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import string
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

from model.errors import InputError
from model.files import atomic_output
from model.text import bubbles as split_bubbles

LABELS = string.ascii_uppercase
Z95 = 1.959964  # two-sided 95% normal quantile
MARKS = {"1": True, "y": True, "yes": True, "true": True,
         "0": False, "n": False, "no": False, "false": False}
GRADES_HEADER = ["item", "label", "sensible", "specific"]
SHEET_CELL = "sheet "  # grades.csv's header ends with "sheet <id>", key.json holds the id

INSTRUCTIONS = """\
# Sense grading sheet

Each numbered item is the start of a chat (oldest message first) followed by candidate
next messages under the labels A, B, C, ... A candidate with several bubbles shows them
separated by " / ". Labels are shuffled for every item: "A" in one item has nothing to do
with "A" in the next. Items may have different numbers of candidates: one reply is never
listed twice in an item. Judge every candidate on its own, as the next message of this chat.

- **Sensible**: the reply makes sense as the next message in this conversation. It is
  not confusing, not illogical, not out of context, not contradicting what came before
  or itself, not factually absurd. A reply that is only half sensible (a fine first
  bubble followed by a garbled one) is **not** sensible: the whole reply counts.
- **Specific** (only asked when sensible; a reply that is not sensible is not specific):
  the reply belongs to *this* context. "ok", "haha", "I don't know", "that's cool",
  "same here" fit almost anything and are not specific. "Me too, I can't get enough of
  Roger Federer!" after "I love tennis" is.

Fill `grades.csv` (one row per item and label): put 1 or 0 (y/n, yes/no also work) in the
`sensible` and `specific` columns. When a reply is not sensible you may leave `specific`
empty. Every row needs its marks.
"""


def pick_contexts(test_pairs: Sequence[dict], personas: Collection[str], count: int,
                  seed: int) -> list[dict]:
    """`count` held-out pairs answered by one of `personas`, a seeded choice spread over
    chats.

    One pair per conversation first (pairs of one chat resemble each other, so spreading
    makes the sample say more about the model), then further pairs if there are too few
    conversations. Pairs whose message (last context turn) is empty are unanswerable.
    """
    usable = [p for p in test_pairs if p["persona"] in personas and p["context"]
              and str(p["context"][-1]).strip()]
    random.Random(seed).shuffle(usable)
    first, more, seen = [], [], set()
    for index, pair in enumerate(usable):
        conversation = pair.get("conversation", f"#{index}")
        (more if conversation in seen else first).append(pair)
        seen.add(conversation)
    return (first + more)[:max(count, 0)]


def unique_names(bundles: Sequence[tuple[str, Path]], taken: Sequence[str] = ()) -> list[str]:
    """A sheet name per (bundle.json name, folder): the name, or "name (folder)" on a clash.

    `taken` are the names of the other systems ("retrieval", "real").
    """
    names = [name for name, _ in bundles]
    clashes = {n for n in names if names.count(n) > 1 or n in taken}
    unique = [f"{name} ({folder.name})" if name in clashes else name
              for name, folder in bundles]
    if len(set(unique) | set(taken)) != len(unique) + len(set(taken)):
        raise InputError(f"cannot tell the compared bundles apart by name: {unique}")
    return unique


NO_REPLY = "(no reply)"
SHORT_WORDS = 2  # a reply of this many words or fewer says little: "yeah", "oh wow", "lol"


def bubbles(text: str, empty: str = NO_REPLY) -> str:
    """A message as one line, bubbles separated by " / " (the reader sees no <brk> tokens)."""
    parts = [" ".join(part.split()) for part in split_bubbles(str(text))]
    return " / ".join(part for part in parts if part) or empty


def write_sheet(folder: str | Path, pairs: Sequence[dict], systems: dict[str, Sequence[str]],
                seed: int) -> None:
    """Write sheet.md and an empty grades.csv for the reader, and key.json for `grade()`.

    `systems` maps a system name to one reply per pair. Systems whose replies display
    alike share one candidate, whose label key.json gives as the list of those systems (a
    label of one system stays a plain name, as in keys written before sharing). Each item
    gets its own seeded shuffle of its candidates, so a label never stands for one system
    across the sheet, and a shared candidate is as likely as any to come first.
    """
    folder = Path(folder)
    names = list(systems)
    if not pairs or not names:
        raise InputError("nothing to grade: no contexts or no systems")
    if len(names) > len(LABELS):
        raise InputError(f"at most {len(LABELS)} systems fit a sheet, got {len(names)}")
    for name, replies in systems.items():
        if len(replies) != len(pairs):
            raise ValueError(f"{name}: {len(replies)} replies for {len(pairs)} contexts")
    _refuse_to_overwrite_marks(folder / "grades.csv")

    sheet, rows, items = [INSTRUCTIONS], [], []
    for number, pair in enumerate(pairs, start=1):
        order = candidates({name: systems[name][number - 1] for name in names})
        random.Random(f"{seed}/{number}").shuffle(order)
        labels = dict(zip(LABELS, order, strict=False))
        speakers = list(pair.get("context_speakers") or [])
        sheet.append(f"\n## {number}\n")
        for i, turn in enumerate(pair["context"]):
            speaker = (speakers[i] if i < len(speakers) else None) or "someone"
            sheet.append(f"> **{speaker}:** {bubbles(turn, empty='')}  ")
        if pair.get("persona"):  # a sheet may mix personas: say whose message comes next
            sheet.append(f"\n{pair['persona']} writes next:")
        sheet.append("")
        for label, (reply, _) in labels.items():
            sheet.append(f"- **{label}:** {reply}")
            rows.append([number, label, "", ""])
        items.append({"item": number, "conversation": pair.get("conversation"),
                      "persona": pair.get("persona"),
                      "labels": {label: group[0] if len(group) == 1 else group
                                 for label, (_, group) in labels.items()},
                      "replies": {label: reply for label, (reply, _) in labels.items()}})

    text = "\n".join(sheet) + "\n"
    key = {"items": items, "systems": names, "seed": seed}
    key["sheet"] = sheet_id(text, key)
    with atomic_output(folder / "sheet.md") as handle:
        handle.write(text)
    with atomic_output(folder / "grades.csv") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*GRADES_HEADER, SHEET_CELL + key["sheet"]])
        writer.writerows(rows)
    with atomic_output(folder / "key.json") as handle:
        json.dump(key, handle, indent=2, ensure_ascii=False)


def candidates(replies: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(reply as the sheet shows it, the systems that gave it) per distinct shown reply,
    in the order of `replies`: without repeats, one per system in that order, so a sheet
    without repeats shuffles and reads exactly as before sharing."""
    shown: dict[str, list[str]] = {}
    for name, reply in replies.items():
        shown.setdefault(bubbles(reply), []).append(name)
    return list(shown.items())


def label_systems(systems: str | list[str]) -> list[str]:
    """The systems behind one label of key.json: a name, or a list of those that shared
    the reply."""
    return [systems] if isinstance(systems, str) else list(systems)


def sheet_id(text: str, key: dict) -> str:
    """A sheet's id: the hash of what the reader sees and what the labels stand for, so
    the same sheet written again keeps its id and any other sheet gets another."""
    content = text + json.dumps(key, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(content.encode("utf-8")).hexdigest()[:12]


def _refuse_to_overwrite_marks(path: Path) -> None:
    """A reader's hour of grading must not vanish under a rerun into the same folder."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8", newline="") as handle:
        if any(any(cell.strip() for cell in row[2:]) for row in list(csv.reader(handle))[1:]):
            raise InputError("holds marks already; write the new sheet to another folder",
                             path=str(path))


def read_grades(path: str | Path,
                sheet: str | None = None) -> dict[tuple[int, str], tuple[bool, bool]]:
    """{(item, label): (sensible, specific)} from a filled grades.csv.

    Marks are 1/0, y/n, yes/no or true/false in any case. A reply that is not sensible
    is not specific whatever its mark says (the note's rule), and its `specific` may be
    left empty; any other empty or unreadable mark names its file and line. A header
    naming a sheet other than `sheet` (key.json's id) is refused; files from before
    sheets had ids name none and are read as they are.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read grades: {exc}", path=str(path)) from exc
    header = [cell.strip().lower() for cell in lines[0]] if lines else []
    if header[:4] != GRADES_HEADER:
        raise InputError(f"header must be {','.join(GRADES_HEADER)}", path=str(path), line=1)
    marked = [cell.removeprefix(SHEET_CELL) for cell in header[4:]
              if cell.startswith(SHEET_CELL)]
    if sheet and marked and marked[0] != sheet:
        raise InputError(f"these marks are for sheet {marked[0]}, not for the sheet of this "
                         f"key.json ({sheet}): grade them with their own sheet's folder",
                         path=str(path), line=1)
    grades: dict[tuple[int, str], tuple[bool, bool]] = {}
    for number, row in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row] + [""] * 4
        item, label, sensible_mark, specific_mark = cells[:4]
        if not item.isdigit() or not label:
            raise InputError(f"bad item or label {item!r}, {label!r}", path=str(path),
                             line=number)
        sensible = _mark(sensible_mark, "sensible", path, number)
        specific = sensible and _mark(specific_mark, "specific", path, number)
        if not sensible and specific_mark:
            _mark(specific_mark, "specific", path, number)  # still a typo when unused
        if (int(item), label.upper()) in grades:
            raise InputError(f"item {item} label {label} graded twice", path=str(path),
                             line=number)
        grades[int(item), label.upper()] = (sensible, specific)
    return grades


def _mark(text: str, column: str, path: Path, line: int) -> bool:
    try:
        return MARKS[text.lower()]
    except KeyError:
        raise InputError(f"{column} mark {text!r} is not 1/0, y/n, yes/no or true/false",
                         path=str(path), line=line) from None


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval: stays inside [0, 1] and is not empty at 0/n or n/n."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float], z: float = Z95) -> tuple[float, float]:
    """Normal-approximation interval of a mean of values in [0, 1], clipped to [0, 1].

    Values all alike have no spread, and the normal interval none either: then Wilson's
    interval of their total (a [0, 1] value with that mean varies at most as a 0/1 one).
    """
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if sd == 0:
        return wilson(mean * n, n, z)
    half = z * sd / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half)


def ssa_by_system(grades: dict[tuple[int, str], tuple[bool, bool]], key: dict) -> dict:
    """Per system: n, sensible, specific and SSA (their mean) with 95% intervals; and,
    where the key holds the replies (sheets written since 2026-12-02), their mean length
    in words and the share of short ones (SHORT_WORDS or fewer).

    SSA's interval is that of the mean per-reply score (sensible + specific) / 2, which
    averages to the same SSA but keeps the two marks of one reply together. The lengths
    are there because readers mark a bare "yeah" sensible (it rarely contradicts
    anything): a system that mostly says it scores about 40%, the way Meena's "I don't
    know" bot scored 35%, and only the share of short replies shows it.
    """
    marks: dict[str, list[tuple[bool, bool]]] = {name: [] for name in key["systems"]}
    lengths: dict[str, list[int]] = {name: [] for name in key["systems"]}
    with_replies = all("replies" in item for item in key["items"])
    expected = set()
    for item in key["items"]:
        for label, systems in item["labels"].items():
            expected.add((item["item"], label))
            if (item["item"], label) not in grades:
                raise InputError(f"no grades for item {item['item']}, label {label}")
            for name in label_systems(systems):
                marks[name].append(grades[item["item"], label])
                if with_replies:
                    lengths[name].append(word_count(item["replies"][label]))
    unknown = sorted(set(grades) - expected)
    if unknown:
        raise InputError(f"grades for items not in the key: {unknown[:5]}")
    result = {}
    for name, rows in marks.items():
        n = len(rows)
        sensible = sum(s for s, _ in rows)
        specific = sum(p for _, p in rows)
        scores = [(s + p) / 2 for s, p in rows]
        result[name] = {"n": n, "sensible": sensible / n, "sensible_ci": wilson(sensible, n),
                        "specific": specific / n, "specific_ci": wilson(specific, n),
                        "ssa": sum(scores) / n, "ssa_ci": mean_interval(scores)}
        if with_replies:
            result[name].update(words=sum(lengths[name]) / n,
                                short=sum(c <= SHORT_WORDS for c in lengths[name]) / n)
    return result


def word_count(shown: str) -> int:
    """Words of a reply as the sheet shows it (bubble separators and "(no reply)" are none)."""
    if shown == NO_REPLY:
        return 0
    return sum(any(char.isalnum() for char in token) for token in shown.split())


def render_ssa(result: dict) -> str:
    """Markdown table, best SSA first; each rate as a percentage with its 95% interval."""
    def cell(row: dict, key: str) -> str:
        low, high = row[f"{key}_ci"]
        return f"{row[key]:.0%} ({low:.0%}–{high:.0%})"

    lengths = all("short" in row for row in result.values())
    head = ["system", "n", "SSA", "sensible", "specific"]
    head += ["words", f"≤ {SHORT_WORDS} words"] if lengths else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in sorted(result.items(), key=lambda kv: (-kv[1]["ssa"], kv[0])):
        cells = [name, str(row["n"]), cell(row, "ssa"), cell(row, "sensible"),
                 cell(row, "specific")]
        cells += [f"{row['words']:.1f}", f"{row['short']:.0%}"] if lengths else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shared_replies(key: dict) -> tuple[int, Counter[str]]:
    """How many items showed one reply for several systems, and how often each group of
    systems ("retrieval + real") shared one."""
    groups: Counter[str] = Counter()
    items = 0
    for item in key["items"]:
        shared = [" + ".join(names) for names in map(label_systems, item["labels"].values())
                  if len(names) > 1]
        groups.update(shared)
        items += bool(shared)
    return items, groups


def render_shared(items: int, total: int, groups: Counter[str]) -> str:
    """The line under the table: systems that shared a reply got the same marks there, so
    their rates differ less than their replies did ("" when none shared)."""
    if not items:
        return ""
    each = ", ".join(f"{group} {count}" for group, count in groups.most_common())
    return (f"{items} of {total} items showed one reply for several systems, marked once "
            f"and credited to each: {each}.")


def grade(folder: str | Path, grades_path: str | Path) -> str:
    """Join a filled grades file with folder/key.json; write ssa.json and ssa.md; the table
    (and under it how many items shared a reply, when any did)."""
    folder = Path(folder)
    try:
        key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the key: {exc}", path=str(folder / "key.json")) from exc
    try:
        result = ssa_by_system(read_grades(grades_path, key.get("sheet")), key)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"malformed key: {exc!r}", path=str(folder / "key.json")) from exc
    except InputError as exc:
        if exc.path is not None:
            raise
        raise InputError(exc.reason, path=str(grades_path)) from None
    table = render_ssa(result)
    items, groups = shared_replies(key)
    note = render_shared(items, len(key["items"]), groups)
    saved = {"grades": str(grades_path), "items": len(key["items"]), "systems": result}
    if items:  # a key written before sharing grades exactly as it did
        saved.update(shared_items=items, shared=dict(groups.most_common()))
    with atomic_output(folder / "ssa.json") as handle:
        json.dump(saved, handle, indent=2, ensure_ascii=False)
    with atomic_output(folder / "ssa.md") as handle:
        handle.write(f"# Sense grading (SSA)\n\n{len(key['items'])} items graded blind "
                     f"({grades_path}); 95% intervals in brackets.\n\n{table}\n"
                     + (f"\n{note}\n" if note else ""))
    return f"{table}\n\n{note}" if note else table
