"""The TF-free runtime on the real demo bundle: loading, verification, batching, threads, chat."""

import shutil
import threading

import pytest

from model.serve.bundle import BundleError
from model.serve.load import load_replier
from model.serve.retrieval import RetrievalIndex
from model.serve.runtime import ReplyRequest, UnknownPersona

MESSAGES = [
    ("hey! how was your weekend?", []),
    ("do you like dogs or cats more", ["hi there", "hello :)"]),
    ("what are you studying?", ["so where are you from"]),
    ("i just got back from the gym", []),
    ("any plans for tonight?", ["hey", "hey whats up", "not much, you?"]),
    ("that movie was so good", ["did you see it yet"]),
]


@pytest.fixture(scope="module")
def replier(demo_bundle):
    return load_replier(demo_bundle)


def greedy_requests(replier, **extra):
    return [ReplyRequest(message, context, replier.personas[i % len(replier.personas)],
                         {"strategy": "greedy", **extra})
            for i, (message, context) in enumerate(MESSAGES)]


def test_loads_a_real_bundle_and_replies_with_bubbles(replier):
    assert replier.default_persona in replier.personas
    reply = replier.reply("hey! how was your weekend?", context=["hi"], seed=3)
    assert reply.persona == replier.default_persona
    assert reply.text.strip() and reply.messages
    assert reply.messages == [m.strip() for m in reply.text.split("<brk>") if m.strip()]
    assert "<s>" not in reply.text and "<pad>" not in reply.text and "<unk>" not in reply.text
    assert replier.reply("hey! how was your weekend?", context=["hi"], seed=3) == reply
    tok = replier.tokenizer
    never = {"<pad>", "<s>", "<unk>", "<sep>", "<phone>", "<email>", "<url>", "<card>",
             *(f"<p:{name}>" for name in replier.personas)}
    assert {tok.hf.token_to_id(token) for token in never} <= set(replier.rules.banned)


def test_every_strategy_runs_on_the_real_graphs(replier):
    for decoding in ({"strategy": "greedy"}, {"strategy": "beam", "beam_width": 3},
                     {"strategy": "sample", "seed": 1, "top_k": 20},
                     {"strategy": "sample", "rerank": 4, "seed": 2},
                     {"strategy": "beam", "rerank": 3}):
        reply = replier.reply("what are you up to?", **decoding)
        assert reply.text == reply.text.strip(), decoding
        assert not reply.text.startswith("<brk>") and not reply.text.endswith("<brk>")


def test_reply_batch_equals_single_replies(replier):
    requests = greedy_requests(replier)
    batched = replier.reply_batch(requests)
    assert batched == [replier.reply_batch([r])[0] for r in requests]
    assert len({r.text for r in batched}) > 1  # different inputs, different replies


def test_sampled_batch_with_mixed_settings_equals_single_replies(replier):
    requests = [ReplyRequest(m, c, None, {"seed": i, "temperature": 0.7 + 0.3 * (i % 2)})
                for i, (m, c) in enumerate(MESSAGES)]
    assert replier.reply_batch(requests) == [replier.reply_batch([r])[0] for r in requests]


def test_threads_replying_at_once_match_sequential_replies(replier):
    requests = greedy_requests(replier)
    expected = [replier.reply_batch([r])[0] for r in requests]
    results: dict[int, list] = {}
    errors = []

    def worker(n):
        try:
            results[n] = [replier.reply_batch([r])[0] for r in requests]
        except Exception as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert [results[n] for n in range(4)] == [expected] * 4


def test_unknown_persona_lists_the_known_ones(replier):
    with pytest.raises(UnknownPersona) as info:
        replier.reply("hi", persona="Nobody")
    assert isinstance(info.value, ValueError)
    for name in replier.personas:
        assert name in str(info.value)


def test_bad_decoding_settings_are_value_errors(replier):
    with pytest.raises(ValueError, match="temprature"):
        replier.reply("hi", temprature=0.5)


def test_retrieval_grounding_puts_a_close_training_reply_first(replier):
    index = RetrievalIndex.load(replier.bundle_dir / "retrieval.json")
    *context, message = index.contexts[0]
    hit = replier.retrieve(message, context)
    assert hit is not None and hit.similarity > 0.99
    persona, tok = replier.default_persona, replier.tokenizer
    long_context = ["a long story about nothing at all " * 3] * 6 + context
    request = ReplyRequest(message, long_context, persona)
    hit = replier.retrieve(message, long_context)  # earlier turns lower the similarity
    plain = replier.context_ids(request, persona)
    grounded = replier.context_ids(request, persona, ground=hit.similarity)
    assert replier.context_ids(request, persona, ground=min(hit.similarity + 0.01, 1)) == plain
    prefix = tok.encode_context([hit.reply], [persona], max_tokens=0)
    prefix = prefix[:tok.max_context_tokens // 2]
    assert grounded[:len(prefix) + 1] == [*prefix, tok.sep_id]
    assert grounded[-3:] == plain[-3:]  # the message itself survives the cut
    assert len(grounded) <= tok.max_context_tokens
    unrelated = ReplyRequest("qqqq zzzz xxxx", [], persona)
    assert replier.context_ids(unrelated, persona, ground=0.5) == \
        replier.context_ids(unrelated, persona)
    assert replier.reply(message, context, ground=0.5, seed=1).text.strip()


def test_tampered_file_is_refused_naming_it(demo_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(demo_bundle, copy)
    with open(copy / "decoder_step.onnx", "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="decoder_step.onnx"):
        load_replier(copy)


def test_teacher_forced_logprobs_prefer_the_models_own_greedy_reply(replier):
    request = ReplyRequest("any plans for tonight?", [], None, {})
    own = replier.reply_batch([ReplyRequest(request.message, [], None,
                                            {"strategy": "greedy", "repetition_penalty": 1.0,
                                             "no_repeat_ngram": 0})])[0].text
    own_lp, other_lp = replier.token_logprobs([request, request],
                                              [own, "the mitochondria is a banana"])
    assert own_lp.mean() > other_lp.mean()


def test_chat_through_a_pipe(run_cli, demo_bundle):
    script = "hey there\n/persona Nobody\n/reset\nwhat do you do for fun?\n/quit\nnever read\n"
    result = run_cli("model", "chat", demo_bundle, "--seed", "4", input=script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    persona = load_replier(demo_bundle).default_persona
    replies = [line for line in lines if line.startswith(f"{persona}: ")]
    assert len(replies) >= 2
    assert any("unknown persona 'Nobody'" in line for line in lines)
    assert "(conversation reset)" in lines
    again = run_cli("model", "chat", demo_bundle, "--seed", "4", input=script)
    assert again.stdout == result.stdout  # seeded: the same conversation twice


@pytest.mark.parametrize("flags, message", [
    (("--persona", "Nobody"), "unknown persona 'Nobody'"),
    (("--beam-width", "0"), "bad decoding setting beam_width=0"),
    (("--strategy", "sample", "--seed", "-1"), "bad decoding setting seed=-1"),
    (("--top-p", "5"), "bad decoding setting top_p=5.0"),
])
def test_chat_rejects_bad_flags_up_front_in_one_line(run_cli, demo_bundle, flags, message):
    result = run_cli("model", "chat", demo_bundle, *flags, input="hi\n")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message}")


def test_a_request_from_turns_names_speakers_only_when_the_persona_spoke():
    plain = ReplyRequest.from_turns("and you?", [("hi", None), ("fine", None)], None, {"seed": 1})
    assert (plain.context, plain.speakers, plain.decoding) == (["hi", "fine"], None, {"seed": 1})
    mixed = ReplyRequest.from_turns("and you?", [("hi", None), ("fine", "Ana")], "Ana")
    assert mixed.speakers == [None, "Ana", None] and mixed.persona == "Ana"
