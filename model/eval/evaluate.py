"""`python -m model eval BUNDLE`: every system on the same held-out pairs, against baselines.

Test pairs are the held-out conversations of training (`model.data.pairs.is_heldout` with the
manifest's val_fraction), or `--pairs FILE`; only pairs answered by the bundle's persona
are scored. Training pairs feed the baselines, the persona classifier and the vocabulary
of the novel-word share; the held-out turns of everyone else are the "other" side of the
persona accuracy.

The models (doppel, and the ablation behind seq2seq-greedy) are also scored on the real
replies: perplexity per model token and per word, bits per character, and Hits@1 of
HITS_CANDIDATES (the real reply ranked by mean log-probability per token among other
held-out replies of the persona, over the first --hits-contexts test pairs). The scores
themselves are model/eval/scores.py; this module chooses the pairs and the systems.

Systems, all on the same test pairs:
    doppel          the bundle with its default decoding
    doppel+grounding  the same, grounded on the retrieved training reply when its
                    similarity is at least GROUND_THRESHOLD (bundles with retrieval.json)
    most-frequent   the persona's most frequent training reply, every time
    retrieval       the reply of the most similar training context (TF-IDF, model.serve.retrieval);
                    the most frequent reply when nothing overlaps
    seq2seq-greedy  plain greedy decoding, no penalties: of the --ablation bundle (trained
                    without the persona embedding) when given, else of this bundle

Every `--compare` bundle answers the same pairs as the same persona and gets a row of its
own (the model scores and latency included), so an LSTM and a pretrained bundle compare
in one report.

Writes report.md, metrics.json and metrics.png into --report (default BUNDLE/eval) and
the headline numbers into bundle.json `eval`. `--sweep` first tries a grid of decoding
settings on the *validation* conversations (never the test ones it then reports on),
plots quality against latency (sweep.png) and reports the bundle at its pick (the best
setting within the latency budget) as the system `sweep-pick`, beside its default.
`--adopt-sweep` stores the pick as bundle.json `decoding` (the runtime's default from then
on). Not by default: the score rewards variety, not sense, and on the LSTM demo its pick
read as word salad (blind SSA 3% against 24% for the default it would have replaced).

`--blind DIR` instead writes a blind sense-grading sheet (model.eval.blind): --contexts
held-out contexts answered by the bundle, every --compare bundle, retrieval and the real
reply, under shuffled labels. `--blind DIR --grades FILE` scores the filled sheet (SSA).
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from model.cli import positive_int, whole_number
from model.errors import InputError
from model.eval import metrics
from model.eval.report import label, plot_sweep, plot_systems, render_report, render_table
from model.eval.scores import (
    HITS_CANDIDATES,
    MODEL_SCORES,
    Reference,
    candidate_lists,
    model_scores,
    request_for,
    score,
    text_scores,
)
from model.files import atomic_output
from model.serve.bundle import REPORT_DIR, read_bundle, write_bundle
from model.serve.load import load_replier
from model.serve.retrieval import FILE_NAME as RETRIEVAL_FILE
from model.serve.retrieval import RetrievalIndex
from model.serve.runtime import Replier

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


def add_arguments(parser) -> None:
    parser.add_argument("bundle", type=Path, help="model bundle directory")
    parser.add_argument("--pairs", type=Path, help="test pairs JSONL (default: held-out split)")
    parser.add_argument("--manifest", type=Path,
                        help="manifest for the training pairs (default: the bundle's)")
    parser.add_argument("--report", type=Path, help="output folder (default BUNDLE/eval)")
    parser.add_argument("--ablation", type=Path,
                        help="bundle trained without persona embedding (seq2seq baseline)")
    parser.add_argument("--sweep", action="store_true",
                        help="try a decoding grid on validation chats; report its pick")
    parser.add_argument("--adopt-sweep", action="store_true",
                        help="with --sweep: store the pick as the bundle's default decoding")
    parser.add_argument("--limit", type=positive_int, default=500,
                        help="at most this many test pairs")
    parser.add_argument("--hits-contexts", type=positive_int, default=100,
                        help=f"Hits@1 of {HITS_CANDIDATES} over at most this many test pairs "
                             "(each scores that many candidates)")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=whole_number, default=1,
                        help="onnxruntime threads per model (0: its own choice)")
    parser.add_argument("--blind", type=Path, metavar="DIR",
                        help="write a blind sense-grading sheet into DIR instead of the metrics")
    parser.add_argument("--compare", type=Path, nargs="+", default=[], metavar="BUNDLE",
                        help="more bundles answering the same pairs as the same persona: "
                             "rows of the report, or replies in the --blind sheet")
    parser.add_argument("--contexts", type=positive_int, default=60,
                        help="with --blind: how many held-out contexts (default 60)")
    parser.add_argument("--personas", nargs="+", metavar="NAME",
                        help="with --blind: contexts answered by these personas (or 'all' "
                             "the bundle knows), each answered as its persona; default: "
                             "the bundle's own persona")
    parser.add_argument("--context-turns", type=positive_int, metavar="N",
                        help="with --blind: show and answer only the last N turns of each "
                             "context (1: a message out of the blue, as a mention)")
    parser.add_argument("--split", choices=("test", "dev", "unseen"), default="test",
                        help="with --blind: held-out contexts from the test split (report), "
                             "the validation split (choosing settings), or the chats past "
                             "the sources' `limit`, which training never read")
    parser.add_argument("--grades", type=Path, metavar="FILE",
                        help="with --blind DIR: score this filled grades.csv (writes DIR/ssa.*)")


# --- data ----------------------------------------------------------------------------------


def load_split(bundle_meta: dict, bundle_dir: Path, manifest_path: Path | None,
               pairs_path: Path | None, split: str = "test") -> tuple[list[dict], list[dict]]:
    """(training pairs, held-out pairs) split by conversation exactly as training split
    them; `split="dev"` holds out the validation conversations instead of the test ones
    (for choosing settings without touching test), and then trains on "train" only;
    `split="unseen"` holds out the chats past the sources' `limit`, which training never
    read."""
    from model.data.manifest import load_manifest
    from model.data.pairs import (
        PairSummary,
        Split,
        build_pairs_from_manifest,
        read_pairs,
        unseen_pairs_from_manifest,
    )

    own = manifest_path is None
    if own:
        manifest_path = recorded_manifest(bundle_meta)
        if manifest_path is None:
            raise InputError("bundle.json does not record its manifest; pass --manifest",
                             path=str(bundle_dir / "bundle.json"))
        if not manifest_path.is_file():  # `command` holds it as typed, relative or not
            raise InputError(f"bundle.json records its manifest as {manifest_path}, which is "
                             "not a file from here (a relative path names it from where "
                             "training ran): run eval there or pass --manifest",
                             path=str(bundle_dir / "bundle.json"))
    manifest = load_manifest(manifest_path)
    fraction = float(manifest.train["val_fraction"])
    summary = PairSummary()
    pairs = build_pairs_from_manifest(manifest, summary, augment=False)  # each context once
    if own:
        warn_if_sources_changed(bundle_meta.get("data") or {}, summary, manifest_path)
    splits = Split(pairs, fraction)
    if split == "dev":
        return ([p for p in pairs if splits.of(p) == "train"],
                [p for p in pairs if splits.of(p) == "val"])
    train = [p for p in pairs if not splits.heldout(p)]
    if split == "unseen":
        return train, unseen_pairs_from_manifest(manifest)
    test = list(read_pairs(pairs_path)) if pairs_path else \
        [p for p in pairs if splits.heldout(p)]
    return train, test


def warn_if_sources_changed(trained: dict, now, manifest_path: Path) -> None:
    """A re-exported chat (more messages, or its oldest cut off) moves sessions between
    splits: the held-out pairs are then not those training held out, and may be ones it
    trained on. Conversations, sessions and turns do not depend on pairs.augment."""
    counts = ("conversations", "sessions", "turns")
    if all(key in trained for key in counts) and \
            any(trained[key] != getattr(now, key) for key in counts):
        then, read = (", ".join(f"{source[key]} {key}" for key in counts)
                      for source in (trained, vars(now)))
        print(f"warning: {manifest_path}'s sources now give {read}, but the bundle trained on "
              f"{then}: they changed since training, so the held-out pairs may include some "
              "it trained on (evaluate on the exports it was trained from)", file=sys.stderr)


def recorded_manifest(meta: dict) -> Path | None:
    """The manifest a bundle was trained from: data.manifest, else read from `command`."""
    recorded = (meta.get("data") or {}).get("manifest")
    if recorded:
        return Path(recorded)
    words = shlex.split(meta.get("command") or "")
    if "train" in words[:-1]:
        return Path(words[words.index("train") + 1])
    return None


def generate(replier: Replier, test: list[dict], decoding: dict, seed: int,
             batch_size: int, persona: str | None = None) -> list[str]:
    """A reply to every pair, as `persona`, or else as the persona that answered the pair."""
    requests = [request_for(p, persona or p["persona"], decoding, seed + i)
                for i, p in enumerate(test)]
    replies: list[str] = []
    for start in range(0, len(requests), batch_size):
        replies += [r.text for r in replier.reply_batch(requests[start:start + batch_size])]
    return replies


def latency_ms(replier: Replier, test: list[dict], decoding: dict, seed: int,
               persona: str | None = None) -> dict:
    """Median wall and process-CPU ms of one batch-1 reply over the first test pairs.

    The latency budget is checked against CPU time: on a shared machine wall time also
    counts waiting for a core, while the CPU time of a single-threaded reply is what it
    takes on an idle core.
    """
    persona = persona or replier.default_persona
    replier.reply_batch([request_for(test[0], persona, decoding, seed)])  # warm-up
    walls, cpus = [], []
    for i, pair in enumerate(test[:LATENCY_SAMPLES]):
        request = request_for(pair, persona, decoding, seed + i)
        wall, cpu = time.perf_counter(), time.process_time()
        replier.reply_batch([request])
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return {"ms_per_reply": statistics.median(walls),
            "p90_ms_per_reply": float(np.percentile(walls, 90)),
            "cpu_ms_per_reply": statistics.median(cpus)}


def quality(row: dict) -> float:
    """One number for choosing decoding defaults: in-character, varied, not generic, on target.

    mean of persona share, distinct-2, 1 - generic rate and BLEU/100 (all in [0, 1]).
    """
    return (row["persona_share"] + row["distinct_2"] + (1 - row["generic_rate"])
            + row["bleu"] / 100) / 4


def baselines(train: list[dict], test: list[dict]) -> dict[str, list[str]]:
    """The most frequent training reply of the persona that answered each test pair, and
    the reply of that persona's most similar training context."""
    found: dict[str, tuple[str, RetrievalIndex]] = {}
    frequent, retrieved = [], []
    for pair in test:
        persona = pair["persona"]
        if persona not in found:
            own = [p for p in train if p["persona"] == persona]
            if not own:
                raise InputError(f"no training pairs answered by {persona!r}")
            found[persona] = (Counter(p["reply"] for p in own).most_common(1)[0][0],
                              RetrievalIndex.from_pairs(own))
        most, index = found[persona]
        hit = index.search(pair["context"])
        frequent.append(most)
        retrieved.append(hit.reply if hit else most)
    return {"most-frequent": frequent, "retrieval": retrieved}


# --- the command ---------------------------------------------------------------------------


def sweep(replier: Replier, test: list[dict], reference: Reference,
          args) -> tuple[dict, list[dict]]:
    """Score every SWEEP_GRID setting; the best one within the latency budget."""
    rows = []
    for settings in SWEEP_GRID:
        replies = generate(replier, test, settings, args.seed, args.batch_size)
        row = {"decoding": settings, **score(replies, reference),
               **latency_ms(replier, test, settings, args.seed)}
        row["quality"] = quality(row)
        rows.append(row)
        print(f"sweep {label(settings)}: quality {row['quality']:.3f}, "
              f"{row['cpu_ms_per_reply']:.1f} ms CPU per reply")
    fast = [row for row in rows if row["cpu_ms_per_reply"] <= LATENCY_BUDGET_MS]
    best = max(fast, key=lambda r: r["quality"]) if fast else \
        min(rows, key=lambda r: r["cpu_ms_per_reply"])
    return best["decoding"], rows


def with_compared(replier: Replier, args, taken: Sequence[str],
                  personas: Sequence[str]) -> dict[str, Replier]:
    """The bundle and every --compare bundle under unique names; each must know the
    `personas`, since all of them answer as them."""
    from model.eval.blind import unique_names

    folders = [args.bundle, *args.compare]
    repliers = [replier, *(load_replier(path, threads=args.threads) for path in args.compare)]
    for folder, other in zip(folders, repliers, strict=True):
        unknown = [p for p in personas if p not in other.personas]
        if unknown:
            raise InputError(f"does not know the persona {unknown[0]!r}", path=str(folder))
    names = unique_names([(r.name, folder) for r, folder in zip(repliers, folders, strict=True)],
                         taken=taken)
    return dict(zip(names, repliers, strict=True))


def blind_sheet(args) -> int:
    """Every system answers the same held-out contexts as the persona that answered each
    (the bundle's own persona, or --personas); one sheet."""
    from model.eval import blind

    replier = load_replier(args.bundle, threads=args.threads)
    personas = sheet_personas(replier, args.personas)
    train, test = load_split(replier.meta, args.bundle, args.manifest, args.pairs, args.split)
    contexts = [last_turns(p, args.context_turns)
                for p in blind.pick_contexts(test, personas, args.contexts, args.seed)]
    if not contexts:
        raise InputError(f"no held-out pairs answered by {' or '.join(personas)} to grade",
                         path=str(args.pairs or args.bundle))
    systems = {name: generate(r, contexts, {}, args.seed, args.batch_size)
               for name, r in with_compared(replier, args, ("retrieval", "real"),
                                            personas).items()}
    systems["retrieval"] = baselines(train, contexts)["retrieval"]
    systems["real"] = [p["reply"] for p in contexts]
    blind.write_sheet(args.blind, contexts, systems, args.seed)
    answered = len({p["persona"] for p in contexts})
    print(f"wrote {args.blind}/sheet.md and grades.csv ({len(contexts)} contexts of "
          f"{answered} persona{'s' * (answered > 1)}, "
          f"{len(systems)} replies each) for the reader, key.json for --grades")
    if len(contexts) < args.contexts:  # few chats: the intervals of --grades will be wide
        print(f"only {len(contexts)} of the {args.contexts} contexts asked for: the "
              f"{args.split} split holds no more replies of {' or '.join(personas)}")
    return 0


def last_turns(pair: dict, turns: int | None) -> dict:
    """The pair with only the last `turns` turns of its context (None: all of them)."""
    if not turns:
        return pair
    return {**pair, "context": pair["context"][-turns:],
            "context_speakers": list(pair.get("context_speakers") or [])[-turns:]}


def sheet_personas(replier: Replier, chosen: Sequence[str] | None) -> list[str]:
    """--personas: none given, the bundle's own; "all", every persona it knows."""
    if not chosen:
        return [replier.default_persona]
    if list(chosen) == ["all"]:
        return list(replier.personas)
    unknown = [p for p in chosen if p not in replier.personas]
    if unknown:
        raise InputError(f"--personas: {unknown[0]!r} is not a persona of this bundle "
                         f"(its personas: {', '.join(replier.personas)})",
                         path=str(replier.bundle_dir / "bundle.json"))
    return list(chosen)


def run(args) -> int:
    if args.adopt_sweep and not args.sweep:
        raise InputError("--adopt-sweep only works with --sweep")
    if args.blind:
        if args.grades:
            from model.eval.blind import grade

            print(grade(args.blind, args.grades))
            print(f"wrote {args.blind}/ssa.json and ssa.md")
            return 0
        return blind_sheet(args)
    if args.grades:
        raise InputError("--grades only works with --blind DIR")
    if args.personas or args.context_turns:
        raise InputError("--personas and --context-turns only work with --blind DIR")
    bundle_dir = args.bundle
    replier = load_replier(bundle_dir, threads=args.threads)
    persona = replier.default_persona
    train, heldout = load_split(replier.meta, bundle_dir, args.manifest, args.pairs)
    own = [p for p in heldout if p["persona"] == persona]
    test = own[:args.limit]
    if not test:
        raise InputError(f"no held-out pairs answered by {persona!r} to evaluate on",
                         path=str(args.pairs or bundle_dir))
    reference = Reference.build(train, heldout, test, persona, args.seed)
    report_dir = args.report or bundle_dir / REPORT_DIR
    report_dir.mkdir(parents=True, exist_ok=True)

    sweep_rows: list[dict] = []
    sweep_conversations: list[str] = []
    chosen: dict | None = None  # the sweep's pick
    if args.sweep:  # on the validation conversations: the test pairs only report, once
        dev_train, dev_heldout = load_split(replier.meta, bundle_dir, args.manifest, None,
                                            split="dev")
        dev = [p for p in dev_heldout if p["persona"] == persona][:args.limit]
        if not dev:
            raise InputError(f"no validation pairs answered by {persona!r} to sweep on",
                             path=str(bundle_dir))
        chosen, sweep_rows = sweep(replier, dev, Reference.build(
            dev_train, dev_heldout, dev, persona, args.seed), args)
        sweep_conversations = sorted({p["conversation"] for p in dev})
        if args.adopt_sweep:
            meta = read_bundle(bundle_dir)
            meta["decoding"] = chosen
            write_bundle(bundle_dir, meta)
            replier = load_replier(bundle_dir, threads=args.threads)  # the new default
        plot_sweep(sweep_rows, LATENCY_BUDGET_MS, report_dir / "sweep.png")

    ablation = load_replier(args.ablation, threads=args.threads) if args.ablation else replier
    systems = {"doppel": generate(replier, test, {}, args.seed, args.batch_size)}
    if (bundle_dir / RETRIEVAL_FILE).is_file():
        systems["doppel+grounding"] = generate(replier, test, {"ground": GROUND_THRESHOLD},
                                               args.seed, args.batch_size)
    if args.sweep and not args.adopt_sweep:
        systems["sweep-pick"] = generate(replier, test, chosen, args.seed, args.batch_size)
    systems = {**systems, **baselines(train, test),
               "seq2seq-greedy": generate(ablation, test, GREEDY, args.seed, args.batch_size)}
    compared = dict(list(with_compared(replier, args, list(systems), [persona]).items())[1:])
    for name, other in compared.items():  # --compare: same pairs, same persona
        systems[name] = generate(other, test, {}, args.seed, args.batch_size, persona)
    results = {name: score(replies, reference) for name, replies in systems.items()}
    candidates = candidate_lists(reference.golds[:args.hits_contexts],
                                 [p["reply"] for p in own], args.seed)
    for name, model in {"doppel": replier, **compared}.items():
        results[name].update(model_scores(model, test, candidates, args.batch_size))
        results[name].update(latency_ms(model, test, {}, args.seed, persona))
    results["seq2seq-greedy"].update(
        model_scores(ablation, test, candidates, args.batch_size) if args.ablation else
        {key: results["doppel"][key] for key in MODEL_SCORES})  # the same model: no rerun
    real = text_scores(reference.golds, reference)
    summary = {
        "test_pairs": len(test),
        "train_pairs": len(train),
        "persona": persona,
        "real_replies": real,
        "persona_share_real": real["persona_share"],
        "classifier_texts": reference.classifier.sizes,
        "other_turns": len(reference.others_said_persona),
        "hits": {"contexts": len(candidates), "candidates": HITS_CANDIDATES,
                 # what a scorer that ties every candidate gets
                 "chance": metrics.hits_at_1([[0.0] * len(c) for c in candidates])},
        "decoding": asdict(replier.decoding.without_seed()),
        "ablation": {"bundle": str(args.ablation), "name": ablation.name,
                     "tokenizer_sha256": ablation.meta["files"].get("tokenizer.json", "")}
        if args.ablation else None,
        "latency_pairs": min(len(test), LATENCY_SAMPLES),
        "systems": results,
        "sweep": sweep_rows,
        "sweep_pick": chosen,  # None without --sweep
        "sweep_conversations": sweep_conversations,  # validation split only
        "examples": [{"context": p["context"], "gold": p["reply"],
                      **{name: replies[i] for name, replies in systems.items()}}
                     for i, p in enumerate(test[:10])],
    }
    with atomic_output(report_dir / "metrics.json") as handle:
        json.dump(summary, handle, indent=2, ensure_ascii=False)
    plot_systems(results, real, report_dir / "metrics.png")
    with atomic_output(report_dir / "report.md") as handle:
        handle.write(render_report(replier.name, summary))

    meta = read_bundle(bundle_dir)
    meta["eval"] = {**(meta.get("eval") or {}),  # keeps training's val_loss and friends
                    **rounded(results["doppel"]),
                    "persona_share_real": round(real["persona_share"], 4),
                    "real_replies": rounded(real),
                    "test_pairs": len(test),
                    "baselines": {name: rounded(row)
                                  for name, row in results.items() if name != "doppel"}}
    write_bundle(bundle_dir, meta)
    print(render_table(results, real))
    print(f"wrote {report_dir}/report.md, metrics.json, metrics.png")
    if args.sweep and not args.adopt_sweep:
        print(f"the sweep's pick, reported as sweep-pick: {label(chosen)}. Read its replies "
              "(or grade a blind sheet with --split dev) before storing it as the default "
              "with --sweep --adopt-sweep.")
    return 0


def rounded(row: dict) -> dict:
    return {key: round(value, 4) for key, value in row.items()}
