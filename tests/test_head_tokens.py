"""The serving head over a token list (the tokens of the training chats and the base's
commonest) plus each prompt's own tokens: what it scores, what it can write, what it
refuses. The tiny base's vocabulary is small, so these tests build the list by hand."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from llama_reference import forward as reference_forward

from model.serve.bundle import BundleError
from model.serve.decode import NEG_INF, Decoding
from model.serve.generate import generate
from model.serve.load import load_replier
from model.serve.pretrained.assemble import open_base, unpack_delta
from model.serve.pretrained.base import LlamaConfig
from model.serve.runtime import ReplyRequest
from model.train.pretrained.bundle_writer import (
    HEAD_FLOOR,
    HEAD_TOKENS_FILE,
    export_pretrained,
    head_tokens,
)
from tests.tiny_llama import float_graph_copy


def listed_bundle(tiny_bundle, folder, listed=None):
    """(the float32 bundle whose head scores `listed`, by default every third token and the
    control tokens; those tokens, a replier of it, the weights and config for the numpy
    reference)"""
    if listed is None:
        listed = np.unique(np.r_[np.arange(0, 265, 3), [0, 1, 2]])
    bundle = float_graph_copy(tiny_bundle, folder, head_tokens=listed)
    replier = load_replier(bundle)
    weights = open_base(bundle, replier.meta["base"]).weights()
    weights.update(unpack_delta(bundle / "delta.npz"))
    return listed, replier, weights, LlamaConfig.from_dict(replier.meta["base"]["config"])


def log_softmax_over(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """log p over `tokens` only (the rest get no mass), as [V] with -inf elsewhere."""
    out = np.full(logits.shape, -np.inf)
    kept = logits[tokens] - logits[tokens].max()
    out[tokens] = kept - np.log(np.exp(kept).sum())
    return out


def test_the_head_scores_the_list_and_each_prompts_own_tokens_only(tiny_bundle, cache,
                                                                    tmp_path):
    listed, replier, weights, config = listed_bundle(tiny_bundle, tmp_path)
    personas = ["Sam", "Jo"]
    prompts = [replier.context_ids(ReplyRequest(text), persona)
               for text, persona in zip(["zebra quiz", "what a day"], personas, strict=True)]
    state = replier.encode(prompts, personas)
    logits, _ = replier.step(np.full(2, replier.rules.bos, np.int32), state)
    for row, prompt in enumerate(prompts):
        scored = np.union1d(listed, prompt)
        assert len(scored) < config.vocab  # the list and the prompt leave tokens out
        np.testing.assert_array_equal(np.flatnonzero(logits[row] > NEG_INF / 2), scored)
        expected = reference_forward(weights, config, prompt)[-1]
        np.testing.assert_allclose(logits[row, scored], expected[scored], atol=1e-3)


def test_replies_write_only_scored_tokens_and_real_replies_score_whole(tiny_bundle, cache,
                                                                     tmp_path):
    listed, replier, weights, config = listed_bundle(tiny_bundle, tmp_path)
    request = ReplyRequest("zebra quiz")
    prompt = replier.context_ids(request, "Sam")
    allowed = np.union1d(listed, prompt)
    hot = Decoding.from_dict({"temperature": 3.0, "max_len": 30, "no_repeat_ngram": 0})
    written = generate(replier.step, replier.encode([prompt] * 4, ["Sam"] * 4),
                              replier.rules, hot, [1, 2, 3, 4])
    assert set(np.concatenate(written).tolist()) <= set(allowed.tolist())
    assert set(np.concatenate(written).tolist()) - set(listed.tolist())  # the prompt's own
    # a real reply with tokens outside the list and the prompt still gets its log p
    reply = "xylophone jam"
    target = replier.tokenizer.encode_text(reply)
    assert set(target) - set(allowed.tolist())
    scores = replier.token_logprobs([request], [reply])[0]
    scored = np.union1d(allowed, target)
    for position, token in enumerate([*target, replier.rules.eos]):
        logits = reference_forward(weights, config, prompt + target[:position])[-1]
        expected = log_softmax_over(logits.astype(np.float64), scored)[token]
        assert scores[position] == pytest.approx(expected, abs=1e-3)


def test_a_prompts_own_tokens_count_as_if_listed_in_every_decoding(tiny_bundle, cache,
                                                                   tmp_path):
    """Listing the prompt's tokens changes nothing for that prompt: sampling, beams, MMI
    reranking (whose anti-LM must score them too) and scoring alike."""
    rules = load_replier(tiny_bundle).rules  # a list of little more than the end tokens:
    listed = np.unique([0, 1, 2, rules.eos, rules.brk])  # replies are the prompt's tokens
    listed, replier, _, _ = listed_bundle(tiny_bundle, tmp_path / "a", listed)
    request = ReplyRequest("bfjqz BFJQZ")  # letters the persona's system block lacks
    prompt = replier.context_ids(request, "Sam")
    with_prompt = load_replier(float_graph_copy(tiny_bundle, tmp_path / "c",
                                                head_tokens=np.union1d(listed, prompt)))
    for decoding in ({"temperature": 2.0, "seed": 3, "max_len": 16},
                     {"strategy": "beam", "max_len": 10},
                     {"rerank": 8, "mmi_lambda": 0.5, "temperature": 3.0, "seed": 1,
                      "max_len": 10},
                     {"strategy": "beam", "rerank": 4, "mmi_lambda": 0.5, "max_len": 10}):
        ask = ReplyRequest(request.message, decoding=decoding)
        assert (replier.reply_batch([ask])[0].text ==
                with_prompt.reply_batch([ask])[0].text), decoding
    np.testing.assert_allclose(replier.token_logprobs([request], ["zebra"])[0],
                               with_prompt.token_logprobs([request], ["zebra"])[0], atol=1e-5)


def test_head_tokens_cover_the_training_examples_floor_and_end_tokens():
    examples = [([9001, 9002, 5], [9003, 7]), ([12, 20000], [20000, 49000])]
    tokens = head_tokens(examples, 49152, (49151, 198))
    assert tokens.dtype == np.int64 and np.all(np.diff(tokens) > 0)
    assert set(tokens.tolist()) == (set(range(HEAD_FLOOR)) |
                                    {9001, 9002, 9003, 20000, 49000, 49151})
    assert head_tokens([], 300, (2,)).tolist() == list(range(300))  # a small vocabulary


@pytest.mark.parametrize("bad", [np.array([5, 3, 9]), np.array([0, 1, 10 ** 6]),
                                 np.array([[1, 2]]), np.array([0.5, 2.0])])
def test_a_head_token_list_that_does_not_fit_the_base_is_refused_by_name(bad, tiny_bundle,
                                                                         cache, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    np.save(bundle / HEAD_TOKENS_FILE, bad)
    before = {path.name: path.stat().st_mtime_ns for path in bundle.iterdir()}
    with pytest.raises(BundleError, match=HEAD_TOKENS_FILE):
        export_pretrained(bundle)
    assert {path.name: path.stat().st_mtime_ns for path in bundle.iterdir()} == before
