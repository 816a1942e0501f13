"""The retry policy every adapter shares: what it retries, how long it waits, and that a
stream is never retried once something went out."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from plait.providers.errors import (
    ModelAuthFailed,
    ModelBadRequest,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.retry import NO_RETRY, RetryPolicy

from .conftest import Waits


class Flaky:
    """Fails with each of ``errors`` in turn, then answers ``"ok"``."""

    def __init__(self, *errors: ModelError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_success_needs_no_retry(retry: RetryPolicy, waits: Waits) -> None:
    operation = Flaky()
    assert await retry.call(operation) == "ok"
    assert operation.calls == 1
    assert waits.seconds == []


async def test_retryable_errors_are_retried_with_full_jitter_backoff(retry: RetryPolicy, waits: Waits) -> None:
    operation = Flaky(ModelUnavailable("503"), ModelTimeout("slow"))
    assert await retry.call(operation) == "ok"
    assert operation.calls == 3
    # jitter 0.5 of the cap 0.5 * 2**retry
    assert waits.seconds == [0.25, 0.5]


@pytest.mark.parametrize("error", [ModelAuthFailed("bad key"), ModelBadRequest("bad"), ModelError("odd")])
async def test_errors_that_are_not_retryable_are_raised_at_once(
    retry: RetryPolicy, waits: Waits, error: ModelError
) -> None:
    operation = Flaky(error)
    with pytest.raises(type(error)):
        await retry.call(operation)
    assert operation.calls == 1
    assert waits.seconds == []


async def test_the_last_error_is_raised_after_max_attempts(retry: RetryPolicy, waits: Waits) -> None:
    operation = Flaky(ModelUnavailable("1"), ModelUnavailable("2"), ModelUnavailable("3"), ModelUnavailable("4"))
    with pytest.raises(ModelUnavailable, match="3"):
        await retry.call(operation)
    assert operation.calls == 3
    assert len(waits.seconds) == 2


async def test_retry_after_replaces_the_drawn_wait(retry: RetryPolicy, waits: Waits) -> None:
    operation = Flaky(ModelRateLimited("429", retry_after=2.5))
    assert await retry.call(operation) == "ok"
    assert waits.seconds == [2.5]


async def test_a_retry_after_past_the_total_budget_is_not_waited(waits: Waits) -> None:
    policy = RetryPolicy(max_total_delay=5, sleep=waits.sleep)
    operation = Flaky(ModelRateLimited("429", retry_after=60))
    with pytest.raises(ModelRateLimited) as raised:
        await policy.call(operation)
    assert raised.value.retry_after == 60
    assert operation.calls == 1
    assert waits.seconds == []


async def test_waits_stop_at_the_total_budget(waits: Waits) -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1, max_total_delay=2.5, sleep=waits.sleep, jitter=lambda: 1.0)
    operation = Flaky(*(ModelUnavailable(str(n)) for n in range(10)))
    with pytest.raises(ModelUnavailable):
        await policy.call(operation)
    assert waits.seconds == [1]  # the next wait (2) would make 3 seconds, past 2.5
    assert operation.calls == 2


def test_backoff_is_capped_and_drawn_below_the_cap() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=4, jitter=lambda: 0.999)
    waits = [policy.backoff(retry) for retry in range(6)]
    assert waits == pytest.approx([0.4995, 0.999, 1.998, 3.996, 3.996, 3.996])
    assert RetryPolicy(jitter=lambda: 0.0).backoff(3) == 0


async def test_no_retry_calls_once() -> None:
    operation = Flaky(ModelUnavailable("down"))
    with pytest.raises(ModelUnavailable):
        await NO_RETRY.call(operation)
    assert operation.calls == 1


async def test_real_sleeps_are_tiny_with_tiny_delays() -> None:
    policy = RetryPolicy(initial_delay=0.001, max_delay=0.002)
    operation = Flaky(ModelUnavailable("once"))
    assert await policy.call(operation) == "ok"


@pytest.mark.parametrize(
    "settings", [{"max_attempts": 0}, {"initial_delay": -1}, {"max_delay": -1}, {"max_total_delay": -1}]
)
def test_nonsense_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetryPolicy(**settings)  # type: ignore[arg-type]


class FlakyStream:
    """A stream that fails with ``errors`` in turn (after ``fail_after`` items), then
    yields all its items."""

    def __init__(self, *errors: ModelError, fail_after: int = 0, items: tuple[str, ...] = ("a", "b", "c")) -> None:
        self.errors = list(errors)
        self.fail_after = fail_after
        self.items = items
        self.opened = 0
        self.closed = 0

    async def __call__(self) -> AsyncGenerator[str, None]:
        self.opened += 1
        try:
            for index, item in enumerate(self.items):
                if index == self.fail_after and self.errors:
                    raise self.errors.pop(0)
                yield item
        finally:
            self.closed += 1


async def drain(items: AsyncIterator[str], received: list[str]) -> None:
    async for item in items:
        received.append(item)


async def test_a_stream_failing_before_its_first_item_is_retried(retry: RetryPolicy, waits: Waits) -> None:
    stream = FlakyStream(ModelRateLimited("429", retry_after=0.1), ModelUnavailable("503"))
    assert [item async for item in retry.stream(stream)] == ["a", "b", "c"]
    assert stream.opened == 3
    assert waits.seconds == [0.1, 0.5]


async def test_a_stream_failing_after_an_item_went_out_is_not_retried(retry: RetryPolicy, waits: Waits) -> None:
    stream = FlakyStream(ModelUnavailable("cut"), fail_after=2)
    received: list[str] = []
    with pytest.raises(ModelUnavailable, match="cut"):
        await drain(retry.stream(stream), received)
    assert received == ["a", "b"]
    assert stream.opened == 1
    assert waits.seconds == []


async def test_a_stream_given_up_early_is_closed(retry: RetryPolicy) -> None:
    stream = FlakyStream()
    items = retry.stream(stream)
    assert await anext(items) == "a"
    await items.aclose()  # type: ignore[attr-defined]
    assert stream.closed == 1


async def test_a_stream_error_that_is_not_retryable_is_raised(retry: RetryPolicy, waits: Waits) -> None:
    stream = FlakyStream(ModelAuthFailed("401"))
    with pytest.raises(ModelAuthFailed):
        [item async for item in retry.stream(stream)]
    assert stream.opened == 1
