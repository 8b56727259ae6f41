"""Training data for `python -m model train`: pairs -> tokenizer -> ids -> tf.data batches.

`prepare` does everything that can fail on a manifest mistake (no TensorFlow yet), so
errors arrive before any training starts. `make_dataset` is our length bucketing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import InputError
from model.pii import PII_TOKENS
from model.serve.tokenizer import SPECIAL_TOKENS, Tokenizer, min_vocab_size

KERAS_FILE = "keras/model.keras"
# Fewer validation examples than this, and the validation loss (which picks the weights
# kept and stops training early) moves with a handful of replies: a 150-chat manifest at
# val_fraction 0.05 drew one conversation, 8 examples.
THIN_VALIDATION = 50


@dataclass
class Prepared:
    """Pairs encoded to ids, split by conversation, with the tokenizer and personas."""

    tokenizer: Tokenizer
    personas: list[str]  # index = persona id
    default_persona: str  # the manifest's persona
    hp: dict  # the model section, with the actual vocab_size
    train: list[tuple[list[int], list[int], int]]  # (context ids, reply ids, persona id)
    val: list[tuple[list[int], list[int], int]]
    train_pairs: list[dict]  # the raw training pairs (retrieval index)
    summary: dict = field(default_factory=dict)
    base_model: Path | None = None


def load_pairs(manifest) -> tuple[str, list[str], list[dict], object]:
    """(canonical persona, personas, pairs, PairSummary) of a manifest; no TensorFlow.

    Personas are the canonical one first, then the others by their number of pairs.
    """
    from model.data.pairs import (
        PairSummary,
        build_pairs,
        messages_from_manifest,
        options_from_manifest,
        resolve_personas,
        speaker_counts,
    )
    where = str(manifest.path)
    options = options_from_manifest(manifest)
    summary = PairSummary()
    messages = messages_from_manifest(manifest)
    try:
        canonical, _ = resolve_personas(options, speaker_counts(messages))
        pairs = list(build_pairs(messages, options, summary))
    except InputError as exc:
        raise InputError(exc.reason, where) from None
    counts = Counter(pair["persona"] for pair in pairs)
    if not counts[canonical]:
        raise InputError(f"persona: no training pairs for {canonical!r} (they never reply "
                         "to someone else's turn in these sources)", where)
    personas = [canonical] + [name for name, _ in counts.most_common() if name != canonical]
    return canonical, personas, pairs, summary


def data_line(summary: dict) -> str:
    """What training is about to learn from, in one line: `persona: auto` chose someone,
    and a wrong alias or a thin split shows before the first minute of training."""
    by_persona = ", ".join(f"{name} {count}" for name, count in summary["pairs_by_persona"].items())
    line = (f"training data: {summary['train_pairs']} training, {summary['val_pairs']} "
            f"validation, {summary['test_pairs']} test examples from "
            f"{summary['conversations']} conversations ({summary['sessions']} sessions); "
            f"pairs by persona: {by_persona}")
    if summary["val_pairs"] < THIN_VALIDATION:
        units = summary["val_units"]
        line += (f"\nwarning: the validation split holds only {summary['val_pairs']} examples "
                 f"from {units} {'session' if summary['by_session'] else 'conversation'}"
                 f"{'s' if units != 1 else ''}: its loss, which picks the weights kept and "
                 "stops training early, says little; raise train.val_fraction or add chats")
    return line


def split_examples(manifest, pairs: list[dict], summary, encode):
    """(train examples, val examples, raw train pairs, data summary) by conversation (by
    session when there are few: pairs.Split).

    Test pairs are only counted (left for `python -m model eval`); an empty train or
    validation split is an InputError naming train.val_fraction.
    """
    from model.data.pairs import Split

    fraction = manifest.train["val_fraction"]
    splits = Split(pairs, fraction)
    train, val, train_pairs, test_pairs, val_units = [], [], [], 0, set()
    for pair in pairs:
        split = splits.of(pair)
        if split == "test":
            test_pairs += 1
            continue
        (val if split == "val" else train).append(encode(pair))
        if split == "val":
            val_units.add(splits.unit(pair))
        if split == "train":
            train_pairs.append(pair)
    if not val or not train:
        units = "session" if splits.by_session else "conversation"
        raise InputError(
            f"train.val_fraction: {fraction} puts {'no' if not val else 'every'} {units} "
            f"in the validation split ({summary.conversations} conversations, "
            f"{summary.sessions} sessions); change it or add data", str(manifest.path))
    data_summary = summary.as_dict()
    data_summary.update(train_pairs=len(train), val_pairs=len(val), test_pairs=test_pairs,
                        val_units=len(val_units), by_session=splits.by_session)
    return train, val, train_pairs, data_summary


def prepare(manifest, resume_work: Path | None = None) -> Prepared:
    """Build and encode the pairs; every manifest problem raises InputError here."""
    where = str(manifest.path)
    canonical, personas, pairs, summary = load_pairs(manifest)
    hp = dict(manifest.model)
    base_model = None
    if manifest.base is not None:
        tokenizer, personas, hp, base_model = _from_base(manifest, personas)
    elif resume_work is not None and (resume_work / "tokenizer.json").is_file():
        tokenizer = Tokenizer.load(resume_work / "tokenizer.json")
    else:
        needed = min_vocab_size(len(personas))
        if hp["vocab"] < needed:
            raise InputError(f"model.vocab: {hp['vocab']} is too small; {needed} are needed "
                             f"for 256 bytes, {len(SPECIAL_TOKENS) + len(PII_TOKENS)} special tokens and "
                             f"{len(personas)} persona tokens", where)
        # the training conversations only: a word seen only in held-out chats must stay
        # unknown to the model, or eval's perplexity and novel-word share would flatter it
        from model.data.pairs import Split

        splits = Split(pairs, manifest.train["val_fraction"])
        texts = (text for pair in pairs if splits.of(pair) == "train"
                 for text in (pair["reply"], *pair["context"]))
        tokenizer = Tokenizer.train(texts, hp["vocab"], personas)
    tokenizer.max_context_tokens = hp["max_context_tokens"]
    tokenizer.max_reply_tokens = hp["max_reply_tokens"]
    hp["vocab_size"] = tokenizer.vocab_size
    persona_ids = {name: index for index, name in enumerate(personas)}

    def encode(pair: dict) -> tuple:
        return (tokenizer.encode_context(pair["context"], pair["context_speakers"]),
                tokenizer.encode_reply(pair["reply"]), persona_ids[pair["persona"]])

    train, val, train_pairs, data_summary = split_examples(manifest, pairs, summary, encode)
    return Prepared(tokenizer, personas, canonical, hp, train, val, train_pairs, data_summary,
                    base_model)


def _from_base(manifest, personas: list[str]):
    """Fine-tuning: the base bundle's tokenizer and architecture, new personas appended.

    Persona ids are rows of a trained table, so the base's personas keep their ids.
    """
    from model.serve.bundle import read_bundle

    meta = read_bundle(manifest.base)
    if not (manifest.base / KERAS_FILE).is_file():
        raise InputError(f"base: {manifest.base} has no {KERAS_FILE} to fine-tune from",
                         str(manifest.path))
    tokenizer = Tokenizer.load(manifest.base)
    known = list(meta["personas"])
    merged = known + [name for name in personas if name not in known]
    tokenizer.add_personas(merged)
    hp = {**meta["hyperparameters"], "dropout": manifest.model["dropout"]}
    return tokenizer, merged, hp, manifest.base / KERAS_FILE


WARMUP_SHARE = 0.05  # of all steps, for train.schedule: cosine
COSINE_FLOOR = 0.1  # the last step's rate, as a share of train.lr


def learning_rate(keras, settings: dict, train_examples: int):
    """train.lr as the optimizer takes it: a float, or the warmed-up cosine schedule.

    The usual recipe for fine-tuning a pretrained base: a short warm-up spares what the
    base knows from the first, largest gradients, and the decay lets the last epoch
    settle instead of bouncing (under a constant rate the pretrained demo's validation
    loss went up once mid-run).
    """
    if settings["schedule"] == "constant":
        return settings["lr"]
    steps = math.ceil(train_examples / settings["batch_size"]) * settings["epochs"]
    warmup = max(round(steps * WARMUP_SHARE), 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(steps - warmup, 1), alpha=COSINE_FLOOR,
        warmup_target=settings["lr"], warmup_steps=warmup)


def batch_order(context_lengths, reply_lengths, batch_size: int, seed: int | None):
    """Example indices grouped into batches of similar length (our bucketing).

    Shuffle (when seeded), sort the whole epoch by (reply, context) length with a stable
    sort, cut it into batches, then shuffle the batches: a batch holds examples of nearly
    equal length (little padding), and which examples share a batch still changes from
    epoch to epoch, because the shuffle breaks the many ties in length differently. On
    the demo corpus at its 48 / 24-token caps, 24% of the pairs of batch-mates meet again
    the next epoch (68% at 96 / 48), and the validation loss after 4 epochs on 12,000
    pairs was 4.89, against 5.00 when only windows of 32 batches were sorted. Without a
    seed the order is deterministic (validation).

    Reply length is the first key because a reply slot costs several context slots: it
    runs the decoder LSTM, attention over the whole context and the output softmax
    (demo size, forward + gradient on 2 CPU cores: 16 us per slot for the decoder LSTM
    and 8 us for the output layer, against 7 us per context slot for the BiLSTM
    encoder). Sorting the whole epoch rather than windows of 32 batches cut the padding
    of the demo corpus's 40,759 training pairs from 26% to 6% (96 / 48-token caps).
    """
    import numpy as np

    count = len(context_lengths)
    rng = np.random.default_rng(seed) if seed is not None else None
    order = rng.permutation(count) if rng is not None else np.arange(count)
    order = order[np.lexsort((context_lengths[order], reply_lengths[order]))]  # stable
    batches = [order[i:i + batch_size] for i in range(0, count, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def make_dataset(examples, batch_size: int, seed: int | None):
    """tf.data batches of similar length, each padded only to its own longest example.

    Yields ({"context_ids" [B, S], "reply_in" [B, T], "persona" [B]}, reply_out [B, T]);
    reply_in = <s> reply, reply_out = reply </s>, 0 = <pad>.
    """
    import numpy as np
    import tensorflow as tf

    bos, eos = 1, 2  # SPECIAL_TOKENS order
    context_lengths = np.array([len(context) for context, _, _ in examples])
    reply_lengths = np.array([len(reply) + 1 for _, reply, _ in examples])
    # padded once; a batch is then a slice (no Python per example while training runs)
    contexts = np.zeros((len(examples), max(context_lengths.max(), 1)), np.int32)
    replies_in = np.zeros((len(examples), reply_lengths.max()), np.int32)
    replies_out = np.zeros_like(replies_in)
    for row, (ids, reply, _) in enumerate(examples):
        contexts[row, :len(ids)] = ids
        replies_in[row, :len(reply) + 1] = [bos, *reply]
        replies_out[row, :len(reply) + 1] = [*reply, eos]
    personas = np.array([persona for _, _, persona in examples], np.int32)
    batches = batch_order(context_lengths, reply_lengths, batch_size, seed)

    def padded_batches():
        for batch in batches:
            width, steps = max(context_lengths[batch].max(), 1), reply_lengths[batch].max()
            yield ({"context_ids": contexts[batch, :width], "reply_in": replies_in[batch, :steps],
                    "persona": personas[batch]}, replies_out[batch, :steps])

    ids = tf.TensorSpec([None, None], tf.int32)
    signature = ({"context_ids": ids, "reply_in": ids,
                  "persona": tf.TensorSpec([None], tf.int32)}, ids)
    dataset = tf.data.Dataset.from_generator(padded_batches, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches))).prefetch(2)
