"""One retry policy: what is retried (`Retryable` errors, unless told otherwise), how long to wait
between attempts (exponential backoff with jitter, capped), and when to stop (a number of attempts
and/or a deadline).

`retry(attempt, policy)` runs ``attempt()`` until it returns, raises an error that is not
transient, or the policy is spent; the last error is then raised as it was. The Kubernetes client
(`gateway.kube.client`), the job workers (`gateway.jobs.workers`) and the Kubernetes Job path
(`gateway.jobs.kube`) retry through it.
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
    on_retry: OnRetry | None = None,
) -> T:
    """``await attempt()``, again after each transient error while the policy allows."""
    started = time.monotonic()
    retries = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            retries += 1
            if not transient(exc) or (policy.attempts is not None and retries >= policy.attempts):
                raise
            delay = policy.delay(retries)
            if policy.deadline is not None:
                left = started + policy.deadline - time.monotonic()
                if left <= 0:
                    raise
                delay = min(delay, left)
            if on_retry is not None:
                on_retry(exc, retries, delay)
            await asyncio.sleep(delay)
