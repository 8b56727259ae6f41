"""`python -m model eval BUNDLE` — the fixed metrics of DESIGN.md against baselines.

Test pairs are the held-out conversations of training (`model.pairs.is_heldout` with the
manifest's val_fraction), or `--pairs FILE`; only pairs answered by the bundle's persona
are scored. Training pairs feed the baselines and the persona classifier.

Systems, all on the same test pairs:
    doppel          the bundle with its default decoding
    doppel+grounding  the same, grounded on the retrieved training reply when its
                    similarity is at least GROUND_THRESHOLD (bundles with retrieval.json)
    most-frequent   the persona's most frequent training reply, every time
    retrieval       the reply of the most similar training context (TF-IDF, model.retrieval);
                    the most frequent reply when nothing overlaps
    seq2seq-greedy  plain greedy decoding, no penalties: of the --ablation bundle (trained
                    without the persona embedding) when given, else of this bundle

Writes report.md, metrics.json and metrics.png into --report (default BUNDLE/eval) and
the headline numbers into bundle.json `eval`. `--sweep` first tries a grid of decoding
settings, plots quality against latency (sweep.png) and stores the best setting that
meets the latency budget as bundle.json `decoding` (the runtime's default from then on).

`--blind DIR` instead writes a blind sense-grading sheet (model.blind): --contexts
held-out contexts answered by the bundle, every --compare bundle, retrieval and the real
reply, under shuffled labels. `--blind DIR --grades FILE` scores the filled sheet (SSA).
"""

from __future__ import annotations

import json
import shlex
import statistics
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

from model import metrics
from model.bundle import read_bundle, write_bundle
from model.errors import InputError
from model.eval_report import label, plot_sweep, plot_systems, render_report, render_table
from model.files import atomic_output
from model.retrieval import FILE_NAME as RETRIEVAL_FILE
from model.retrieval import RetrievalIndex
from model.runtime import Replier, ReplyRequest

GREEDY = {"strategy": "greedy", "rerank": 0, "repetition_penalty": 1.0, "no_repeat_ngram": 0}
SWEEP_GRID = [
    GREEDY,
    {"strategy": "beam", "beam_width": 4, "rerank": 0},
    *({"strategy": "sample", "temperature": t, "top_p": p, "rerank": r}
      for t in (0.7, 1.0) for p in (0.9, 1.0) for r in (0, 8)),
]
GROUND_THRESHOLD = 0.3  # retrieval similarity for the grounded variant (doppel+grounding)
LATENCY_BUDGET_MS = 20.0
LATENCY_SAMPLES = 20
CLASSIFIER_TEXTS = 20_000  # per class


def add_arguments(parser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle directory")
    parser.add_argument("--pairs", type=Path, help="test pairs JSONL (default: held-out split)")
    parser.add_argument("--manifest", type=Path,
                        help="manifest for the training pairs (default: the bundle's)")
    parser.add_argument("--report", type=Path, help="output folder (default BUNDLE/eval)")
    parser.add_argument("--ablation", type=Path,
                        help="bundle trained without persona embedding (seq2seq baseline)")
    parser.add_argument("--sweep", action="store_true",
                        help="try a decoding grid first and store the best as the default")
    parser.add_argument("--limit", type=int, default=500, help="at most this many test pairs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--blind", type=Path, metavar="DIR",
                        help="write a blind sense-grading sheet into DIR instead of the metrics")
    parser.add_argument("--compare", type=Path, nargs="+", default=[], metavar="BUNDLE",
                        help="with --blind: more bundles whose replies go in the sheet")
    parser.add_argument("--contexts", type=int, default=60,
                        help="with --blind: how many held-out contexts (default 60)")
    parser.add_argument("--split", choices=("test", "dev"), default="test",
                        help="with --blind: held-out contexts from the test split (report) "
                             "or the validation split (choosing settings)")
    parser.add_argument("--grades", type=Path, metavar="FILE",
                        help="with --blind DIR: score this filled grades.csv (writes DIR/ssa.*)")


# --- data ----------------------------------------------------------------------------------


def load_split(bundle_meta: dict, bundle_dir: Path, manifest_path: Path | None,
               pairs_path: Path | None, split: str = "test") -> tuple[list[dict], list[dict]]:
    """(training pairs, held-out pairs) split by conversation exactly as training split
    them; `split="dev"` holds out the validation conversations instead of the test ones
    (for choosing settings without touching test), and then trains on "train" only."""
    from model.manifest import load_manifest
    from model.pairs import build_pairs_from_manifest, is_heldout, read_pairs, split_of

    if manifest_path is None:
        manifest_path = recorded_manifest(bundle_meta)
        if manifest_path is None:
            raise InputError("bundle.json does not record its manifest; pass --manifest",
                             path=str(bundle_dir / "bundle.json"))
    manifest = load_manifest(manifest_path)
    fraction = float(manifest.train["val_fraction"])
    pairs = build_pairs_from_manifest(manifest)
    if split == "dev":
        return ([p for p in pairs if split_of(p["conversation"], fraction) == "train"],
                [p for p in pairs if split_of(p["conversation"], fraction) == "val"])
    train = [p for p in pairs if not is_heldout(p["conversation"], fraction)]
    test = list(read_pairs(pairs_path)) if pairs_path else \
        [p for p in pairs if is_heldout(p["conversation"], fraction)]
    return train, test


def recorded_manifest(meta: dict) -> Path | None:
    """The manifest a bundle was trained from: data.manifest, else read from `command`."""
    recorded = (meta.get("data") or {}).get("manifest")
    if recorded:
        return Path(recorded)
    words = shlex.split(meta.get("command") or "")
    if "train" in words[:-1]:
        candidate = Path(words[words.index("train") + 1])
        return candidate if candidate.is_file() else None
    return None


def plain(reply: str) -> str:
    """A reply as one line of text (bubbles joined by spaces) for BLEU and the classifier."""
    return " ".join(part.strip() for part in reply.split("<brk>") if part.strip())


def request_for(pair: dict, persona: str, decoding: dict, seed: int) -> ReplyRequest:
    *context, message = pair["context"]
    return ReplyRequest(message, context, persona, {**decoding, "seed": seed},
                        list(pair.get("context_speakers") or []) or None)


def generate(replier: Replier, test: list[dict], decoding: dict, seed: int,
             batch_size: int, persona: str | None = None) -> list[str]:
    persona = persona or replier.default_persona
    requests = [request_for(p, persona, decoding, seed + i) for i, p in enumerate(test)]
    replies: list[str] = []
    for start in range(0, len(requests), batch_size):
        replies += [r.text for r in replier.reply_batch(requests[start:start + batch_size])]
    return replies


def latency_ms(replier: Replier, test: list[dict], decoding: dict, seed: int) -> dict:
    """Median wall and process-CPU ms of one batch-1 reply over the first test pairs.

    The latency budget is checked against CPU time: on a shared machine wall time also
    counts waiting for a core, while the CPU time of a single-threaded reply is what it
    takes on an idle core.
    """
    persona = replier.default_persona
    replier.reply_batch([request_for(test[0], persona, decoding, seed)])  # warm-up
    walls, cpus = [], []
    for i, pair in enumerate(test[:LATENCY_SAMPLES]):
        request = request_for(pair, persona, decoding, seed + i)
        wall, cpu = time.perf_counter(), time.process_time()
        replier.reply_batch([request])
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"ms_per_reply": statistics.median(walls), "cpu_ms_per_reply": statistics.median(cpus)}


def perplexity(replier: Replier, test: list[dict], batch_size: int) -> float:
    persona = replier.default_persona
    nlls: list[float] = []
    for start in range(0, len(test), batch_size):
        chunk = test[start:start + batch_size]
        requests = [request_for(p, persona, {}, 0) for p in chunk]
        for logps in replier.token_logprobs(requests, [p["reply"] for p in chunk]):
            nlls.extend((-logps).tolist())
    return metrics.perplexity(nlls)


# --- persona classifier --------------------------------------------------------------------


class PersonaClassifier:
    """Character n-gram logistic regression: the persona's replies vs other speakers' turns."""

    def __init__(self, train: list[dict], persona: str, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        mine = {plain(p["reply"]) for p in train if p["persona"] == persona}
        others = {plain(p["reply"]) for p in train if p["persona"] != persona}
        for pair in train:
            for turn, speaker in zip(pair["context"], pair.get("context_speakers") or [],
                                     strict=False):
                if speaker != persona:
                    others.add(plain(turn))
        others -= mine
        mine.discard("")
        others.discard("")
        if not mine or not others:
            raise InputError(f"persona classifier needs replies of {persona!r} and of others")
        mine, others = _spread(sorted(mine)), _spread(sorted(others))
        texts = mine + others
        labels = [1] * len(mine) + [0] * len(others)
        self.pipeline = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                            min_df=1),
            LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed))
        self.pipeline.fit(texts, labels)
        self.sizes = {"persona": len(mine), "others": len(others)}

    def share(self, replies: list[str]) -> float:
        """Share of `replies` the classifier assigns to the persona."""
        if not replies:
            return float("nan")
        return float(np.mean(self.pipeline.predict([plain(r) for r in replies])))


def _spread(texts: list[str], limit: int = CLASSIFIER_TEXTS) -> list[str]:
    """At most `limit` texts, evenly spaced (deterministic), to bound training time."""
    return texts if len(texts) <= limit else [texts[i * len(texts) // limit]
                                              for i in range(limit)]


# --- scoring -------------------------------------------------------------------------------


def score(replies: list[str], golds: list[str], classifier: PersonaClassifier) -> dict:
    import sacrebleu

    generated = [metrics.words(r) for r in replies]
    gold = [metrics.words(g) for g in golds]
    return {
        "bleu": sacrebleu.corpus_bleu([plain(r) for r in replies],
                                      [[plain(g) for g in golds]]).score,
        "distinct_1": metrics.distinct_n(generated, 1),
        "distinct_2": metrics.distinct_n(generated, 2),
        "length_ratio": metrics.length_ratio(generated, gold),
        "generic_rate": metrics.generic_rate([plain(r) for r in replies]),
        "persona_share": classifier.share(replies),
    }


def quality(row: dict) -> float:
    """One number for choosing decoding defaults: in-character, varied, not generic, on target.

    mean of persona share, distinct-2, 1 - generic rate and BLEU/100 (all in [0, 1]).
    """
    return (row["persona_share"] + row["distinct_2"] + (1 - row["generic_rate"])
            + row["bleu"] / 100) / 4


def baselines(train: list[dict], test: list[dict], persona: str) -> dict[str, list[str]]:
    own = [p for p in train if p["persona"] == persona]
    if not own:
        raise InputError(f"no training pairs answered by {persona!r}")
    frequent = Counter(p["reply"] for p in own).most_common(1)[0][0]
    index = RetrievalIndex.from_pairs(own)
    retrieved = []
    for pair in test:
        hit = index.search(pair["context"])
        retrieved.append(hit.reply if hit else frequent)
    return {"most-frequent": [frequent] * len(test), "retrieval": retrieved}


# --- the command ---------------------------------------------------------------------------


def sweep(replier: Replier, test: list[dict], golds: list[str], classifier: PersonaClassifier,
          args) -> tuple[dict, list[dict]]:
    """Score every SWEEP_GRID setting; the best one within the latency budget."""
    rows = []
    for settings in SWEEP_GRID:
        replies = generate(replier, test, settings, args.seed, args.batch_size)
        row = {"decoding": settings, **score(replies, golds, classifier),
               **latency_ms(replier, test, settings, args.seed)}
        row["quality"] = quality(row)
        rows.append(row)
        print(f"sweep {label(settings)}: quality {row['quality']:.3f}, "
              f"{row['cpu_ms_per_reply']:.1f} ms CPU per reply")
    fast = [row for row in rows if row["cpu_ms_per_reply"] <= LATENCY_BUDGET_MS]
    best = max(fast, key=lambda r: r["quality"]) if fast else \
        min(rows, key=lambda r: r["cpu_ms_per_reply"])
    return best["decoding"], rows


def blind_sheet(args) -> int:
    """Every system answers the same held-out contexts of the bundle's persona; one sheet."""
    from model import blind

    replier = Replier.load(args.bundle, threads=args.threads)
    persona = replier.default_persona
    train, test = load_split(replier.meta, args.bundle, args.manifest, args.pairs, args.split)
    contexts = blind.pick_contexts(test, persona, args.contexts, args.seed)
    if not contexts:
        raise InputError(f"no held-out pairs answered by {persona!r} to grade",
                         path=str(args.pairs or args.bundle))
    folders = [args.bundle, *args.compare]
    repliers = [replier, *(Replier.load(path, threads=args.threads) for path in args.compare)]
    for folder, other in zip(folders, repliers, strict=True):
        if persona not in other.personas:
            raise InputError(f"does not know the persona {persona!r}", path=str(folder))
    names = blind.unique_names([(r.name, folder) for r, folder in
                                zip(repliers, folders, strict=True)], taken=("retrieval", "real"))
    systems = {name: generate(r, contexts, {}, args.seed, args.batch_size, persona)
               for name, r in zip(names, repliers, strict=True)}
    systems["retrieval"] = baselines(train, contexts, persona)["retrieval"]
    systems["real"] = [p["reply"] for p in contexts]
    blind.write_sheet(args.blind, contexts, systems, args.seed)
    print(f"wrote {args.blind}/sheet.md and grades.csv ({len(contexts)} contexts, "
          f"{len(systems)} replies each) for the reader, key.json for --grades")
    return 0


def run(args) -> int:
    if args.blind:
        if args.grades:
            from model.blind import grade

            print(grade(args.blind, args.grades))
            print(f"wrote {args.blind}/ssa.json and ssa.md")
            return 0
        return blind_sheet(args)
    if args.grades or args.compare:
        raise InputError("--grades and --compare only work with --blind DIR")
    bundle_dir = args.bundle
    replier = Replier.load(bundle_dir, threads=args.threads)
    persona = replier.default_persona
    train, test = load_split(replier.meta, bundle_dir, args.manifest, args.pairs)
    test = [p for p in test if p["persona"] == persona][:args.limit]
    if not test:
        raise InputError(f"no held-out pairs answered by {persona!r} to evaluate on",
                         path=str(args.pairs or bundle_dir))
    golds = [p["reply"] for p in test]
    classifier = PersonaClassifier(train, persona, seed=args.seed)
    report_dir = args.report or bundle_dir / "eval"
    report_dir.mkdir(parents=True, exist_ok=True)

    sweep_rows: list[dict] = []
    if args.sweep:
        chosen, sweep_rows = sweep(replier, test, golds, classifier, args)
        meta = read_bundle(bundle_dir)
        meta["decoding"] = chosen
        write_bundle(bundle_dir, meta)
        replier = Replier.load(bundle_dir, threads=args.threads)  # now with the new default
        plot_sweep(sweep_rows, LATENCY_BUDGET_MS, report_dir / "sweep.png")

    ablation = Replier.load(args.ablation, threads=args.threads) if args.ablation else replier
    systems = {"doppel": generate(replier, test, {}, args.seed, args.batch_size)}
    if (bundle_dir / RETRIEVAL_FILE).is_file():
        systems["doppel+grounding"] = generate(replier, test, {"ground": GROUND_THRESHOLD},
                                               args.seed, args.batch_size)
    systems = {**systems, **baselines(train, test, persona),
               "seq2seq-greedy": generate(ablation, test, GREEDY, args.seed, args.batch_size)}
    results = {name: score(replies, golds, classifier) for name, replies in systems.items()}
    results["doppel"]["perplexity"] = perplexity(replier, test, args.batch_size)
    results["doppel"].update(latency_ms(replier, test, {}, args.seed))
    results["seq2seq-greedy"]["perplexity"] = perplexity(ablation, test, args.batch_size)
    summary = {
        "test_pairs": len(test),
        "train_pairs": len(train),
        "persona": persona,
        "persona_share_real": classifier.share(golds),
        "classifier_texts": classifier.sizes,
        "decoding": asdict(replier.decoding.without_seed()),
        "ablation": str(args.ablation) if args.ablation else None,
        "systems": results,
        "sweep": sweep_rows,
        "examples": [{"context": p["context"], "gold": p["reply"],
                      **{name: replies[i] for name, replies in systems.items()}}
                     for i, p in enumerate(test[:10])],
    }
    with atomic_output(report_dir / "metrics.json") as handle:
        json.dump(summary, handle, indent=2, ensure_ascii=False)
    plot_systems(results, summary["persona_share_real"], report_dir / "metrics.png")
    with atomic_output(report_dir / "report.md") as handle:
        handle.write(render_report(replier.name, summary))

    meta = read_bundle(bundle_dir)
    headline = results["doppel"]
    meta["eval"] = {**(meta.get("eval") or {}),  # keeps training's val_loss and friends
                    **{key: round(value, 4) for key, value in headline.items()},
                    "persona_share_real": round(summary["persona_share_real"], 4),
                    "test_pairs": len(test),
                    "baselines": {name: {k: round(v, 4) for k, v in row.items()}
                                  for name, row in results.items() if name != "doppel"}}
    write_bundle(bundle_dir, meta)
    print(render_table(results, summary["persona_share_real"]))
    print(f"wrote {report_dir}/report.md, metrics.json, metrics.png")
    return 0
