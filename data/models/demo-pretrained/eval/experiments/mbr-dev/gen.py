"""Minimum Bayes risk selection (Kumar & Byrne 2004; for dialogue: the reply most like
the other candidates) against the demo's default, beam 4's first beam.

For each of N contexts of a split: the default reply, beam 4's four beams (a search kept
on until four have ended) and 8 samples (temperature 0.7, top-p 0.9); then
    mbr-beams  the beam with the highest summed utility against the other beams
    mbr-all    the candidate (beams and samples) with the highest summed utility
               against all the others
utility(a, b): the mean of unigram and bigram F1 between their lowercased words.

    python gen.py OUT.json N SEED SPLIT      (from the repository root)
"""
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())
import model.serve.generate as generate_module
from model.eval import blind
from model.eval.evaluate import load_split, sheet_personas
from model.eval.scores import request_for
from model.serve.load import load_replier

DEMO = Path("data/models/demo-pretrained")
SAMPLES = {"strategy": "sample", "temperature": 0.7, "top_p": 0.9, "rerank": 8,
           "mmi_lambda": 0}
BEAMS = {"rerank": 4, "mmi_lambda": 0}  # the default beam 4, its four best kept

captured: list[list[list[int]]] = []


def capture(step, state, lm_state, flat, owner, rules, cfg, conditional=None):
    """Keep the candidates; score them so the first (the beam order) wins."""
    captured.append([list(tokens) for tokens in flat])
    return -np.arange(len(flat), dtype=float)


generate_module.mmi_scores = capture


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def f1(a: Counter, b: Counter) -> float:
    overlap = sum((a & b).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(a.values()), overlap / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def utility(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    grams = [(Counter(wa), Counter(wb)),
             (Counter(zip(wa, wa[1:], strict=False)), Counter(zip(wb, wb[1:], strict=False)))]
    return sum(f1(x, y) for x, y in grams) / 2


def mbr(candidates: list[str]) -> str:
    """The candidate with the highest summed utility against the others (first on ties)."""
    totals = [sum(utility(c, other) for j, other in enumerate(candidates) if j != i)
              for i, c in enumerate(candidates)]
    return candidates[totals.index(max(totals))]


def main():
    out, count, seed, split = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    replier = load_replier(DEMO)
    train, held = load_split(replier.meta, DEMO, None, None, split)
    contexts = blind.pick_contexts(held, sheet_personas(replier, ["all"]), count, seed)
    rows = []
    for i, pair in enumerate(contexts):
        runs = {}
        for name, settings in (("beams", BEAMS), ("samples", SAMPLES)):
            captured.clear()
            default = replier.reply_batch([request_for(pair, pair["persona"], settings,
                                                       seed + i)])[0].text
            runs[name] = [replier._text(tokens) for tokens in captured[0]] if captured else \
                [default]
        beams, samples = runs["beams"], runs["samples"]
        default = replier.reply_batch([request_for(pair, pair["persona"], {}, seed + i)])[0]
        rows.append({"default": default.text, "mbr-beams": mbr(beams),
                     "mbr-all": mbr(beams + samples), "beams": beams, "samples": samples})
        if i % 20 == 0:
            print(i, rows[-1]["default"], "|", rows[-1]["mbr-all"], flush=True)
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({"rows": rows, "contexts": [p["context"] for p in contexts],
                   "seed": seed, "split": split}, handle, indent=1)
    for name in ("mbr-beams", "mbr-all"):
        print(name, "differs from the default in",
              sum(r[name] != r["default"] for r in rows), "of", len(rows))


if __name__ == "__main__":
    main()
