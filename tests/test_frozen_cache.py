"""The frozen blocks' states on disk: written once, reused only while their key holds."""

import numpy as np

from model.train.pretrained.frozen_cache import cache_key, open_cached, write_cache

HIDDEN = 4


def batches_of(sequences, order):
    """(indices, [B, T, H] states, lengths) in `order`, padded like the trainer's batches;
    example i's state at position t is i + t / 100 in every channel."""
    for indices in order:
        width = max(len(sequences[i]) for i in indices)
        states = np.full((len(indices), width, HIDDEN), -1.0, np.float32)  # padding
        for row, i in enumerate(indices):
            states[row, :len(sequences[i])] = (i + np.arange(len(sequences[i])) / 100)[:, None]
        yield indices, states, np.array([len(sequences[i]) for i in indices])


SEQUENCES = [[5, 6, 7], [1], [2, 3, 4, 5, 6], [9, 9]]
KEY = cache_key("sha", 1, "float32", SEQUENCES)


def test_states_come_back_per_example_whatever_order_they_were_computed_in(tmp_path):
    written = write_cache(tmp_path, "train", KEY, HIDDEN, len(SEQUENCES),
                          batches_of(SEQUENCES, [[2, 0], [3, 1]]))
    reopened = open_cached(tmp_path, "train", KEY)
    for states in (written, reopened):
        assert len(states) == 4 and states.lengths.tolist() == [3, 1, 5, 2]
        for i, sequence in enumerate(SEQUENCES):
            expected = (i + np.arange(len(sequence)) / 100)[:, None].repeat(HIDDEN, 1)
            assert states[i].dtype == np.float16 and states[i].shape == (len(sequence), HIDDEN)
            np.testing.assert_allclose(states[i], expected, rtol=1e-3)  # no padding rows


def test_another_base_precision_frozen_count_or_example_is_another_key():
    keys = {KEY, cache_key("other sha", 1, "float32", SEQUENCES),
            cache_key("sha", 2, "float32", SEQUENCES),
            cache_key("sha", 1, "mixed_bfloat16", SEQUENCES),
            cache_key("sha", 1, "float32", [[5, 6, 7], [1], [2, 3, 4, 5, 6], [9, 8]]),
            cache_key("sha", 1, "float32", [[5, 6, 7, 1], [2, 3, 4, 5, 6], [9, 9]])}
    assert len(keys) == 6


def test_a_cache_under_another_key_or_half_written_is_not_reused(tmp_path):
    write_cache(tmp_path, "train", KEY, HIDDEN, len(SEQUENCES), batches_of(SEQUENCES, [[0, 1, 2, 3]]))
    assert open_cached(tmp_path, "train", "another key") is None
    assert open_cached(tmp_path, "validation", KEY) is None
    data = tmp_path / "train.f16"
    data.write_bytes(data.read_bytes()[:-2])  # cut short (a full disk, a copy)
    assert open_cached(tmp_path, "train", KEY) is None
    # a run killed while writing: the old index is gone before the data is rewritten
    killed = batches_of(SEQUENCES, [[0, 1], [2, 3]])

    def interrupted():
        yield next(killed)
        raise KeyboardInterrupt

    try:
        write_cache(tmp_path, "train", KEY, HIDDEN, len(SEQUENCES), interrupted())
    except KeyboardInterrupt:
        pass
    assert open_cached(tmp_path, "train", KEY) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.f16"]  # the old, cut file


def test_no_examples_is_an_empty_cache(tmp_path):
    empty = write_cache(tmp_path, "validation", cache_key("sha", 1, "float32", []), HIDDEN, 0, [])
    assert len(empty) == 0 and empty.lengths.tolist() == []
