"""Cold start: from starting a process to its first 200 on a predict URL, a few times over.

The clock starts just before the process is spawned and stops at the first successful answer
(polled every 10 ms, a refused connection or a 503 just means "not yet"). Each run starts from
nothing: a fresh process, and for the gateway a fresh data folder.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from benchmarks.payloads import Payload
from benchmarks.processes import BenchmarkError, Child, ProcessGroup

POLL_S = 0.01

Starter = Callable[[int], tuple[str, Child]]  # run index -> (predict URL, started child)


@dataclass(frozen=True)
class ColdStart:
    """Seconds to the first answer, per run."""

    what: str
    runs_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s) if self.runs_s else float("nan")


def measure_cold_start(
    group: ProcessGroup, what: str, start: Starter, payload: Payload, runs: int, timeout: float
) -> ColdStart:
    """``runs`` times: start a process with ``start``, time its first 200, stop it."""
    times: list[float] = []
    with httpx.Client(timeout=timeout) as client:
        for index in range(runs):
            began = time.perf_counter()
            url, child = start(index)
            try:
                times.append(_first_answer(client, url, payload, child, began + timeout) - began)
            finally:
                group.stop(child)
    return ColdStart(what, tuple(times))


def _first_answer(
    client: httpx.Client, url: str, payload: Payload, child: Child, deadline: float
) -> float:
    headers = {"Content-Type": payload.content_type}
    while True:
        try:
            if client.post(url, content=payload.body, headers=headers).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        if child.popen.poll() is not None:
            raise BenchmarkError(f"{child.name} exited during a cold start:\n{child.log_tail()}")
        if time.perf_counter() > deadline:
            raise BenchmarkError(f"{child.name}: no answer from {url} in time")
        time.sleep(POLL_S)
