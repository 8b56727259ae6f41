"""Micro-batching: concurrent requests in one worker are decoded together.

A batcher thread takes the first waiting request, collects more for up to `max_wait_s`
or until `max_batch`, decodes them together with one `reply_batch` call and hands each
caller its own reply. Each request keeps its own decoding settings (the runtime honours
them per row). If a batch fails, its requests are retried one by one so one bad request
cannot fail the others (runtime.answer_each).

With `stream` (a pretrained bundle's `Replier.reply_stream`, whose default decoding is a
beam search), the thread instead runs one search that takes waiting requests whenever
its rows free up and answers each as soon as it is done: continuous batching. A request
no longer waits for the slowest of its micro-batch, and the batch does not drain.

`DirectDecoder` has the same face without the thread (batching off, for the benchmark).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from model.serve.runtime import answer_each

ReplyBatch = Callable[[Sequence[Any]], list[Any]]
Take = Callable[[int, bool], list[tuple[Any, Future]]]
Give = Callable[[Future, Any], None]

_STOP = object()


class DirectDecoder:
    """Decode each request on the caller's thread, alone."""

    def __init__(self, reply_batch: ReplyBatch, on_batch: Callable[[int], None] | None = None):
        self._reply_batch = reply_batch
        self._on_batch = on_batch

    def submit(self, request: Any) -> tuple[Any, int]:
        """Return (reply, size of the batch it was decoded in)."""
        (reply,) = self._reply_batch([request])
        if self._on_batch:
            self._on_batch(1)
        return reply, 1

    def close(self) -> None:
        pass


class MicroBatcher:
    def __init__(self, reply_batch: ReplyBatch, max_batch: int = 32, max_wait_s: float = 0.005,
                 on_batch: Callable[[int], None] | None = None,
                 stream: Callable[[Take, Give], None] | None = None):
        self._reply_batch = reply_batch
        self._stream = stream
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._stopping = False
        # the batcher thread's own: each request taken and not answered, with the number
        # of requests in flight when it was taken (what `submit` reports as its batch)
        self._in_flight: dict[Future, int] = {}

    @property
    def continuous(self) -> bool:
        """Whether requests join one running search (`stream`) rather than micro-batches."""
        return self._stream is not None

    def submit(self, request: Any) -> tuple[Any, int]:
        """Block until the request is decoded; return (reply, requests decoding with it
        when it started).

        Raises whatever decoding this one request raised.
        """
        if self._closed:
            raise RuntimeError("batcher is closed")
        self._ensure_thread()
        future: Future = Future()
        self._queue.put((request, future))
        return future.result()

    def close(self) -> None:
        """Stop the thread after the requests already queued are answered."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()

    def _ensure_thread(self) -> None:
        # Started on first use, not in __init__: a thread does not survive a fork, and
        # gunicorn may build the app before forking its workers.
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="micro-batcher",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping:
            try:
                if self._stream is not None:
                    self._stream(self._take, self._give)
                else:
                    answer_each(self._reply_batch, self._take(self.max_batch, True), self._give)
            except Exception as exc:  # the stream itself failed: its requests get the error
                for future in list(self._in_flight):
                    self._give(future, exc)

    def _take(self, count: int, wait: bool) -> list[tuple[Any, Future]]:
        """At most `count` waiting requests. With `wait`, block for the first, then
        collect more for up to `max_wait_s`; without, only those already waiting. None
        once the batcher is stopping."""
        taken: list[tuple[Any, Future]] = []
        deadline = None
        while len(taken) < count and not self._stopping:
            try:
                if wait and not taken:
                    item = self._queue.get()
                    deadline = time.monotonic() + self.max_wait_s
                elif wait and deadline - time.monotonic() > 0:
                    item = self._queue.get(timeout=deadline - time.monotonic())
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._stopping = True
            else:
                taken.append(item)
        if taken:
            decoding = len(self._in_flight) + len(taken)
            self._in_flight.update((future, decoding) for _, future in taken)
            if self._on_batch:
                self._on_batch(decoding)
        return taken

    def _give(self, future: Future, result: Any) -> None:
        decoding = self._in_flight.pop(future)
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result((result, decoding))
