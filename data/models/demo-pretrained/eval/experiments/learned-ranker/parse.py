"""All graded blind sheets -> rows (sheet, item, persona, context, speakers, system, reply, sensible, specific)."""

import collections
import csv
import json
import re
from pathlib import Path

ROOT = Path("data/models/demo-pretrained/eval")
TEST_MARKERS = ("/blind/", "/blind-early-stopping/", "/blind-augment/", "/blind-unseen/", "/test/")


def parse_sheet(path):
    text = path.read_text()
    items = {}
    for block in re.split(r"\n(?=## \d+\n)", text)[1:]:
        num = int(block.split("\n", 1)[0][3:])
        ctx, spk, cands = [], [], {}
        for line in block.splitlines():
            m = re.match(r"> \*\*(.+?):\*\* (.*?)\s*$", line)
            if m:
                spk.append(m.group(1))
                ctx.append(m.group(2))
                continue
            m = re.match(r"- \*\*([A-Z]):\*\* (.*)$", line)
            if m:
                cands[m.group(1)] = m.group(2)
        items[num] = (ctx, spk, cands)
    return items


rows = []
for key_path in sorted(ROOT.rglob("key.json")):
    folder = key_path.parent
    if not (folder / "sheet.md").exists():
        continue
    split = "test" if any(m in str(folder) + "/" for m in TEST_MARKERS) else "dev"
    key = json.loads(key_path.read_text())
    sheet = parse_sheet(folder / "sheet.md")
    marks = collections.defaultdict(list)
    for g in sorted(folder.glob("grades*.csv")):
        for r in csv.DictReader(open(g)):
            if not r["sensible"]:
                continue
            s = r["sensible"].strip().lower() in ("1", "y", "yes", "true")
            sp = s and (r["specific"] or "0").strip().lower() in ("1", "y", "yes", "true")
            marks[(int(r["item"]), r["label"])].append((s, sp))
    for it in key["items"]:
        ctx, spk, cands = sheet[it["item"]]
        for label, system in it["labels"].items():
            m = marks.get((it["item"], label))
            if not m:
                continue
            rows.append(
                dict(
                    sheet=str(folder.relative_to(ROOT)),
                    split=split,
                    item=it["item"],
                    persona=it.get("persona") or "Sam",
                    context=ctx,
                    speakers=spk,
                    system=system,
                    reply=cands[label],
                    sensible=sum(a for a, _ in m) / len(m),
                    specific=sum(b for _, b in m) / len(m),
                )
            )
json.dump(rows, open("/tmp/rank/rows.json", "w"))
c = collections.Counter((r["split"]) for r in rows)
print(c)
print(collections.Counter(r["sheet"] for r in rows))
