"""Micro-batching over the real runtime: one reply_batch call, per-request results."""

from __future__ import annotations

import threading

import pytest

from backend.web.batcher import DirectDecoder, MicroBatcher
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest, UnknownPersona

# Generous: a batch is released as soon as it is full, so tests never wait this long.
LONG_WAIT_S = 30.0


@pytest.fixture(scope="module")
def replier(demo_bundle):
    return load_replier(demo_bundle)


class RecordingDecoder:
    """The real reply_batch, remembering the size of every call."""

    def __init__(self, replier):
        self.replier = replier
        self.sizes: list[int] = []

    def __call__(self, requests):
        self.sizes.append(len(requests))
        return self.replier.reply_batch(requests)


def submit_together(decoder, requests):
    """Submit every request from its own thread at once; results (or exceptions) in order."""
    results: list = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def one(index):
        start.wait()
        try:
            results[index] = decoder.submit(requests[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def requests_with_own_settings(replier):
    return [
        ReplyRequest("hi there", decoding={"strategy": "greedy"}),
        ReplyRequest("what's up", decoding={"strategy": "sample", "seed": 1}),
        ReplyRequest("what's up", decoding={"strategy": "sample", "seed": 2,
                                            "temperature": 1.5}),
        ReplyRequest("see you at 8", ["are you coming?"], replier.personas[-1],
                     {"strategy": "sample", "seed": 3, "top_p": 0.5}),
    ]


def test_concurrent_requests_share_one_call_and_keep_their_own_settings(replier):
    recording = RecordingDecoder(replier)
    requests = requests_with_own_settings(replier)
    batcher = MicroBatcher(recording, max_batch=len(requests), max_wait_s=LONG_WAIT_S)
    try:
        results = submit_together(batcher, requests)
    finally:
        batcher.close()
    assert recording.sizes == [len(requests)]
    for request, (reply, batch_size) in zip(requests, results, strict=True):
        alone = replier.reply_batch([request])[0]
        assert batch_size == len(requests)
        assert (reply.text, reply.persona) == (alone.text, alone.persona)


def test_batches_never_exceed_max_batch(replier):
    recording = RecordingDecoder(replier)
    sizes_seen = []
    batcher = MicroBatcher(recording, max_batch=3, max_wait_s=0.05, on_batch=sizes_seen.append)
    try:
        results = submit_together(batcher, [ReplyRequest(f"msg {i}") for i in range(8)])
    finally:
        batcher.close()
    assert all(not isinstance(result, Exception) for result in results)
    assert sum(recording.sizes) == 8 and max(recording.sizes) <= 3
    assert sizes_seen == recording.sizes


def test_a_bad_request_fails_alone(replier):
    recording = RecordingDecoder(replier)
    requests = [ReplyRequest("hello", decoding={"seed": 5}),
                ReplyRequest("hello", persona="Nobody"),
                ReplyRequest("bye", decoding={"strategy": "greedy"})]
    batcher = MicroBatcher(recording, max_batch=3, max_wait_s=LONG_WAIT_S)
    try:
        results = submit_together(batcher, requests)
    finally:
        batcher.close()
    assert isinstance(results[1], UnknownPersona)
    assert results[0][0].text == replier.reply_batch([requests[0]])[0].text
    assert results[2][0].text == replier.reply_batch([requests[2]])[0].text
    assert recording.sizes[0] == 3  # tried together first, then one by one
    assert sorted(recording.sizes[1:]) == [1, 1, 1]


def test_close_answers_what_is_queued_and_refuses_more(replier):
    batcher = MicroBatcher(replier.reply_batch, max_batch=8, max_wait_s=0.001)
    reply, size = batcher.submit(ReplyRequest("hi", decoding={"strategy": "greedy"}))
    assert reply.text == replier.reply("hi", strategy="greedy").text and size == 1
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit(ReplyRequest("hi"))


def test_direct_decoder_decodes_each_request_alone(replier):
    recording = RecordingDecoder(replier)
    direct = DirectDecoder(recording)
    results = submit_together(direct, [ReplyRequest(f"msg {i}") for i in range(4)])
    assert recording.sizes == [1, 1, 1, 1]
    assert all(size == 1 for _, size in results)


# --- continuous batching: a pretrained bundle's running beam search ------------------------


def test_reply_stream_answers_each_request_when_done_and_takes_more_as_rows_free_up(
        tiny_bundle, cache):
    pretrained = load_replier(tiny_bundle)
    assert pretrained.continuous  # its default decoding is a beam search
    pretrained.MAX_DECODE_ROWS = 8  # two requests at a time (beam 4)
    waiting = [(ReplyRequest("message " + "word " * (i * 5 % 9)), i) for i in range(7)]
    waiting += [(ReplyRequest("hello", persona="Nobody"), "bad"),
                (ReplyRequest("hello", decoding={"strategy": "sample", "seed": 4}), "sampled")]
    sent = {tag: request for request, tag in waiting}
    events = []

    def take(count, wait):
        taken, waiting[:count] = waiting[:count], []
        events.append(("take", count, wait, [tag for _, tag in taken]))
        return taken

    pretrained.reply_stream(take, lambda tag, result: events.append(("give", tag, result)))
    given = {event[1]: event[2] for event in events if event[0] == "give"}
    assert isinstance(given.pop("bad"), UnknownPersona)
    for tag, reply in given.items():
        assert reply.text == pretrained.reply_batch([sent[tag]])[0].text, tag
    takes = [event for event in events if event[0] == "take"]
    assert all(count <= 2 for _, count, _, _ in takes)
    assert takes[-1] == ("take", 2, True, [])  # the stream ends when nothing comes
    last_taken = max(i for i, event in enumerate(events) if event[0] == "take" and event[3])
    assert any(event[0] == "give" for event in events[:last_taken])  # answered while others waited


def test_a_micro_batcher_with_a_stream_answers_concurrent_requests_as_decoded_alone(
        tiny_bundle, cache):
    pretrained = load_replier(tiny_bundle)
    requests = [ReplyRequest(f"msg {i} " + "more " * i) for i in range(10)]
    requests.append(ReplyRequest("hello", persona="Nobody"))
    sizes = []
    batcher = MicroBatcher(pretrained.reply_batch, max_batch=64, max_wait_s=0.05,
                           on_batch=sizes.append, stream=pretrained.reply_stream)
    try:
        results = submit_together(batcher, requests)
    finally:
        batcher.close()
    assert isinstance(results[-1], UnknownPersona)
    for request, (reply, decoding) in zip(requests, results[:-1], strict=False):
        assert reply.text == pretrained.reply_batch([request])[0].text
        assert 1 <= decoding <= len(requests)
    assert max(sizes) > 1  # requests decoded together


@pytest.mark.parametrize("continuous", [True, False])
def test_the_app_serves_a_pretrained_bundle_through_a_running_search_unless_told_not_to(
        tiny_bundle, cache, continuous):
    from backend.web.app import create_app

    app = create_app({"bundle": str(tiny_bundle), "rate_limit_per_s": 0,
                      "continuous_batching": continuous})
    service = app.extensions["doppel"]
    assert service.decoder.continuous is continuous
    try:
        response = app.test_client().post("/api/reply", json={"message": "free tonight?"})
    finally:
        service.decoder.close()
    assert response.status_code == 200
    assert response.get_json()["reply"] == service.replier.reply("free tonight?").text
