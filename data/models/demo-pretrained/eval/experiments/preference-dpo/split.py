"""split.py DIR PARTS: DIR/sheet.md + grades.csv -> DIR/part{k}/sheet.md + grades.csv;
merge: split.py DIR PARTS --merge -> DIR/grades.csv"""

import csv
import re
import sys
from pathlib import Path

d, parts = Path(sys.argv[1]), int(sys.argv[2])
blocks = re.split(r"\n(?=## \d+\n)", (d / "sheet.md").read_text())
head, items = blocks[0], blocks[1:]
rows = list(csv.reader(open(d / "grades.csv")))
per = -(-len(items) // parts)
if "--merge" in sys.argv:
    out = [rows[0]]
    for k in range(parts):
        out += list(csv.reader(open(d / f"part{k + 1}" / "grades.csv")))[1:]
    assert len(out) == len(rows), (len(out), len(rows))
    csv.writer(open(d / "grades.csv", "w"), lineterminator="\n").writerows(out)
    print("merged", len(out) - 1)
else:
    for k in range(parts):
        chunk = items[k * per : (k + 1) * per]
        nums = {int(b.split("\n", 1)[0][3:]) for b in chunk}
        p = d / f"part{k + 1}"
        p.mkdir(exist_ok=True)
        (p / "sheet.md").write_text(head + "\n" + "\n".join(chunk))
        csv.writer(open(p / "grades.csv", "w"), lineterminator="\n").writerows(
            [rows[0]] + [r for r in rows[1:] if int(r[0]) in nums]
        )
        print(p, len(nums), "items")
