"""The run policy: which mode (all cores for one run, or one core per run) a given load gets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

from runtimes.onnx.batcher import Batcher
from runtimes.onnx.policy import WidthPolicy


def test_a_fresh_runtime_runs_a_lone_request_wide() -> None:
    policy = WidthPolicy(slots=2)
    assert policy.wide(busy=0, waiting=0)


def test_a_run_with_requests_waiting_is_narrow() -> None:
    policy = WidthPolicy(slots=2)
    assert not policy.wide(busy=0, waiting=1)
    assert not policy.wide(busy=0, waiting=15)


def test_a_run_beside_another_run_is_narrow() -> None:
    policy = WidthPolicy(slots=2)
    assert not policy.wide(busy=1, waiting=0)


def test_after_load_it_takes_calm_runs_lone_runs_to_go_wide_again() -> None:
    policy = WidthPolicy(slots=2, calm_runs=3)
    assert not policy.wide(busy=1, waiting=2)  # load seen
    assert [policy.wide(busy=0, waiting=0) for _ in range(5)] == [False, False, False, True, True]


def test_a_moment_alone_amid_steady_load_stays_narrow() -> None:
    # 4 clients on 2 slots: now and then a run finds nothing else to do for an instant
    policy = WidthPolicy(slots=2, calm_runs=4)
    modes = []
    for _ in range(10):
        modes.append(policy.wide(busy=1, waiting=1))
        modes.append(policy.wide(busy=0, waiting=0))  # the brief lull
        modes.append(policy.wide(busy=1, waiting=0))
    assert not any(modes)


def test_one_slot_always_runs_wide() -> None:
    policy = WidthPolicy(slots=1)
    assert policy.wide(busy=0, waiting=8)
    assert policy.wide(busy=0, waiting=0)


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0)


class Gate:
    """A model that records (items, exclusive) per run and can be held."""

    def __init__(self) -> None:
        self.runs: list[tuple[list[int], bool]] = []
        self.open = threading.Event()
        self.started = threading.Event()

    def __call__(self, items: Sequence[int], exclusive: bool) -> list[int]:
        self.runs.append((list(items), exclusive))
        self.started.set()
        self.open.wait(10)
        return list(items)


async def test_the_batcher_asks_its_policy_with_what_is_busy_and_waiting() -> None:
    seen: list[tuple[int, int]] = []

    class Recording:
        def wide(self, *, busy: int, waiting: int) -> bool:
            seen.append((busy, waiting))
            return False

    model = Gate()
    batcher: Batcher[int, int] = Batcher(model, max_batch_size=1, slots=2, policy=Recording())
    await batcher.start()
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.to_thread(model.started.wait, 5)
    rest = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await asyncio.wait_for(_until(lambda: len(seen) == 2), 5)  # item 2 waits for a slot
    assert seen == [(0, 0), (1, 1)]
    model.open.set()
    assert await asyncio.gather(first, *rest) == [0, 1, 2]
    assert all(not exclusive for _, exclusive in model.runs)
    await batcher.aclose()
