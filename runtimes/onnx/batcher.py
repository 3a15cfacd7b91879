"""Batcher: an adaptive request batcher in front of a blocking model.

Requests wait in one bounded queue. Whenever an inference slot is free, the batcher takes what is
*already* waiting - its share (the waiting requests divided among the slots), at most
``max_batch_size`` requests that arrived within ``max_latency_ms`` of the oldest one and share its
``batch_key`` - and runs it at once in a worker thread. It never
holds a free slot to wait for more, so a lone client pays no batching delay, while under load
batches grow by themselves. A worker whose run took ``GO_ON_AFTER`` or longer takes its next share
itself, in its thread, instead of waiting for the event loop to hand it over (on shared cores the
loop may not run for a while, and the slot would idle). A lone run (nothing else running or
waiting) runs on the event loop's own thread when the last lone run took less than
``lone_on_loop_ms``: the loop has nothing else to do meanwhile, and the hop to a worker thread and
back costs more than it saves (+7-15 % images/s at one client, imagenet on 2 cores).

A run is *exclusive* when its ``RunPolicy`` (``policy.py``) says it may have every core: the
callee may then use all cores for that one batch (e.g. a session with several intra-op threads);
otherwise it should use one core, so that several batches run side by side. Results go back to
each caller in order; when a batch fails, its items are retried one by one so that only the bad
one fails. A full queue answers ``Overloaded`` (429); ``aclose`` stops intake, finishes running
batches and the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from runtimes.errors import NotReady, Overloaded
from runtimes.onnx.policy import RunPolicy, WidthPolicy

T = TypeVar("T")
R = TypeVar("R")

#: a worker takes the next batch itself only after a run at least this long (seconds); after a
#: shorter one, waiting for the event loop to hand it over lets a larger batch gather
GO_ON_AFTER = 0.001

#: run(items, exclusive) -> one result per item, in order. Blocking; called in a worker thread.
RunBatch = Callable[[Sequence[T], bool], Sequence[R]]


class BatchObserver(Protocol):
    """Receives what the batcher measures (``RuntimeMetrics`` implements it)."""

    def observe_batch(self, size: int, queue_seconds: Sequence[float], run_seconds: float) -> None:
        """One batch ran: its size, each item's time in the queue, the run's duration."""


@dataclass(eq=False)
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher(Generic[T, R]):
    """Collects single items into batches for ``run``; ``submit`` returns that item's result."""

    def __init__(
        self,
        run: RunBatch[T, R],
        *,
        max_batch_size: int = 16,
        max_latency_ms: float = 5.0,
        max_queue: int = 256,
        slots: int = 1,
        observer: BatchObserver | None = None,
        batch_key: Callable[[T], object] | None = None,
        policy: RunPolicy | None = None,
        lone_on_loop_ms: float = 0.0,
    ) -> None:
        self._run = run
        self._key = batch_key
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency_ms / 1000.0
        self.max_queue = max_queue
        self.slots = max(1, slots)
        self._observer = observer
        self._policy = policy or WidthPolicy(self.slots)
        self.lone_on_loop = lone_on_loop_ms / 1000.0
        self._lone_run = float("inf")  # how long the last lone run took; none yet
        self._queue: deque[_Pending[T, R]] = deque()
        self._free = self.slots
        self._running = 0
        self._closing = False
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # the queue and the slot counts, shared by the event loop and the worker threads
        self._lock = threading.Lock()

    @property
    def queued(self) -> int:
        """Requests waiting for a slot."""
        return len(self._queue)

    @property
    def closing(self) -> bool:
        """True once `aclose` began: new items are refused."""
        return self._closing

    async def start(self) -> None:
        """Start the dispatcher on the running loop (idempotent)."""
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            self._executor = ThreadPoolExecutor(self.slots, thread_name_prefix="inference")
            self._task = asyncio.create_task(self._dispatch(), name="batcher")

    def check_room(self) -> None:
        """Raise what ``submit`` would refuse with now (``NotReady``, ``Overloaded``): lets a caller
        refuse before it does work for the item (the GPU path decodes before it submits)."""
        if self._closing or self._wakeup is None:
            raise NotReady("the model server is not accepting requests")
        if len(self._queue) >= self.max_queue:
            raise Overloaded(f"the inference queue is full ({self.max_queue} requests waiting)")

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result (or its own exception)."""
        self.check_room()
        assert self._wakeup is not None  # check_room: started
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._queue.append(_Pending(item, future))
        self._wakeup.set()
        return await future

    async def aclose(self) -> None:
        """Refuse new items, then wait until running batches and queued items are answered."""
        self._closing = True
        if self._task is None or self._wakeup is None:
            return
        self._wakeup.set()
        await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _dispatch(self) -> None:
        assert self._wakeup is not None and self._executor is not None
        share = 0  # per slot, in this round of takes (a round ends when the loop has to wait)
        while True:
            with self._lock:
                idle = not self._queue or self._free == 0
                if idle and self._closing and not self._queue and self._running == 0:
                    return
                if not idle:
                    share = share or self._share()  # kept for this round of takes
                    batch = self._take(min(self.max_batch_size, share))
                    if batch:
                        waiting = len(self._queue)
                        exclusive = self._policy.wide(busy=self._running, waiting=waiting)
                        here = (
                            exclusive
                            and not (self._running or waiting)
                            and (self._lone_run < self.lone_on_loop)
                        )
                        taken = self.slots if exclusive else 1
                        self._free -= taken
                        self._running += 1
            if idle:
                # a worker that changes what this saw wakes it through the loop, after this clear
                self._wakeup.clear()
                share = 0
                await self._wakeup.wait()
                continue
            if batch and here:
                self._work_here(batch, taken)
            elif batch:
                # not run_in_executor: its asyncio future would wake the loop a second time
                self._executor.submit(self._work, batch, exclusive, taken)

    def _work_here(self, batch: list[_Pending[T, R]], taken: int) -> None:
        """On the event loop's thread: a lone batch, exclusive (see the module)."""
        started = time.perf_counter()
        try:
            outcomes = self._run_guarded([p.item for p in batch], True)
        finally:
            finished = time.perf_counter()
            with self._lock:
                self._release(taken)
        self._lone_run = finished - started
        self._deliver(batch, outcomes, started, finished, False)

    def _work(self, batch: list[_Pending[T, R]], exclusive: bool, taken: int) -> None:
        """Runs in a worker thread: the batch, then, while requests wait and this slot is its
        own, the next one, without waiting for the event loop to hand it over."""
        assert self._loop is not None
        released = False
        try:
            while True:
                started = time.perf_counter()
                outcomes = self._run_guarded([p.item for p in batch], exclusive)
                finished = time.perf_counter()
                if exclusive:
                    self._lone_run = finished - started
                following: list[_Pending[T, R]] = []
                with self._lock:
                    if taken == 1 and self._queue and finished - started >= GO_ON_AFTER:
                        following = self._take(min(self.max_batch_size, self._share()))
                    if following:
                        waiting = len(self._queue)
                        exclusive = self._policy.wide(busy=self._running - 1, waiting=waiting)
                        if exclusive:  # alone after all: every other slot is free
                            self._free -= self.slots - 1
                            taken = self.slots
                    else:
                        self._release(taken)
                        released = True
                self._loop.call_soon_threadsafe(
                    self._deliver, batch, outcomes, started, finished, released
                )
                if released:
                    return
                batch = following
        except BaseException as exc:  # only a bug (or a closed loop) gets here
            if not released:
                with self._lock:
                    self._release(taken)
                failed: list[R | BaseException] = [exc] * len(batch)
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    self._loop.call_soon_threadsafe(
                        self._deliver, batch, failed, time.perf_counter(), time.perf_counter(), True
                    )
            raise

    def _release(self, taken: int) -> None:
        """A run ended (under the lock): its slots are free again."""
        self._free += taken
        self._running -= 1

    def _share(self) -> int:
        """One slot's share of what waits (under the lock). What waits is shared among the
        slots: a slot that took it all would keep its callers waiting on one long batch while
        the next slot to free had nothing to do."""
        return -(-len(self._queue) // self.slots)

    def _take(self, limit: int) -> list[_Pending[T, R]]:
        batch: list[_Pending[T, R]] = []
        while self._queue and len(batch) < limit:
            head = self._queue[0]
            if batch and (
                head.enqueued - batch[0].enqueued > self.max_latency
                or (self._key is not None and self._key(head.item) != self._key(batch[0].item))
            ):
                break  # it belongs to a later batch
            self._queue.popleft()
            if not head.future.done():  # a cancelled caller needs no answer
                batch.append(head)
        return batch

    def _run_guarded(self, items: Sequence[T], exclusive: bool) -> list[R | BaseException]:
        """Runs in a worker thread: the batch, or each item alone when the batch fails."""
        try:
            results = list(self._run(items, exclusive))
            if len(results) != len(items):
                raise RuntimeError(f"run returned {len(results)} results for {len(items)} items")
            return list(results)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        outcomes: list[R | BaseException] = []
        for item in items:
            try:
                outcomes.append(self._run([item], exclusive)[0])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _deliver(
        self,
        batch: list[_Pending[T, R]],
        outcomes: Sequence[R | BaseException],
        started: float,
        finished: float,
        released: bool,
    ) -> None:
        """On the event loop: each caller's result, the batch's measures, and a wake-up for the
        dispatcher when the slot came free."""
        if released:
            self._wake()
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
        if self._observer is not None:
            waits = [started - p.enqueued for p in batch]
            self._observer.observe_batch(len(batch), waits, finished - started)

    def _wake(self) -> None:
        assert self._wakeup is not None
        self._wakeup.set()
