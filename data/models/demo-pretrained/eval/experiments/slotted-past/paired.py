"""Paired counts on one blind sheet: how often system NEW's reply got a mark that OLD's
reply to the same context did not, and the reverse.

    python paired.py SHEET_DIR NEW OLD      (labels as in the sheet's key.json)
"""
import csv
import json
import sys
from pathlib import Path

folder, new, old = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
with open(folder / "grades.csv", encoding="utf-8") as handle:
    marks = {(row["item"], row["label"]): row for row in csv.DictReader(handle)}
wins = {"sensible": [0, 0], "specific": [0, 0]}
for item in key["items"]:
    label = {system: letter for letter, system in item["labels"].items()}
    ours, theirs = (marks[(str(item["item"]), label[s])] for s in (new, old))
    for mark, (better, worse) in wins.items():
        a, b = ours[mark] == "1", theirs[mark] == "1"
        wins[mark] = [better + (a and not b), worse + (b and not a)]
for mark, (better, worse) in wins.items():
    print(f"{mark}: {new} only {better}, {old} only {worse}")
