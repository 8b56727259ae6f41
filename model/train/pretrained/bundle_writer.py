"""The bundle of a fine-tuned pretrained model, and its export (training side).

    bundle.json          kind: pretrained, the base (name, sha256, config), personas …
    delta.npz            the trained tensors (int8 rows + scales; assemble.py)
    decoder.onnx         the serving graph, weights external (onnx_graph.py)
    weights_layout.json  where each weight goes in the assembled weights.bin
    smoothing.npz        each block input's smoothing vector (calibrate.py)
    head_tokens.npy      the tokens the graph's head scores (`head_tokens`)
    memorisation.npz     the memorisation guard's index (model/serve/memorisation.py)
    retrieval.json, training_log.csv, loss.png

`export_pretrained` (re)writes the graph files of a bundle and checks, on a few real
prompts, that the assembled graph's logits match the Keras net's.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np

from model.data.manifest import kind_hyperparameters
from model.files import atomic_output
from model.serve.bundle import BundleError
from model.serve.pretrained.assemble import (
    DELTA_FILE,
    GRAPH_FILE,
    LAYOUT_FILE,
    SMOOTHING_FILE,
    pack_delta,
)
from model.serve.pretrained.base import KNOWN_BASES
from model.serve.pretrained.prompt import END, SYSTEM

HEAD_TOKENS_FILE = "head_tokens.npy"
# The base's first ids are its bytes and earliest BPE merges, the commonest pieces of text
# (8,192 of SmolLM2's 49,152): a persona with few chats still has every common word.
HEAD_FLOOR = 8192

# What blind sheets chose for the demo (README, "The pretrained demo"): beam 4 that may
# not copy a 4-gram of the context, 34-41% SSA against 13-16% for sampling at temperature
# 0.7 on validation chats; stopping a row once its best beam has ended tied with the
# full search on a validation and a test sheet (31-34% against 30-32%) at 2.5x the speed.
DEFAULT_DECODING = {"strategy": "beam", "beam_width": 4, "no_copy_ngram": 4,
                    "early_stopping": True, "repetition_penalty": 1.1, "no_repeat_ngram": 4}


def write_pretrained_bundle(manifest, data, state: dict, work: Path, out: Path,
                            command: str, export: bool = True) -> dict:
    from model.serve.bundle import write_bundle
    from model.serve.memorisation import write_guard_index
    from model.serve.retrieval import FILE_NAME as RETRIEVAL_FILE
    from model.serve.retrieval import RetrievalIndex
    from model.train.outputs import plot_losses, staged_bundle

    with staged_bundle(out) as staging:
        with np.load(work / "best.npz") as best_weights:
            packed = pack_delta({name: best_weights[name] for name in best_weights.files})
        with atomic_output(staging / DELTA_FILE, mode="wb") as handle:
            np.savez_compressed(handle, **packed)
        shutil.copyfile(work / "log.csv", staging / "training_log.csv")
        plot_losses([row for row in state["history"] if row["loss"] is not None],
                    staging / "loss.png")
        RetrievalIndex.from_pairs(data.train_pairs, persona=data.default_persona).save(
            staging / RETRIEVAL_FILE)
        write_guard_index(staging, data.train_pairs, data.train,
                          data.codec.hf.get_vocab(with_added_tokens=True))
        with atomic_output(staging / HEAD_TOKENS_FILE, mode="wb") as handle:
            np.save(handle, head_tokens(data.train, data.base.config.vocab,
                                        (data.codec.end_id, data.codec.newline_id)))
        known = KNOWN_BASES.get(data.base.name)
        if known is not None:  # the base's licence travels with what derives from it
            (staging / "NOTICE.txt").write_text(known.notice(), encoding="utf-8")
        checks = [row for row in state["history"] if row["loss"] is not None] or state["history"]
        best = min(checks, key=lambda row: row["val_loss"])
        write_bundle(staging, {
            "name": manifest.name,
            "kind": "pretrained",
            "hyperparameters": kind_hyperparameters(data.hp),
            "base": data.base.describe(),
            "special_tokens": {"eos": END, "brk": "\n"},
            "prompt": {"format": "chatml", "system": SYSTEM},
            "personas": data.personas,
            "default_persona": data.default_persona,
            "max_context_tokens": data.codec.max_context_tokens,
            "max_reply_tokens": data.codec.max_reply_tokens,
            "data": data.summary,
            "training": {**manifest.train, "epochs_run": state["history"][-1]["epoch"],
                         "best_epoch": best["epoch"], "seconds": round(state["seconds"], 1),
                         "base_val_loss": state["history"][0]["val_loss"]},
            "eval": {"val_loss": best["val_loss"],
                     "val_perplexity": round(math.exp(best["val_loss"]), 3)},
            "decoding": dict(DEFAULT_DECODING),
            "command": command,
        })
        if export:  # silent, this half minute or more looked like a hang after the last check
            print("exporting the serving graph: smoothing measured on the bundle's prompts, "
                  "the int8 graph assembled from the base and checked against Keras",
                  file=sys.stderr, flush=True)
            export_pretrained(staging)
    print(f"bundle written to {out} (best val loss {best['val_loss']:.4f} at epoch "
          f"{best['epoch']}, {state['seconds']:.0f}s training)", flush=True)
    return state


def head_tokens(examples: list[tuple[list[int], list[int]]], vocab: int, keep: tuple[int, ...]
                ) -> np.ndarray:
    """The serving head's token list: every token of the training examples (prompts and
    replies), the base's first HEAD_FLOOR ids and `keep` (the end and break tokens), sorted.

    Scoring a third of the demo's vocabulary made a 32-row decode step 12% faster. Each
    prompt's own tokens are scored besides (onnx_graph.build_decoder), so a reply can still
    take up a rare word of the chat it answers: of 1,680 demo replies on the blind sheets,
    22 held a token outside such a list (10 of them graded specific), most from their chat.
    """
    ids = [np.arange(min(HEAD_FLOOR, vocab)), np.asarray(keep, np.int64)]
    ids += [np.asarray(prompt + reply, np.int64) for prompt, reply in examples]
    return np.unique(np.concatenate(ids))


def read_head_tokens(bundle_dir: Path, vocab: int) -> np.ndarray | None:
    """The bundle's head token list, checked against the base; None: the whole vocabulary
    (a bundle trained before the list existed)."""
    path = bundle_dir / HEAD_TOKENS_FILE
    if not path.exists():
        return None
    try:
        tokens = np.load(path)
    except (OSError, ValueError) as exc:
        raise BundleError(f"unreadable head token list ({exc})", str(path)) from None
    if (tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer) or not len(tokens)
            or np.any(np.diff(tokens) <= 0) or tokens[0] < 0 or tokens[-1] >= vocab):
        raise BundleError(f"the head token list must be sorted distinct ids of the base's "
                          f"{vocab} tokens (does this bundle fit this base?)", str(path))
    return tokens


def export_pretrained(bundle_dir: Path) -> dict:
    """Write smoothing.npz, decoder.onnx and weights_layout.json, then check the graph
    against Keras.

    (onnx.checker cannot check a graph whose external weights do not exist yet; loading
    it in onnxruntime and comparing logits is the stronger check anyway.)
    """
    from model.serve.bundle import read_bundle, write_bundle
    from model.serve.pretrained.base import LlamaConfig
    from model.train.pretrained.calibrate import smoothing_vectors
    from model.train.pretrained.onnx_graph import build_decoder, weight_layout

    meta = read_bundle(bundle_dir)
    config = LlamaConfig.from_dict(meta["base"]["config"])
    listed = read_head_tokens(bundle_dir, config.vocab)  # refused before anything is written
    with atomic_output(bundle_dir / SMOOTHING_FILE, mode="wb") as handle:
        np.savez(handle, **smoothing_vectors(bundle_dir, meta))
    with atomic_output(bundle_dir / LAYOUT_FILE) as handle:
        json.dump(weight_layout(config), handle)
    with atomic_output(bundle_dir / GRAPH_FILE, mode="wb") as handle:
        handle.write(build_decoder(config, head_tokens=listed).SerializeToString())
    # only what this wrote is hashed again: the rest was verified, and a file damaged or
    # left beside the bundle since must not be vouched for (the parity check loads the
    # bundle, so its new graphs are recorded first)
    wrote = (SMOOTHING_FILE, LAYOUT_FILE, GRAPH_FILE)
    meta = write_bundle(bundle_dir, meta, written=wrote)
    meta["export"] = parity_check(bundle_dir, meta)
    return write_bundle(bundle_dir, meta, written=wrote)


def parity_check(bundle_dir: Path, meta: dict) -> dict:
    """Max |logit difference| between the assembled ONNX graph and the Keras net (fp32)
    on three prompts of the bundle's own kind, next-token and after two decode steps."""
    import keras

    from model.serve.decode import NEG_INF
    from model.serve.load import load_replier
    from model.serve.pretrained.assemble import fine_tuned_weights
    from model.serve.runtime import ReplyRequest
    from model.train.pretrained.keras_llama import LlamaParts

    replier = load_replier(bundle_dir)
    requests = [ReplyRequest("hi! how are you?"),
                ReplyRequest("what did you do this weekend?", ["hey", "hello there"]),
                ReplyRequest("ok", ["do you like dogs?", "yes! <brk> I have two"],
                             speakers=["Someone", meta["default_persona"], "Someone"])]
    personas = [replier.default_persona] * len(requests)
    prompts = [replier.context_ids(r, p) for r, p in zip(requests, personas, strict=True)]
    state = replier.encode(prompts, personas)
    follow = np.array([replier.rules.bos] * len(prompts), np.int32)
    onnx_logits, state = replier.step(follow, state)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        base, weights = fine_tuned_weights(bundle_dir, meta)
        parts = LlamaParts(base.config, 0)
        parts.set_gguf_weights(weights)
        worst = 0.0
        for prompt, logits in zip(prompts, onnx_logits, strict=True):
            ids = np.array([prompt], np.int32)
            positions = np.arange(len(prompt), dtype=np.int32)[None]
            expected = np.asarray(parts.logits(ids, positions, np.ones_like(ids, np.float32)))
            scored = logits > NEG_INF / 2  # a head over a token list leaves the rest NEG_INF
            worst = max(worst, float(np.abs(expected[0, -1] - logits)[scored].max()))
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return {"max_logit_diff": worst, "prompts": len(prompts)}
