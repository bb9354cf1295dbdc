"""Dynamic batching: texts of concurrent requests are gathered into one forward pass.

A worker thread per model takes texts from a bounded queue: it waits at most ``max_wait`` after the oldest
waiting text for others to arrive, then runs up to ``max_batch_size`` texts at once (the model sorts them by
length and pads each batch to its own longest text). A request's texts may be split across batches; its future
completes when all of them are done. The queue is bounded in texts: :meth:`DynamicBatcher.submit` raises
:class:`QueueFull` (with a Retry-After estimate) instead of letting it grow. Callers from any thread use
:meth:`DynamicBatcher.predict`; an asyncio server awaits ``asyncio.wrap_future(batcher.submit(texts))``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Callable, Sequence

__all__ = ["BatchStats", "DynamicBatcher", "QueueFull"]


class QueueFull(Exception):
    """The batcher's queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int, depth: int) -> None:
        super().__init__(f"the queue is full ({depth} texts waiting); retry after {retry_after} s")
        self.retry_after = retry_after
        self.depth = depth


@dataclass
class _Item:
    texts: list[str]
    future: Future
    results: list[Any] = field(default_factory=list)
    taken: int = 0  # texts handed to a batch so far
    done: int = 0  # texts with results
    cancelled: bool = False


@dataclass
class BatchStats:
    """Counters the batcher keeps (the service exports them as metrics too)."""

    batches: int = 0
    texts: int = 0
    seconds: float = 0.0

    @property
    def texts_per_second(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0


@dataclass(eq=False)
class DynamicBatcher:
    """Gathers texts of concurrent callers into batches for ``forward`` (texts -> one result per text).

    :param max_batch_size: most texts in one call of ``forward``.
    :param max_wait: seconds the oldest waiting text waits for more to arrive.
    :param max_queue: most texts waiting; :meth:`submit` raises :class:`QueueFull` beyond it.
    :param batching: ``False``: one request per call of ``forward`` (the baseline; its texts still in chunks of
        ``max_batch_size``).
    :param on_batch: called after every batch with ``(texts, seconds)`` (metrics).
    """

    forward: Callable[[list[str]], list[Any]]
    _: KW_ONLY
    max_batch_size: int = 32
    max_wait: float = 0.005
    max_queue: int = 1024
    batching: bool = True
    on_batch: Callable[[int, float], None] | None = None
    name: str = "batcher"

    def __post_init__(self) -> None:
        self.stats = BatchStats()
        self._items: deque[_Item] = deque()
        self._waiting = 0  # texts not yet handed to a batch (of items not cancelled)
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Texts waiting for a batch."""
        return self._waiting

    def submit(self, texts: Sequence[str]) -> Future:
        """Queue ``texts``; the future's result is one result per text, in order. Raises :class:`QueueFull`."""
        item = _Item(list(texts), Future())
        if not item.texts:
            item.future.set_result([])
            return item.future
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            # a request larger than the whole queue still runs when the queue is empty (alone, in batches)
            if self._waiting and self._waiting + len(item.texts) > self.max_queue:
                raise QueueFull(self._retry_after(), self._waiting)
            item.results = [None] * len(item.texts)
            self._items.append(item)
            self._waiting += len(item.texts)
            self._cond.notify()
        return item.future

    def predict(self, texts: Sequence[str], timeout: float | None = None) -> list[Any]:
        """Batched prediction from any thread (blocks; ``timeout``: seconds, then ``TimeoutError``)."""
        future = self.submit(texts)
        try:
            return future.result(timeout)
        except TimeoutError:
            self.cancel(future)
            raise

    def cancel(self, future: Future) -> None:
        """Drop a request's texts not yet in a batch (its caller gave up: a timeout)."""
        with self._cond:
            for item in self._items:
                if item.future is future and not item.cancelled:
                    item.cancelled = True
                    self._waiting -= len(item.texts) - item.taken
        future.cancel()

    def close(self, timeout: float | None = None) -> None:
        """Finish what is queued, then stop the worker."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _retry_after(self) -> int:
        rate = self.stats.texts_per_second or 1.0
        return max(1, min(60, math.ceil(self._waiting / rate)))

    # -- the worker --------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:  # empty when every waiting request was cancelled meanwhile
                self._run_batch(batch)

    def _next_batch(self) -> list[tuple[_Item, int, int]] | None:
        """``(item, start, end)`` slices of waiting items, up to ``max_batch_size`` texts; ``None``: closed."""
        with self._cond:
            while True:
                while self._items and self._items[0].cancelled:
                    self._items.popleft()
                if self._items:
                    break
                if self._closed:
                    return None
                self._cond.wait()
            if self.batching:
                deadline = time.monotonic() + self.max_wait
                while self._waiting < self.max_batch_size and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            return self._take()

    def _take(self) -> list[tuple[_Item, int, int]]:
        batch, room = [], self.max_batch_size
        while self._items and room:
            item = self._items[0]
            if item.cancelled:
                self._items.popleft()
                continue
            n = min(room, len(item.texts) - item.taken)
            batch.append((item, item.taken, item.taken + n))
            item.taken += n
            self._waiting -= n
            room -= n
            if item.taken == len(item.texts):
                self._items.popleft()
            if not self.batching:
                break
        return batch

    def _run_batch(self, batch: list[tuple[_Item, int, int]]) -> None:
        texts = [text for item, start, end in batch for text in item.texts[start:end]]
        started = time.perf_counter()
        try:
            results = self.forward(texts)
        except BaseException as exc:  # the callers get the model's error; the worker goes on
            for item, _, _ in batch:
                _settle(item.future, exception=exc)
            return
        seconds = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.seconds += seconds
        if self.on_batch is not None:
            self.on_batch(len(texts), seconds)
        at = 0
        for item, start, end in batch:
            item.results[start:end] = results[at : at + end - start]
            at += end - start
            item.done += end - start
            if item.done == len(item.texts):
                _settle(item.future, result=item.results)


def _settle(future: Future, *, result: Any = None, exception: BaseException | None = None) -> None:
    """Complete ``future`` unless its caller cancelled it meanwhile (a timeout)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
