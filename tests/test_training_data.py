"""Our length bucketing (model.train.training_data): every example once, little padding where
it costs most (replies), a fresh order and fresh batch-mates per seed, batches padded to
their own longest."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from model.train.training_data import COSINE_FLOOR, batch_order, learning_rate, make_dataset

BATCH = 16


def lengths(count=2000, seed=0):
    """Context and reply lengths shaped like chat data: long-tailed, capped, independent."""
    rng = np.random.default_rng(seed)
    context = np.minimum(rng.geometric(1 / 40, count), 96)
    reply = np.minimum(rng.geometric(1 / 12, count), 48)
    return context, reply


def padding_share(batches, sizes):
    padded = sum(len(batch) * sizes[batch].max() for batch in batches)
    return 1 - sizes.sum() / padded


def test_every_example_appears_once_per_epoch():
    context, reply = lengths()
    batches = batch_order(context, reply, BATCH, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(context)))
    assert all(1 <= len(batch) <= BATCH for batch in batches)


def test_replies_are_bucketed_tightly_and_contexts_better_than_shuffled():
    context, reply = lengths()
    ours = batch_order(context, reply, BATCH, seed=3)
    shuffled = np.array_split(np.random.default_rng(3).permutation(len(context)),
                              len(context) // BATCH)
    # reply slots cost the most (decoder, attention, softmax): they are the first key.
    # Sorting windows of 32 batches instead of the whole epoch left 5% and 55% here.
    assert padding_share(ours, reply) < 0.03 < 0.5 < padding_share(shuffled, reply)
    assert padding_share(ours, context) < 0.75 * padding_share(shuffled, context)


def test_order_changes_with_the_seed_and_is_fixed_without_one():
    context, reply = lengths()
    first, again = batch_order(context, reply, BATCH, 1), batch_order(context, reply, BATCH, 1)
    other = batch_order(context, reply, BATCH, 2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    plain = batch_order(context, reply, BATCH, None)
    assert all(np.array_equal(a, b)
               for a, b in zip(plain, batch_order(context, reply, BATCH, None), strict=True))


def test_batch_mates_change_from_epoch_to_epoch():
    """The whole epoch is sorted by length, so only the shuffle before the (stable) sort
    decides who shares a batch among examples of equal lengths: ties must not always
    break the same way."""
    context, reply = lengths()

    def shared_pairs(*seeds):  # pairs of examples in one batch under every seed
        batch_of = [np.empty(len(context), int) for _ in seeds]
        for ids, seed in zip(batch_of, seeds, strict=True):
            for index, batch in enumerate(batch_order(context, reply, BATCH, seed)):
                ids[batch] = index
        return sum(n * (n - 1) // 2 for n in Counter(zip(*batch_of, strict=True)).values())

    assert shared_pairs(1, 2) < 0.95 * shared_pairs(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_batches_are_padded_to_their_own_longest_example():
    examples = [([5] * n, [7] * m, n % 3) for n, m in ((3, 2), (9, 1), (4, 6), (2, 2), (8, 5))]
    seen = 0
    for inputs, reply_out in make_dataset(examples, batch_size=2, seed=4):
        context, reply_in = inputs["context_ids"].numpy(), inputs["reply_in"].numpy()
        real_context = (context != 0).sum(axis=1)
        real_reply = (reply_out.numpy() != 0).sum(axis=1)
        assert context.shape[1] == real_context.max()  # no column of padding only
        assert reply_in.shape[1] == real_reply.max()
        assert (reply_in[:, 0] == 1).all()  # <s>
        for row, length in enumerate(real_reply):
            assert reply_out.numpy()[row, length - 1] == 2  # </s>
            assert (reply_in[row, 1:length] == 7).all()
        seen += len(context)
    assert seen == len(examples)


def test_cosine_schedule_warms_up_peaks_at_lr_and_ends_at_its_floor():
    keras = pytest.importorskip("keras")
    settings = {"lr": 2e-4, "batch_size": 16, "epochs": 3, "schedule": "cosine"}
    schedule = learning_rate(keras, settings, 1600)  # 100 steps an epoch, 300 in all
    rate = [float(schedule(step)) for step in (0, 7, 15, 150, 300)]
    assert rate[0] < rate[1] < rate[2] == pytest.approx(2e-4)  # warm-up: 5% = 15 steps
    assert rate[2] > rate[3] > rate[4] == pytest.approx(2e-4 * COSINE_FLOOR)
    assert learning_rate(keras, {**settings, "schedule": "constant"}, 1600) == 2e-4


def test_nothing_learns_from_held_out_conversations(tmp_path):
    """A word said only in a test or validation chat must not become a token of its own,
    an entry of the bundle's retrieval index, or a feature of eval's persona classifier
    (which may see validation chats, never test ones)."""
    import json

    from model.data.manifest import load_manifest
    from model.data.pairs import split_of
    from model.eval.evaluate import load_split
    from model.eval.scores import PersonaClassifier
    from model.serve.retrieval import RetrievalIndex
    from model.train.training_data import prepare

    ids = [f"chat-{index}" for index in range(60)]
    by_split = {split: next(c for c in ids if split_of(c, 0.1) == split)
                for split in ("train", "val", "test")}
    word = {"train": "wkyfpe", "val": "vbzqmo", "test": "zqxjvu"}
    lines = []
    for number, conversation in enumerate(ids):
        split = split_of(conversation, 0.1)
        for turn in range(6):
            said = (f"{word[split]} " * 40 if conversation == by_split[split]
                    else "hi there" if turn % 2 else "hello you")
            lines.append({"source": "s", "conversation": conversation,
                          "time": f"2024-01-01T00:{number % 60:02d}:{turn:02d}",
                          "sender": "Ana" if turn % 2 else "Bo", "text": said, "kind": "text"})
    (tmp_path / "chats.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    (tmp_path / "m.yaml").write_text(
        "name: leak\nsources: [{format: jsonl, path: chats.jsonl}]\npersona: Ana\n"
        "model: {vocab: 300}\ntrain: {val_fraction: 0.1}\n")
    data = prepare(load_manifest(tmp_path / "m.yaml"))
    tokenizer = data.tokenizer
    assert len(tokenizer.encode_text(word["train"])) == 1  # 240 times in training: merged
    for held_out in ("val", "test"):
        assert len(tokenizer.encode_text(word[held_out])) > 2, held_out

    def indexed(pairs) -> str:  # everything the bundle's retrieval index keeps
        index = RetrievalIndex.from_pairs(pairs, persona="Ana")
        return json.dumps([index.contexts, index.replies])

    assert word["train"] in indexed(data.train_pairs)
    assert word["val"] not in indexed(data.train_pairs)
    assert word["test"] not in indexed(data.train_pairs)

    train, test = load_split({}, tmp_path, tmp_path / "m.yaml", None)
    assert any(word["test"] in p["reply"] for p in test)
    features = PersonaClassifier(train, "Ana").pipeline[0].vocabulary_
    assert word["train"][:4] in features and word["val"][:4] in features
    assert not [f for f in features if word["test"][:3] in f]
