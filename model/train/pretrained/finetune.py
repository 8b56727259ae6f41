"""`python -m model train` for `model.kind: pretrained`: fine-tune a base's top blocks.

    pairs -> ChatML prompt + reply ids (prompt.py)
    bottom L-N blocks, frozen: run once per example, hidden states cached   [n, T, H]
    top N blocks + final norm: trained on the cached states, loss on reply tokens only,
    logits computed at reply positions only (the tied 49k-word output is the costliest
    layer per token)
    -> bundle: delta.npz (what changed, int8 rows) + the serving graph (export)

Frozen blocks need no dropout and no gradient, so caching them makes each step cost only
the trained blocks: on 2 cores of this machine (bf16 with AMX) ~1,000 tokens/s trained
with N = 8, ~1,500 tokens/s cached. The validation split is checked four times an
epoch; the best weights are kept and training stops after `train.patience` checks
without a gain. `--resume` restarts from the last check. `--epochs 0` writes the base itself as a
bundle (the zero-shot baseline, same prompt), with only its validation loss measured.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.errors import InputError
from model.files import atomic_output
from model.train.pretrained.frozen_cache import CacheWriter, FrozenStates, cache_key, open_cached

CHECKS_PER_EPOCH = 4
MAX_VAL_EXAMPLES = 400  # enough for a steady validation loss; more only costs time


@dataclass
class PretrainedData:
    base: object  # model.serve.pretrained.base.Base
    codec: object  # model.serve.pretrained.prompt.PromptCodec
    personas: list[str]
    default_persona: str
    hp: dict
    train: list[tuple[list[int], list[int]]]  # (prompt ids, reply ids)
    val: list[tuple[list[int], list[int]]]
    train_pairs: list[dict]
    summary: dict = field(default_factory=dict)


def prepare_pretrained(manifest) -> PretrainedData:
    """Open the base and encode the pairs; every input problem raises here, before TF."""
    from model.serve.pretrained.base import Base, weight_shapes
    from model.serve.pretrained.prompt import PromptCodec
    from model.train.training_data import load_pairs, split_examples

    where = str(manifest.path)
    hp = dict(manifest.model)
    try:
        base = Base.open(hp["base"], manifest.path.parent)
    except InputError as exc:
        raise InputError(f"model.base: {exc}", where) from None
    if hp["train_layers"] > base.config.layers:
        raise InputError(f"model.train_layers: {hp['train_layers']} but the base has "
                         f"{base.config.layers} blocks", where)
    narrowest = min(min(shape) for shape in weight_shapes(base.config).values()
                    if len(shape) == 2)
    if hp["lora_rank"] >= narrowest:  # a rank that wide is no longer a low-rank update
        raise InputError(f"model.lora_rank: {hp['lora_rank']} but the base's narrowest "
                         f"matrix has {narrowest} rows (use under that, or 0 to train the "
                         "blocks whole)", where)
    canonical, personas, pairs, summary = load_pairs(manifest)
    codec = PromptCodec(base.tokenizer, hp["max_context_tokens"], hp["max_reply_tokens"])
    head = len(codec.prompt_ids([], None, canonical))
    if head + 8 > hp["max_context_tokens"]:
        raise InputError(f"model.max_context_tokens: {hp['max_context_tokens']} leaves no "
                         f"room for context (the prompt's frame alone is {head} tokens)", where)
    train, val, train_pairs, data_summary = split_examples(
        manifest, pairs, summary,
        lambda pair: (codec.prompt_ids(pair["context"], pair["context_speakers"],
                                       pair["persona"]), codec.reply_ids(pair["reply"])))
    hp.update(base_config=base.config.as_dict())
    return PretrainedData(base, codec, personas, canonical, hp, train, val, train_pairs,
                          data_summary)


def use_bfloat16(precision: str) -> bool:
    """bf16 pays on CPUs with AMX or AVX512-BF16 (2.1x a top-8 step here); elsewhere fp32."""
    if precision != "auto":
        return precision == "bfloat16"
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def finetune(manifest, out: Path, work: Path, resume: bool = False, threads: int = 0,
             command: str = "", export: bool = True) -> dict:
    from model.train.nets import setup_tensorflow
    from model.train.outputs import check_resumable_data, resume_message, started_with, trained_on
    from model.train.training_data import data_line

    data = prepare_pretrained(manifest)
    if resume:
        check_resumable_data(work, data)
    log(data_line(data.summary))
    settings = manifest.train
    tf, keras = setup_tensorflow(settings["seed"], threads)
    if use_bfloat16(data.hp["precision"]):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    from model.train.pretrained.keras_llama import LlamaParts
    from model.train.training_data import learning_rate

    work.mkdir(parents=True, exist_ok=True)
    state_path = work / "state.json"
    zero_shot = settings["epochs"] == 0  # the base as it is: the zero-shot baseline
    parts = LlamaParts(data.base.config, 0 if zero_shot else data.hp["train_layers"],
                       data.hp["lora_rank"])
    parts.set_gguf_weights(data.base.weights())
    optimizer = keras.optimizers.Adam(learning_rate(keras, settings, len(data.train)),
                                      clipnorm=1.0)
    variables = parts.trainable_variables()
    optimizer.build(variables)
    if resume:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        restore_checkpoint(work / "last.npz", parts, optimizer)
        log(resume_message(state["epoch"], settings["epochs"], state["step"]))
    else:
        for stale in ("state.json", "last.npz", "best.npz", "log.csv"):
            (work / stale).unlink(missing_ok=True)
        state = {"epoch": 0, "step": 0, "best_val_loss": None, "bad_checks": 0,
                 "history": [], "seconds": 0.0, "started_with": started_with(manifest),
                 "trained_on": trained_on(data)}

    trainer = Trainer(tf, parts, optimizer, variables)
    done = zero_shot or state["epoch"] >= settings["epochs"]  # e.g. --resume --epochs 1
    # what the frozen blocks' output depends on, besides the examples
    key_parts = (data.base.sha256, parts.split,
                 keras.mixed_precision.global_policy().name)
    train_cache = None if done else trainer.cache(data.train, "train", work, key_parts)
    val_examples = data.val[:MAX_VAL_EXAMPLES]
    val_cache = trainer.cache(val_examples, "validation", work, key_parts)
    if state["best_val_loss"] is None:
        first = trainer.validate(val_cache, val_examples, settings["batch_size"])
        log(f"validation loss before fine-tuning: {first:.4f}")
        state["history"].append({"epoch": 0.0, "loss": None, "val_loss": first})
    patience = settings["patience"]
    stop = False
    while state["epoch"] < settings["epochs"] and not stop:
        from model.train.training_data import batch_order

        epoch = state["epoch"]
        batches = batch_order(np.array([len(p) for p, _ in data.train]),
                              np.array([len(r) for _, r in data.train]),
                              settings["batch_size"], settings["seed"] + epoch)
        # evenly spaced, the last at the epoch's end (not one more two steps after)
        checks = {max(round(len(batches) * j / CHECKS_PER_EPOCH), 1)
                  for j in range(1, CHECKS_PER_EPOCH + 1)}
        losses, tokens, started = [], 0, time.perf_counter()
        last_report = started
        for index in range(state["step"], len(batches)):
            loss, count = trainer.train_step(train_cache, data.train, batches[index])
            losses.append(loss)
            tokens += count
            now = time.perf_counter()
            if now - last_report > 15 or index + 1 == len(batches):
                rate = tokens / (now - started)
                left = sum(len(p) + len(r) for b in batches[index + 1:] for p, r in
                           (data.train[i] for i in b)) / max(rate, 1e-9)
                log(f"epoch {epoch + 1}/{settings['epochs']} step {index + 1}/{len(batches)} "
                    f"loss {np.mean(losses[-50:]):.4f} {rate:.0f} tokens/s "
                    f"ETA {left / 60:.1f} min (this epoch)")
                last_report = now
            if index + 1 not in checks:
                continue
            val_loss = trainer.validate(val_cache, val_examples, settings["batch_size"])
            state["seconds"] += time.perf_counter() - started
            started, tokens = time.perf_counter(), 0
            state["step"] = index + 1
            if state["step"] == len(batches):
                state["epoch"], state["step"] = epoch + 1, 0
            row = {"epoch": round(epoch + (index + 1) / len(batches), 3),
                   "loss": float(np.mean(losses)), "val_loss": val_loss}
            losses = []
            state["history"].append(row)
            log(f"  check at epoch {row['epoch']}: train {row['loss']:.4f} "
                f"validation {val_loss:.4f}")
            if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
                state["best_val_loss"], state["bad_checks"] = val_loss, 0
                save_weights(work / "best.npz", parts.trained_gguf_weights())
            else:
                state["bad_checks"] += 1
            save_checkpoint(work / "last.npz", parts, optimizer)
            with atomic_output(state_path) as handle:
                json.dump(state, handle, indent=2)
            write_log(work / "log.csv", state["history"])
            if patience and state["bad_checks"] >= patience:
                log(f"stopping: {patience} checks without a better validation loss")
                stop = True
                break
    if not (work / "best.npz").is_file():  # zero-shot, or no check improved on the base
        save_weights(work / "best.npz", parts.trained_gguf_weights())
    write_log(work / "log.csv", state["history"])
    from model.train.pretrained.bundle_writer import write_pretrained_bundle

    return write_pretrained_bundle(manifest, data, state, work, out, command, export)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Trainer:
    """The cached lower pass, the training step and validation, as tf.functions."""

    def __init__(self, tf, parts, optimizer, variables):
        self.tf, self.parts, self.optimizer, self.variables = tf, parts, optimizer, variables
        hidden = parts.config.hidden
        ids = tf.TensorSpec([None, None], tf.int32)
        mask = tf.TensorSpec([None, None], tf.float32)
        states = tf.TensorSpec([None, None, hidden], tf.float32)
        self._lower = tf.function(self._lower_fn, input_signature=[ids, ids, mask])
        self._step = tf.function(self._step_fn, input_signature=[states, ids, mask, ids, ids,
                                                                  mask])
        self._loss = tf.function(self._loss_fn, input_signature=[states, ids, mask, ids, ids,
                                                                 mask])

    def _lower_fn(self, ids, positions, mask):
        return self.tf.cast(self.parts.lower(ids, positions, mask), self.tf.float32)

    def _loss_fn(self, hidden, positions, mask, gather, targets, weights):
        tf = self.tf
        dtype = self.parts.trained[0].compute_dtype if self.parts.trained else "float32"
        logits = self.parts.upper(tf.cast(hidden, dtype), positions, mask, gather)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)  # [B, R]
        return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)

    def _step_fn(self, hidden, positions, mask, gather, targets, weights):
        with self.tf.GradientTape() as tape:
            loss = self._loss_fn(hidden, positions, mask, gather, targets, weights)
        gradients = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables, strict=True))
        return loss

    def cache(self, examples, what: str, work: Path, key_parts: tuple,
              batch_size: int = 16) -> FrozenStates:
        """Hidden states after the frozen blocks, float16 [T, H] per example (input ids
        are the prompt and the reply without its last token), computed once and kept in
        WORK/frozen (frozen_cache.py) while the base, the frozen blocks, the precision and
        the examples stay the same."""
        from model.train.training_data import batch_order

        sequences = [prompt + reply[:-1] for prompt, reply in examples]
        folder, key = work / "frozen", cache_key(*key_parts, sequences)
        lengths = np.array([len(s) for s in sequences])
        states = open_cached(folder, what, key)
        if states is not None:
            log(f"reusing the frozen blocks' states ({what}: {len(sequences)} examples, "
                f"{lengths.sum()} tokens) from {folder}")
            return states
        hidden = self.parts.config.hidden
        writer = CacheWriter(folder, what, key, hidden, len(sequences))
        missing = writer.missing
        if len(missing) < len(sequences):
            log(f"resuming the frozen blocks' cache ({what}): "
                f"{len(sequences) - len(missing):,}/{len(sequences):,} examples already cached")
        started = time.perf_counter()

        def computed():
            reported, done, tokens = started, len(sequences) - len(missing), 0
            to_compute = lengths[missing].sum()
            for batch in batch_order(lengths[missing], np.zeros_like(missing), batch_size, None):
                batch = missing[batch]
                ids, positions, mask = pad_batch([sequences[i] for i in batch])
                yield batch, self._lower(ids, positions, mask).numpy(), lengths[batch]
                done, tokens = done + len(batch), tokens + int(lengths[batch].sum())
                if time.perf_counter() - reported > 30:
                    reported = time.perf_counter()
                    rate = tokens / (reported - started)
                    log(f"caching the frozen blocks ({what}): {done}/{len(sequences)} "
                        f"examples, {rate:.0f} tokens/s, ETA "
                        f"{(to_compute - tokens) / rate / 60:.1f} min")

        states = writer.write(computed())
        log(f"cached {what} ({len(sequences)} examples, {lengths.sum()} tokens) in "
            f"{time.perf_counter() - started:.0f} s ({lengths.sum() * hidden * 2 / 1e9:.2f} GB "
            f"in {folder})")
        return states

    def batch(self, cache, examples, rows):
        """(hidden, positions, mask, gather, targets, weights) of one batch, padded."""
        rows = list(rows)
        width = max(len(cache[i]) for i in rows)
        replies = max(len(examples[i][1]) for i in rows)
        hidden = np.zeros((len(rows), width, cache[rows[0]].shape[-1]), np.float32)
        mask = np.zeros((len(rows), width), np.float32)
        gather = np.zeros((len(rows), replies), np.int32)
        targets = np.zeros((len(rows), replies), np.int32)
        weights = np.zeros((len(rows), replies), np.float32)
        for row, i in enumerate(rows):
            prompt, reply = examples[i]
            hidden[row, :len(cache[i])] = cache[i]
            mask[row, :len(cache[i])] = 1.0
            # position p predicts token p + 1: the reply's tokens from prompt end - 1 on
            gather[row, :len(reply)] = np.arange(len(prompt) - 1, len(prompt) - 1 + len(reply))
            targets[row, :len(reply)] = reply
            weights[row, :len(reply)] = 1.0
        positions = np.tile(np.arange(width, dtype=np.int32), (len(rows), 1))
        return hidden, positions, mask, gather, targets, weights

    def train_step(self, cache, examples, rows) -> tuple[float, int]:
        tensors = self.batch(cache, examples, rows)
        loss = float(self._step(*tensors))
        return loss, int(tensors[2].sum() + tensors[5].sum())

    def validate(self, cache, examples, batch_size: int) -> float:
        """Mean cross-entropy per reply token."""
        from model.train.training_data import batch_order

        total, count = 0.0, 0.0
        lengths = cache.lengths
        for rows in batch_order(lengths, np.zeros_like(lengths), batch_size, None):
            tensors = self.batch(cache, examples, rows)
            weight = float(tensors[5].sum())
            total += float(self._loss(*tensors)) * weight
            count += weight
        return round(total / max(count, 1.0), 4)


def pad_batch(sequences: list[list[int]]):
    """ids [B, T] right-padded with 0, positions [B, T], mask [B, T]"""
    width = max(len(s) for s in sequences)
    ids = np.zeros((len(sequences), width), np.int32)
    mask = np.zeros((len(sequences), width), np.float32)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = sequence
        mask[row, :len(sequence)] = 1.0
    positions = np.tile(np.arange(width, dtype=np.int32), (len(sequences), 1))
    return ids, positions, mask


# --- checkpoints (npz: atomic, no TensorFlow needed to read) -----------------------------


def save_weights(path: Path, weights: dict[str, np.ndarray]) -> None:
    with atomic_output(path, mode="wb") as handle:
        np.savez(handle, **weights)


def save_checkpoint(path: Path, parts, optimizer) -> None:
    import keras

    weights = parts.trained_gguf_weights()
    for index, variable in enumerate(optimizer.variables):
        weights[f"optimizer/{index}"] = keras.ops.convert_to_numpy(variable)
    save_weights(path, weights)


def restore_checkpoint(path: Path, parts, optimizer) -> None:
    with np.load(path) as saved:
        parts.set_gguf_weights({k: saved[k] for k in saved.files if not k.startswith("optimizer/")})
        for index, variable in enumerate(optimizer.variables):
            variable.assign(saved[f"optimizer/{index}"])


def write_log(path: Path, history: list[dict]) -> None:
    with atomic_output(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss", "val_loss", "val_perplexity"])
        for row in history:
            writer.writerow([row["epoch"], "" if row["loss"] is None else round(row["loss"], 4),
                             row["val_loss"], round(math.exp(row["val_loss"]), 3)])
