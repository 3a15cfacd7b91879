"""The adaptive batcher's behaviour (never its speed), with plain functions as the model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from runtimes.errors import NotReady, Overloaded
from runtimes.onnx.batcher import Batcher


class Recorder:
    """A 'model' that doubles numbers, records its batches (and the threads that ran them) and
    can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[int], bool]] = []
        self.threads: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, items: Sequence[int], exclusive: bool) -> list[int]:
        self.batches.append((list(items), exclusive))
        self.threads.append(threading.get_ident())
        self.started.set()
        self.gate.wait(10)
        if any(i < 0 for i in items):
            raise ValueError(f"negative input in {list(items)}")
        return [2 * i for i in items]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the event loop run, a turn at a time, until `condition` holds (fails past `timeout`)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0)


async def test_results_in_order_and_batched_under_load() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=4, max_latency_ms=1000, slots=1)
    await batcher.start()
    model.gate.clear()
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.to_thread(model.started.wait, 5)
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 10)]
    await until(lambda: batcher.queued == 9)
    model.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [2 * i for i in range(1, 10)]
    sizes = [len(items) for items, _ in model.batches]
    assert sizes == [1, 4, 4, 1]  # what waited while the slot was busy, max_batch_size at most
    assert [i for items, _ in model.batches for i in items] == list(range(10))
    await batcher.aclose()


async def test_lone_request_runs_at_once_and_exclusive() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=16, max_latency_ms=10_000, slots=2)
    await batcher.start()
    # a partial batch is not held for max_latency_ms: a lone request leaves immediately
    assert await asyncio.wait_for(batcher.submit(21), timeout=2) == 42
    assert model.batches == [([21], True)]  # all slots idle, nothing waiting: exclusive run
    await batcher.aclose()


async def test_deadline_separates_batches() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=16, max_latency_ms=20, slots=1)
    await batcher.start()
    model.gate.clear()
    blocker = asyncio.create_task(batcher.submit(0))
    await asyncio.to_thread(model.started.wait, 5)
    early = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await until(lambda: batcher.queued == 2)
    # the time under test, not a synchronisation: later arrivals come past the oldest waiting
    # request's deadline (20 ms)
    await asyncio.sleep(0.06)
    late = [asyncio.create_task(batcher.submit(i)) for i in (3, 4)]
    await until(lambda: batcher.queued == 4)
    model.gate.set()
    await asyncio.gather(blocker, *early, *late)
    assert [items for items, _ in model.batches] == [[0], [1, 2], [3, 4]]
    await batcher.aclose()


async def test_two_slots_run_side_by_side_not_exclusive() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=1, slots=2)
    await batcher.start()
    model.gate.clear()
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
    await until(lambda: len(model.batches) == 2 and batcher.queued == 2)
    assert len(model.batches) == 2  # two slots busy at once
    model.gate.set()
    assert await asyncio.gather(*tasks) == [0, 2, 4, 6]
    # the two that ran side by side shared the cores; the last one may find both slots idle and
    # run exclusive (the adaptive rule), depending on when the threads finish
    assert [exclusive for _, exclusive in model.batches[:2]] == [False, False]
    await batcher.aclose()


async def test_one_bad_item_fails_alone() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=8, slots=1)
    await batcher.start()
    model.gate.clear()
    blocker = asyncio.create_task(batcher.submit(1))
    await asyncio.to_thread(model.started.wait, 5)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in (2, -1, 3)]
    await until(lambda: batcher.queued == 3)
    model.gate.set()
    outcomes = await asyncio.gather(blocker, *tasks, return_exceptions=True)
    assert outcomes[:2] == [2, 4] and outcomes[3] == 6
    assert isinstance(outcomes[2], ValueError)
    assert [items for items, _ in model.batches][1:] == [[2, -1, 3], [2], [-1], [3]]
    await batcher.aclose()


async def test_full_queue_is_overloaded() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=1, max_queue=2, slots=1)
    await batcher.start()
    model.gate.clear()
    running = asyncio.create_task(batcher.submit(0))
    await asyncio.to_thread(model.started.wait, 5)
    queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await until(lambda: batcher.queued == 2)
    with pytest.raises(Overloaded) as caught:
        await batcher.submit(3)
    assert caught.value.status_code == 429
    assert caught.value.headers()["Retry-After"] == "1"
    model.gate.set()
    assert await asyncio.gather(running, *queued) == [0, 2, 4]
    await batcher.aclose()


async def test_shutdown_answers_running_and_queued() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=2, slots=1)
    await batcher.start()
    model.gate.clear()
    running = asyncio.create_task(batcher.submit(5))
    await asyncio.to_thread(model.started.wait, 5)
    queued = [asyncio.create_task(batcher.submit(i)) for i in (6, 7, 8)]
    await until(lambda: batcher.queued == 3)
    closing = asyncio.create_task(batcher.aclose())
    await until(lambda: batcher.closing)
    with pytest.raises(NotReady):  # no new work once closing
        await batcher.submit(9)
    model.gate.set()
    await closing
    assert await asyncio.gather(running, *queued) == [10, 12, 14, 16]


async def test_cancelled_caller_is_skipped() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=8, slots=1)
    await batcher.start()
    model.gate.clear()
    running = asyncio.create_task(batcher.submit(1))
    await asyncio.to_thread(model.started.wait, 5)
    gone = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await until(lambda: batcher.queued == 2)
    gone.cancel()
    model.gate.set()
    assert list(await asyncio.gather(running, kept)) == [2, 6]
    assert [items for items, _ in model.batches] == [[1], [3]]
    await batcher.aclose()


async def test_what_waits_is_shared_among_the_slots() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=16, max_latency_ms=1000, slots=2)
    await batcher.start()
    model.gate.clear()
    first = asyncio.create_task(batcher.submit(0))  # alone: an exclusive run on both slots
    await asyncio.to_thread(model.started.wait, 5)
    rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 9)]
    await until(lambda: batcher.queued == 8)
    model.gate.set()
    assert await asyncio.gather(first, *rest) == [2 * i for i in range(9)]
    # the 8 that waited go to both slots, 4 each, not 8 to one while the other idles
    assert [items for items, _ in model.batches] == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    await batcher.aclose()


async def test_a_worker_takes_what_waits_without_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("runtimes.onnx.batcher.GO_ON_AFTER", 0.0)
    model = Recorder()
    following = threading.Event()
    calls = 0

    def run(items: Sequence[int], exclusive: bool) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 3:
            following.set()
        return model(items, exclusive)

    batcher: Batcher[int, int] = Batcher(run, max_batch_size=1, slots=2)
    await batcher.start()
    model.gate.clear()
    busy = [asyncio.create_task(batcher.submit(i)) for i in (0, 1)]  # both slots, one core each
    await until(lambda: len(model.batches) == 2)
    waiting = asyncio.create_task(batcher.submit(2))
    await until(lambda: batcher.queued == 1)
    model.gate.set()
    # the event loop is held here (this wait blocks it): only a worker can start the third run
    assert following.wait(5)
    assert await asyncio.gather(*busy, waiting) == [0, 2, 4]
    await batcher.aclose()


async def test_a_short_lone_run_runs_on_the_event_loop_thread() -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, slots=2, lone_on_loop_ms=60_000)
    await batcher.start()
    loop_thread = threading.get_ident()
    for i in range(3):  # one at a time
        assert await batcher.submit(i) == 2 * i
    # the first lone run is timed in a worker; the next ones are known short: no thread hop
    assert [thread == loop_thread for thread in model.threads] == [False, True, True]
    model.gate.clear()
    both = [asyncio.create_task(batcher.submit(i)) for i in (3, 4)]
    await until(lambda: len(model.threads) == 5)  # side by side: the loop is not held
    model.gate.set()
    assert await asyncio.gather(*both) == [6, 8]
    assert loop_thread not in model.threads[3:]
    await batcher.aclose()


@pytest.mark.parametrize("lone_on_loop_ms", [0.0, 1e-9])  # never; shorter than any run
async def test_a_lone_run_longer_than_the_limit_runs_in_a_worker(lone_on_loop_ms: float) -> None:
    model = Recorder()
    batcher: Batcher[int, int] = Batcher(model, slots=2, lone_on_loop_ms=lone_on_loop_ms)
    await batcher.start()
    for i in range(3):
        assert await batcher.submit(i) == 2 * i
    assert len(model.threads) == 3 and threading.get_ident() not in model.threads
    await batcher.aclose()
