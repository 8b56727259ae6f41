"""Keras models (LSTM and Transformer): masking, persona conditioning, save/load, step cut."""

from __future__ import annotations

import numpy as np
import pytest

from model.train.nets import build_model, load_keras_model, setup_tensorflow

VOCAB, PERSONAS = 60, 3
BASE_HP = {"embed": 16, "units": 24, "dropout": 0.1, "heads": 2, "layers": 1,
           "attention": "luong", "persona_embedding": True, "tie_embeddings": True,
           "max_context_tokens": 16, "max_reply_tokens": 8}
KINDS = ["lstm", "transformer"]

CONTEXT = np.array([[7, 8, 9, 5, 10, 0, 0], [11, 12, 13, 14, 15, 16, 17]], np.int32)
REPLY_IN = np.array([[1, 20, 21, 22], [1, 23, 0, 0]], np.int32)
PERSONA = np.array([0, 2], np.int32)


@pytest.fixture(scope="module", autouse=True)
def tensorflow():
    return setup_tensorflow(seed=3, threads=1)


def make(kind: str, **overrides):
    return build_model({**BASE_HP, "kind": kind, **overrides}, VOCAB, PERSONAS)


def logits(model, context=CONTEXT, reply_in=REPLY_IN, persona=PERSONA):
    return np.asarray(model({"context_ids": context, "reply_in": reply_in, "persona": persona},
                            training=False))


def inference(model, kind):
    from model.train.export import inference_for
    return inference_for(model, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_extra_context_padding_does_not_change_logits(kind):
    model = make(kind)
    padded = np.pad(CONTEXT, ((0, 0), (0, 5)))
    reference = logits(model)
    assert reference.shape == (2, 4, VOCAB)
    np.testing.assert_allclose(logits(model, context=padded), reference, atol=1e-5)
    # a real change of the context does change them (the test is not vacuous)
    changed = CONTEXT.copy()
    changed[0, 0] = 30
    assert np.abs(logits(model, context=changed)[0] - reference[0]).max() > 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_reply_padding_does_not_change_earlier_steps(kind):
    model = make(kind)
    longer = np.pad(REPLY_IN, ((0, 0), (0, 3)))
    np.testing.assert_allclose(logits(model, reply_in=longer)[:, :4], logits(model), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_persona_changes_logits_unless_ablated(kind):
    model = make(kind)
    other = np.array([1, 1], np.int32)
    assert np.abs(logits(model, persona=other) - logits(model)).max() > 1e-4
    ablated = make(kind, persona_embedding=False)
    np.testing.assert_array_equal(logits(ablated, persona=other), logits(ablated))
    assert ablated.count_params() == model.count_params()  # same size: a fair baseline


def test_untied_output_adds_an_output_matrix():
    tied, untied = make("lstm"), make("lstm", tie_embeddings=False)
    assert untied.count_params() - tied.count_params() == BASE_HP["embed"] * VOCAB


@pytest.mark.parametrize("kind", KINDS)
def test_step_graph_reproduces_teacher_forced_logits(kind):
    model = make(kind)
    cut = inference(model, kind)
    encoded = cut.encode(CONTEXT)
    states = {name: encoded[name] for name in cut.state_names}
    mask = (CONTEXT != 0).astype(np.float32)
    reference = logits(model)
    for step in range(REPLY_IN.shape[1]):
        outputs = cut.step(REPLY_IN[:, step], PERSONA, encoded["memory"], mask, states)
        states = {name: outputs[name] for name in cut.state_names}
        np.testing.assert_allclose(np.asarray(outputs["logits"]), reference[:, step], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_gives_identical_logits_and_greedy_output(kind, tmp_path):
    from model.serve.tokenizer import Tokenizer
    from model.train.export import greedy_decode, keras_functions

    model = make(kind)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_keras_model(path, compile=False)
    np.testing.assert_array_equal(logits(loaded), logits(model))

    tokenizer = Tokenizer.train(["hello there", "see you"], 300, ["Ana"], max_reply_tokens=8)

    def decode(m):
        cut = inference(m, kind)
        encode, step = keras_functions(cut)
        return greedy_decode(encode, step, CONTEXT, PERSONA, tokenizer, cut.state_names)[0]

    tokens = decode(model)
    assert tokens.shape[0] == 2 and tokens.shape[1] >= 1
    np.testing.assert_array_equal(decode(loaded), tokens)
