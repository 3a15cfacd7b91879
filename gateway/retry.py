"""One retry policy: what is retried (`Retryable` errors, unless told otherwise), how long to wait
between attempts (exponential backoff with jitter, capped), and when to stop (a number of attempts
and/or a deadline).

`retry(attempt, policy)` runs ``attempt()`` until it returns an answer that is final, raises an
error that is not transient, or the policy is spent; the last error is then raised as it was, the
last answer returned as it was. An answer is final unless the caller's `again` says otherwise (a
503 from a cold upstream). The data path (`gateway.proxy`: a cold upstream, a stale pooled
connection), the Kubernetes client (`gateway.kube.client`), the job workers
(`gateway.jobs.workers`) and the Kubernetes Job path (`gateway.jobs.kube`) retry through it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway.config import Settings
from gateway.errors import Retryable

T = TypeVar("T")

#: called before each wait: (the error, the number of the retry to come, the delay in seconds)
OnRetry = Callable[[BaseException, int, float], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff from `first_delay`, doubling up to `max_delay`, each delay scaled by a random
    factor in ``[1 - jitter, 1 + jitter]``; at most `attempts` attempts (None: no bound) and no
    wait past `deadline` seconds after the first attempt (None: no deadline)."""

    first_delay: float
    max_delay: float = 30.0
    attempts: int | None = None
    deadline: float | None = None
    jitter: float = 0.1

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1, 2, ...)."""
        base = min(self.first_delay * 2.0 ** min(retry - 1, 30), self.max_delay)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def wait(self, retry: int, started: float) -> float | None:
        """The wait before retry number `retry` of attempts that began at `started`
        (`time.monotonic()`), cut short at the deadline; None when the policy is spent."""
        if self.attempts is not None and retry >= self.attempts:
            return None
        delay = self.delay(retry)
        if self.deadline is not None:
            left = started + self.deadline - time.monotonic()
            if left <= 0:
                return None
            delay = min(delay, left)
        return delay


def job_retry_policy(settings: Settings) -> RetryPolicy:
    """A job's batch (or Kubernetes Job) is retried ``job_retries`` times, ``job_retry_backoff``
    seconds apart at first, doubling each time up to 30 s."""
    return RetryPolicy(first_delay=settings.job_retry_backoff, attempts=settings.job_retries + 1)


def is_retryable(error: BaseException) -> bool:
    """The default: an error marked `Retryable` may succeed if sent again later."""
    return isinstance(error, Retryable)


async def retry(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    transient: Callable[[BaseException], bool] = is_retryable,
    again: Callable[[T], bool] | None = None,
    on_retry: OnRetry | None = None,
) -> T:
    """``await attempt()``, again after each transient error, and after each answer that `again`
    says is not final yet, while the policy allows (`on_retry` hears of the errors)."""
    started = time.monotonic()
    retries = 0
    while True:
        try:
            answer = await attempt()
        except Exception as exc:
            retries += 1
            delay = policy.wait(retries, started) if transient(exc) else None
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(exc, retries, delay)
        else:
            if again is None or not again(answer):
                return answer
            retries += 1
            delay = policy.wait(retries, started)
            if delay is None:
                return answer
        await asyncio.sleep(delay)
