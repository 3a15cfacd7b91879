"""The one retry policy: what is retried, how often, how long apart."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidInput, Unavailable
from gateway.retry import RetryPolicy, retry


class Flaky:
    """Fails with `error` `failures` times, then answers "ok"; counts its calls."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


async def test_retryable_errors_are_retried_until_success() -> None:
    flaky = Flaky(2, Unavailable("down"))
    seen: list[tuple[int, float]] = []
    policy = RetryPolicy(first_delay=0.001, attempts=5)
    answer = await retry(flaky, policy, on_retry=lambda e, n, d: seen.append((n, d)))
    assert answer == "ok" and flaky.calls == 3
    assert [n for n, _ in seen] == [1, 2]


async def test_attempts_bound_the_retries_and_the_last_error_is_raised() -> None:
    flaky = Flaky(10, Unavailable("down"))
    with pytest.raises(Unavailable):
        await retry(flaky, RetryPolicy(first_delay=0.001, attempts=3))
    assert flaky.calls == 3


async def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(1, InvalidInput("bad"))
    with pytest.raises(InvalidInput):
        await retry(flaky, RetryPolicy(first_delay=0.001, attempts=3))
    assert flaky.calls == 1


async def test_a_spent_deadline_stops_retrying() -> None:
    flaky = Flaky(10, Unavailable("down"))
    with pytest.raises(Unavailable):
        await retry(flaky, RetryPolicy(first_delay=10.0, deadline=0.0))
    assert flaky.calls == 1


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(first_delay=1.0, max_delay=5.0, jitter=0.1)
    for retry_number, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (40, 5.0)]:
        delays = {policy.delay(retry_number) for _ in range(50)}
        assert all(0.9 * base <= d <= 1.1 * base for d in delays)
        assert len(delays) > 1  # jittered


class Answers:
    """Answers each of `answers` in turn, then the last one again; counts its calls."""

    def __init__(self, *answers: int) -> None:
        self.answers, self.calls = answers, 0

    async def __call__(self) -> int:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


async def test_answers_that_are_not_final_are_asked_again() -> None:
    answers = Answers(503, 503, 200)
    policy = RetryPolicy(first_delay=0.001, attempts=5)
    assert await retry(answers, policy, again=lambda status: status == 503) == 200
    assert answers.calls == 3


async def test_the_last_answer_is_returned_when_the_policy_is_spent() -> None:
    answers = Answers(503)
    policy = RetryPolicy(first_delay=0.001, attempts=3)
    assert await retry(answers, policy, again=lambda status: status == 503) == 503
    assert answers.calls == 3


async def test_a_spent_deadline_returns_the_answer_as_it_is() -> None:
    answers = Answers(503, 200)
    policy = RetryPolicy(first_delay=10.0, deadline=0.0)
    assert await retry(answers, policy, again=lambda status: status == 503) == 503
    assert answers.calls == 1
