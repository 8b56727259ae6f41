"""Helpers for the training notebooks: look at chat data, train and evaluate in a cell.

Tables are lists of dicts (rendered as Markdown by `markdown_table`); plots return
`matplotlib.figure.Figure` objects made without pyplot, so nothing is shown twice and no
global figure state leaks between cells. `train_bundle` and `evaluate_bundle` run the
same code as `python -m model train` / `python -m model eval`, argument parsing
included, so a notebook run and a command-line run make the same bundle and report.
No TensorFlow is imported here; training imports it when it starts.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import yaml

from model.data.manifest import Manifest, load_manifest
from model.data.messages import Message
from model.files import atomic_output
from model.serve.bundle import REPORT_DIR
from model.text import BRK, words

# --- manifest ----------------------------------------------------------------------------


def write_manifest(path: str | Path, *, name: str, sources: Sequence[dict], persona,
                   rename: dict | None = None, pairs: dict | None = None,
                   model: dict | None = None, train: dict | None = None,
                   base: str | Path | None = None) -> Manifest:
    """Write a manifest YAML (source and base paths made absolute) and load it back.

    Relative paths are taken from the current directory, not from the manifest's folder,
    so a notebook can keep its manifest anywhere. Loading validates it: a mistake raises
    InputError naming the key.
    """
    path = Path(path)
    data: dict = {"name": name, "sources": [_absolute(source) for source in sources],
                  "persona": persona}
    for key, value in (("rename", rename), ("pairs", pairs), ("model", model),
                       ("train", train)):
        if value:
            data[key] = dict(value)
    if base is not None:
        data["base"] = str(Path(base).resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as handle:
        yaml.safe_dump(data, handle, sort_keys=False, allow_unicode=True)
    return load_manifest(path)


def _absolute(source: dict) -> dict:
    source = dict(source)
    if source.get("path") is not None:
        source["path"] = str(Path(source["path"]).resolve())
    return source


# --- tables --------------------------------------------------------------------------------


def senders_table(messages: Iterable[Message], top: int = 15) -> list[dict]:
    """One row per sender, most text messages first: who could be the persona."""
    texts: Counter = Counter()
    other: Counter = Counter()
    word_total: Counter = Counter()
    for message in messages:
        if message.kind == "text":
            texts[message.sender] += 1
            word_total[message.sender] += len(words(message.text))
        else:
            other[message.sender] += 1
    total = sum(texts.values()) or 1
    return [{"sender": sender, "text messages": count, "share": f"{count / total:.1%}",
             "mean words": round(word_total[sender] / count, 1),
             "media/system/deleted": other[sender]}
            for sender, count in texts.most_common(top)]


def examples_table(examples: Sequence[dict], systems: Sequence[str]) -> list[dict]:
    """eval's metrics.json `examples` as rows: last context turn, real reply, generated ones."""
    return [{"message": example["context"][-1] if example["context"] else "",
             "real reply": example["gold"],
             **{name: example.get(name, "") for name in systems}}
            for example in examples]


def sweep_table(rows: Sequence[dict]) -> list[dict]:
    """eval's sweep rows, best quality first, with the figures the sweep plot shows."""
    from model.eval.report import label

    return [{"decoding": label(row["decoding"]), "quality": round(row["quality"], 3),
             "distinct-2": round(row["distinct_2"], 3), "BLEU": round(row["bleu"], 2),
             "persona score": round(row["persona_share"], 3),
             "CPU ms/reply": round(row["cpu_ms_per_reply"], 1)}
            for row in sorted(rows, key=lambda row: -row["quality"])]


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table; `<brk>` shows as " / " and cells are escaped (no HTML, no pipes)."""
    if not rows:
        return "*(no rows)*"
    columns = list(columns or rows[0])

    def cell(value) -> str:
        text = " / ".join(part.strip() for part in str(value).split(BRK))
        return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace("|", "\\|").replace("\n", " "))

    lines = ["| " + " | ".join(map(cell, columns)) + " |", "|---" * len(columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# --- distributions ---------------------------------------------------------------------------


def hour_counts(messages: Iterable[Message]) -> list[int]:
    """Text messages per hour of the day (local time as exported); undated ones are left out."""
    counts = [0] * 24
    for message in messages:
        if message.kind != "text" or not message.time:
            continue
        try:
            counts[datetime.fromisoformat(message.time).hour] += 1
        except ValueError:
            continue
    return counts


def reply_lengths(pairs: Iterable[dict], persona: str) -> dict[str, list[int]]:
    """Words per reply turn (bubbles together), the persona's against everybody else's."""
    lengths: dict[str, list[int]] = {persona: [], "others": []}
    for pair in pairs:
        key = persona if pair["persona"] == persona else "others"
        lengths[key].append(len(words(pair["reply"])))
    return lengths


# --- plots -----------------------------------------------------------------------------------


def _figure(width: float, height: float, panels: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, panels)
    return figure, axes


def plot_senders(messages: Iterable[Message], top: int = 10, persona: str | None = None):
    """Horizontal bars of text messages per sender; the persona's bar in another colour."""
    rows = senders_table(messages, top)
    figure, axes = _figure(6, 0.35 * len(rows) + 1.2)
    names = [row["sender"][:28] for row in rows][::-1]
    counts = [row["text messages"] for row in rows][::-1]
    colours = ["#c44e52" if row["sender"] == persona else "#4c72b0" for row in rows][::-1]
    axes.barh(names, counts, color=colours)
    axes.set_xlabel("text messages")
    axes.set_title("messages per sender")
    return figure


def plot_reply_lengths(pairs: Iterable[dict], persona: str, max_words: int = 40):
    """Histogram of reply lengths in words (share of replies), persona vs the rest."""
    lengths = reply_lengths(pairs, persona)
    figure, axes = _figure(6, 3.5)
    bins = range(0, max_words + 2)
    for name, values in lengths.items():
        if values:
            clipped = [min(v, max_words) for v in values]
            axes.hist(clipped, bins=bins, alpha=0.6, density=True,
                      label=f"{name} ({len(values)} replies)")
    axes.set_xlabel(f"words per reply (≥{max_words} in the last bin)")
    axes.set_ylabel("share of replies")
    axes.set_title("reply length")
    axes.legend(fontsize=8)
    return figure


def plot_busiest_hours(messages: Iterable[Message]):
    """Bars of text messages per hour of the day."""
    counts = hour_counts(messages)
    figure, axes = _figure(6, 3)
    axes.bar(range(24), counts, color="#55a868")
    axes.set_xticks(range(0, 24, 3))
    axes.set_xlabel("hour of day (local time of the export)")
    axes.set_ylabel("text messages")
    axes.set_title("busiest hours" if any(counts) else "busiest hours (no timestamps)")
    return figure


SWEEP_PANELS = [("distinct_2", "distinct-2"), ("bleu", "BLEU"),
                ("persona_share", "persona score"), ("cpu_ms_per_reply", "CPU ms per reply")]


def plot_sweep_metrics(rows: Sequence[dict], real_share: float | None = None,
                       budget_ms: float | None = None):
    """One bar panel per metric, one bar per decoding setting of eval's sweep rows.

    Dashed lines: the persona score of the persona's real replies, the latency budget.
    """
    from model.eval.report import label

    figure, axes = _figure(14, 0.3 * len(rows) + 1.5, len(SWEEP_PANELS))
    names = [label(row["decoding"]) for row in rows][::-1]
    references = {"persona_share": (real_share, "real replies"),
                  "cpu_ms_per_reply": (budget_ms, "latency budget")}
    for index, (ax, (key, title)) in enumerate(zip(axes, SWEEP_PANELS, strict=True)):
        ax.barh(names, [row[key] for row in rows][::-1], color="#4c72b0")
        value, name = references.get(key, (None, None))
        if value is not None:
            ax.axvline(value, color="#c44e52", linestyle="--", label=name)
            ax.legend(fontsize=7)
        ax.set_title(title)
        if index:
            ax.tick_params(axis="y", labelleft=False)
    return figure


# --- the model commands, called from a cell ---------------------------------------------------


def _run_command(module_name: str, argv: list[str]) -> None:
    """Parse `argv` with the command's own parser and run it; InputError propagates."""
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m model {module_name.rsplit('.', 1)[1]}")
    module.add_arguments(parser)
    code = module.run(parser.parse_args(argv))
    if code:
        raise RuntimeError(f"{module_name} exited with {code}")


def train_bundle(manifest: str | Path, out: str | Path, work: str | Path | None = None,
                 threads: int = 1, epochs: int | None = None) -> Path:
    """`python -m model train MANIFEST --out OUT`; returns the bundle folder."""
    argv = [str(manifest), "--out", str(out), "--threads", str(threads)]
    if work is not None:
        argv += ["--work", str(work)]
    if epochs is not None:
        argv += ["--epochs", str(epochs)]
    _run_command("model.train.trainer", argv)
    return Path(out)


def evaluate_bundle(bundle: str | Path, report: str | Path | None = None, sweep: bool = True,
                    limit: int = 500, manifest: str | Path | None = None,
                    threads: int = 1, adopt: bool = False) -> dict:
    """`python -m model eval BUNDLE [--sweep [--adopt-sweep]]`; returns its metrics.json.

    With `sweep` the report has the sweep's pick as the system `sweep-pick`; with `adopt`
    too, the pick becomes the bundle's default decoding (bundle.json).
    """
    report = Path(report) if report is not None else Path(bundle) / REPORT_DIR
    argv = [str(bundle), "--report", str(report), "--limit", str(limit),
            "--threads", str(threads)]
    if sweep:
        argv += ["--sweep", "--adopt-sweep"] if adopt else ["--sweep"]
    if manifest is not None:
        argv += ["--manifest", str(manifest)]
    _run_command("model.eval.evaluate", argv)
    return json.loads((report / "metrics.json").read_text(encoding="utf-8"))
