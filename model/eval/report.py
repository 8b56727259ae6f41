"""The eval command's outputs: report.md tables and the PNG charts (matplotlib, Agg).

Kept apart from model/eval/evaluate.py so the metric computation reads on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.files import atomic_output

# (metrics.json key, column heading); a system without the key shows "–"
COLUMNS = [("perplexity", "ppl/token"), ("perplexity_word", "ppl/word"),
           ("bits_per_char", "bits/char"), ("hits_at_1", "Hits@1"), ("bleu", "BLEU"),
           ("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"),
           ("length_ratio", "length ratio"), ("generic_rate", "generic rate"),
           ("novel_word_share", "novel words"), ("persona_share", "persona share"),
           ("persona_accuracy", "persona acc.")]
REAL = "real replies (held out)"

DEFINITIONS = """\
Definitions (model/eval/metrics.py; "words" are model.text.words tokens, so they
compare across tokenizers):

- ppl/token: perplexity of the real replies per model token, end token included (the
  model's own view; not comparable across tokenizers). ppl/word and bits/char divide the
  same total NLL by the replies' words and by their characters × ln 2, which do compare.
- Hits@1: how often the model's mean log-probability per token ranks the real reply
  first among up to {hits_candidates} candidates: it and other held-out replies of the
  persona ({hits_contexts} contexts; chance {hits_chance:.3f}).
- distinct-n: distinct n-grams ÷ all n-grams of the replies.
- generic rate: share of replies that repeat another reply of the set (lower-cased,
  whitespace collapsed, end marks stripped): 0 when all differ, 1 for a constant reply.
- novel words: share of the replies' letter-only words never seen in the training pairs.
- persona share: share of replies the persona classifier assigns to the persona.
- persona acc.: the classifier's balanced accuracy on these replies (as the persona's)
  and {other_turns} held-out turns of other people (as not); a repeated reply earns its
  hit once, so a constant reply scores at most about 0.5.
"""


def render_table(results: dict, real: dict) -> str:
    """One row per system and a last row for the real replies (`real`: their metrics)."""
    lines = ["| system | " + " | ".join(heading for _, heading in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for name, row in {**results, REAL: real}.items():
        cells = [f"{row[key]:.3f}" if key in row else "–" for key, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_report(name: str, summary: dict) -> str:
    out = [f"# Evaluation of `{name}`", "",
           f"{summary['test_pairs']} held-out pairs answered by {summary['persona']} "
           f"({summary['train_pairs']} training pairs for the baselines and the classifier).",
           f"Decoding: `{json.dumps(summary['decoding'])}`.",
           *([f"seq2seq-greedy is the ablation bundle `{summary['ablation']['bundle']}` "
              f"(`{summary['ablation']['name']}`, tokenizer sha256 "
              f"{summary['ablation']['tokenizer_sha256'][:12]}…)."]
             if summary["ablation"] else []),
           "", render_table(summary["systems"], summary["real_replies"]), "",
           DEFINITIONS.format(**{f"hits_{k}": v for k, v in summary["hits"].items()},
                              other_turns=summary["other_turns"]),
           "![metrics](metrics.png)", "",
           "## Latency", "",
           f"One reply at a time (batch 1) to the first {summary['latency_pairs']} held-out "
           "contexts, default decoding; wall time (median, p90) and the process's CPU time "
           "(median).", "",
           "| model | median ms | p90 ms | CPU ms |", "|---|---|---|---|"]
    out += [f"| {name} | {row['ms_per_reply']:.1f} | {row['p90_ms_per_reply']:.1f} | "
            f"{row['cpu_ms_per_reply']:.1f} |"
            for name, row in summary["systems"].items() if "ms_per_reply" in row]
    out.append("")
    if summary["sweep"]:
        out += ["## Decoding sweep", "",
                "quality = mean(persona share, distinct-2, 1 - generic rate, BLEU/100); the "
                "default is the best setting within the latency budget. The sweep answered "
                f"the persona's pairs of {len(summary['sweep_conversations'])} validation "
                "conversations, never the test pairs above.", "",
                "| decoding | quality | CPU ms/reply | wall ms/reply |", "|---|---|---|---|"]
        out += [f"| {label(r['decoding'])} | {r['quality']:.3f} | {r['cpu_ms_per_reply']:.1f} | "
                f"{r['ms_per_reply']:.1f} |"
                for r in summary["sweep"]]
        out += ["", "![sweep](sweep.png)", ""]
    out += ["## Examples", ""]
    for example in summary["examples"]:
        out.append(f"- **context**: {' / '.join(example['context'])}")
        for key, value in example.items():
            if key != "context":
                out.append(f"  - {key}: {value}")
    return "\n".join(out) + "\n"


SHORT = {"temperature": "t", "top_p": "p", "top_k": "k", "beam_width": "width",
         "repetition_penalty": "rep", "no_repeat_ngram": "ngram", "length_bonus": "lb",
         "mmi_lambda": "lambda"}


def label(settings: dict) -> str:
    """A short name for decoding settings: "sample t=0.7 p=0.9 rerank=8"."""
    parts = [settings.get("strategy", "default")]
    parts += [f"{SHORT.get(k, k)}={v}" for k, v in settings.items()
              if k != "strategy" and not (k == "rerank" and v == 0)]
    return " ".join(parts)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_systems(results: dict, real: dict, path: Path) -> None:
    """A bar panel per text metric, a dashed line at the real replies' value."""
    plt = _pyplot()
    shown = ["bleu", "distinct_2", "generic_rate", "novel_word_share", "persona_share",
             "persona_accuracy"]
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.5))
    names = list(results)
    for ax, metric in zip(axes, shown, strict=True):
        ax.bar(names, [results[n][metric] for n in names], color="#4c72b0")
        if metric in real:
            ax.axhline(real[metric], color="#c44e52", linestyle="--", label="real replies")
            ax.legend(fontsize=8)
        ax.set_title(metric)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    _save(plt, fig, path)


def plot_sweep(rows: list[dict], budget_ms: float, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r["cpu_ms_per_reply"] for r in rows], [r["quality"] for r in rows])
    for r in rows:
        ax.annotate(label(r["decoding"]), (r["cpu_ms_per_reply"], r["quality"]), fontsize=6)
    ax.axvline(budget_ms, color="#c44e52", linestyle="--", label="latency budget")
    ax.set_xlabel("CPU ms per reply (batch 1, median)")
    ax.set_ylabel("quality (see model/eval/evaluate.py:quality)")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def _save(plt, fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_output(path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
