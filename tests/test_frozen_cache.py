"""The frozen blocks' states on disk: written once, resumed after an interruption, reused
only while their key holds."""

import json
import shutil

import numpy as np
import pytest

from model.train.pretrained import frozen_cache
from model.train.pretrained.frozen_cache import CacheWriter, cache_key, open_cached

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


def interrupted(batches, after):
    """`batches`, cut by a Ctrl-C after `after` of them."""
    for _ in range(after):
        yield next(batches)
    raise KeyboardInterrupt


SEQUENCES = [[5, 6, 7], [1], [2, 3, 4, 5, 6], [9, 9], [4, 4, 4, 4]]
KEY = cache_key("sha", 1, "float32", SEQUENCES)
ORDER = [[2, 0], [3, 1], [4]]


def write(folder, order, key=KEY):
    return CacheWriter(folder, "train", key, HIDDEN, len(SEQUENCES)).write(
        batches_of(SEQUENCES, order))


def write_interrupted(folder, after):
    writer = CacheWriter(folder, "train", KEY, HIDDEN, len(SEQUENCES))
    with pytest.raises(KeyboardInterrupt):
        writer.write(interrupted(batches_of(SEQUENCES, ORDER), after))


def resume(folder):
    """Write what the cache lacks, in ORDER; (the states, the examples computed)."""
    writer = CacheWriter(folder, "train", KEY, HIDDEN, len(SEQUENCES))
    missing = set(writer.missing.tolist())
    order = [[i for i in batch if i in missing] for batch in ORDER]
    return writer.write(batches_of(SEQUENCES, [batch for batch in order if batch])), missing


def assert_same_cache(states, folder, expected_folder):
    """Every example's states equal bit for bit, and so do the data files."""
    expected = open_cached(expected_folder, "train", KEY)
    assert len(states) == len(expected) == len(SEQUENCES)
    for i in range(len(SEQUENCES)):
        assert states[i].tobytes() == expected[i].tobytes()
    assert (folder / "train.f16").read_bytes() == (expected_folder / "train.f16").read_bytes()


@pytest.fixture
def uninterrupted(tmp_path):
    write(tmp_path / "uninterrupted", ORDER)
    return tmp_path / "uninterrupted"


def test_states_come_back_per_example_whatever_order_they_were_computed_in(tmp_path):
    written = write(tmp_path, ORDER)
    reopened = open_cached(tmp_path, "train", KEY)
    for states in (written, reopened):
        assert len(states) == 5 and states.lengths.tolist() == [3, 1, 5, 2, 4]
        for i, sequence in enumerate(SEQUENCES):
            expected = (i + np.arange(len(sequence)) / 100)[:, None].repeat(HIDDEN, 1)
            assert states[i].dtype == np.float16 and states[i].shape == (len(sequence), HIDDEN)
            np.testing.assert_allclose(states[i], expected, rtol=1e-3)  # no padding rows


def test_another_base_precision_frozen_count_or_example_is_another_key():
    keys = {KEY, cache_key("other sha", 1, "float32", SEQUENCES),
            cache_key("sha", 2, "float32", SEQUENCES),
            cache_key("sha", 1, "mixed_bfloat16", SEQUENCES),
            cache_key("sha", 1, "float32", [[5, 6, 7], [1], [2, 3, 4, 5, 6], [9, 8], [4] * 4]),
            cache_key("sha", 1, "float32", [[5, 6, 7, 1], [2, 3, 4, 5, 6], [9, 9], [4] * 4])}
    assert len(keys) == 6


def test_a_cache_under_another_key_cut_short_or_half_written_is_not_reused(tmp_path):
    write(tmp_path, [[0, 1, 2, 3, 4]])
    assert open_cached(tmp_path, "train", "another key") is None
    assert open_cached(tmp_path, "validation", KEY) is None
    data = tmp_path / "train.f16"
    data.write_bytes(data.read_bytes()[:-2])  # cut short (a full disk, a copy)
    assert open_cached(tmp_path, "train", KEY) is None
    write_interrupted(tmp_path, after=1)
    assert open_cached(tmp_path, "train", KEY) is None


def test_an_interrupted_cache_resumes_with_only_the_examples_it_lacks(tmp_path, uninterrupted):
    write_interrupted(tmp_path, after=2)  # examples 2, 0, 3 and 1 written, 4 not
    states, computed = resume(tmp_path)
    assert computed == {4}
    assert_same_cache(states, tmp_path, uninterrupted)
    assert_same_cache(open_cached(tmp_path, "train", KEY), tmp_path, uninterrupted)


def test_a_torn_last_example_is_cut_off_and_computed_again(tmp_path, uninterrupted):
    write_interrupted(tmp_path, after=1)
    with open(tmp_path / "train.f16", "ab") as data:  # half of example 3, then the kill
        data.write(np.full((1, HIDDEN), 7, np.float16).tobytes())
    states, computed = resume(tmp_path)
    assert computed == {1, 3, 4}
    assert_same_cache(states, tmp_path, uninterrupted)


def test_a_run_killed_outright_keeps_what_its_last_record_names(tmp_path, uninterrupted,
                                                               monkeypatch):
    """SIGKILL, power loss: no `finally`, only the records written while computing."""
    monkeypatch.setattr(frozen_cache, "RECORD_EVERY_S", 0)  # a record after every batch
    killed = tmp_path / "killed"
    writer = CacheWriter(tmp_path / "running", "train", KEY, HIDDEN, len(SEQUENCES))

    def killed_after_two_batches():
        batches = batches_of(SEQUENCES, ORDER)
        yield next(batches)
        yield next(batches)
        shutil.copytree(tmp_path / "running", killed)  # the folder as the kill leaves it
        yield from batches

    writer.write(killed_after_two_batches())
    record = json.loads((killed / "train.json").read_text())
    assert record["starts"][4] == -1 and min(record["starts"][:4]) >= 0
    states, computed = resume(killed)
    assert computed == {4}
    assert_same_cache(states, killed, uninterrupted)


def test_another_key_starts_afresh(tmp_path):
    write_interrupted(tmp_path, after=2)
    other = cache_key("sha", 2, "float32", SEQUENCES)
    writer = CacheWriter(tmp_path, "train", other, HIDDEN, len(SEQUENCES))
    assert writer.missing.tolist() == [0, 1, 2, 3, 4]
    writer.write(batches_of(SEQUENCES, [[4, 3]]))  # only some examples, as if cut short
    assert (tmp_path / "train.f16").stat().st_size == (4 + 2) * HIDDEN * 2  # nothing of KEY's
    assert CacheWriter(tmp_path, "train", KEY, HIDDEN, len(SEQUENCES)).missing.size == 5


def test_a_data_file_shorter_than_its_record_starts_afresh(tmp_path):
    write_interrupted(tmp_path, after=2)
    data = tmp_path / "train.f16"
    data.write_bytes(data.read_bytes()[:-2])
    assert CacheWriter(tmp_path, "train", KEY, HIDDEN, len(SEQUENCES)).missing.size == 5


def test_no_examples_is_an_empty_cache(tmp_path):
    writer = CacheWriter(tmp_path, "validation", cache_key("sha", 1, "float32", []), HIDDEN, 0)
    empty = writer.write([])
    assert len(empty) == 0 and empty.lengths.tolist() == []
