"""Micro-batching: concurrent requests in one worker are decoded in one `reply_batch` call.

A batcher thread takes the first waiting request, collects more for up to `max_wait_s`
or until `max_batch`, decodes them together and hands each caller its own reply. Each
request keeps its own decoding settings (the runtime honours them per row). If a batch
fails, its requests are retried one by one so one bad request cannot fail the others.

`DirectDecoder` has the same face without the thread (batching off, for the benchmark).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

ReplyBatch = Callable[[Sequence[Any]], list[Any]]

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
                 on_batch: Callable[[int], None] | None = None):
        self._reply_batch = reply_batch
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self._on_batch = on_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, request: Any) -> tuple[Any, int]:
        """Block until the request's batch is decoded; return (reply, batch size).

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
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else \
                        self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._decode(batch)

    def _decode(self, batch: list[tuple[Any, Future]]) -> None:
        try:
            replies = self._reply_batch([request for request, _ in batch])
            if len(replies) != len(batch):
                raise RuntimeError(f"reply_batch gave {len(replies)} replies for "
                                   f"{len(batch)} requests")
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
            else:
                for item in batch:  # retry alone, so only the failing request fails
                    self._decode([item])
            return
        if self._on_batch:
            self._on_batch(len(batch))
        for (_, future), reply in zip(batch, replies, strict=True):
            future.set_result((reply, len(batch)))
