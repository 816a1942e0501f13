"""One retry policy for every provider adapter.

Vendor SDKs retry on their own; Plait turns that off (``max_retries=0``) and retries here,
after the vendor's error has become a :class:`~plait.providers.errors.ModelError`, so every
vendor follows the same rules:

- only errors whose ``retryable`` is true are retried (rate limits, timeouts, 5xx and
  broken connections), at most ``max_attempts`` calls in all;
- the wait is exponential backoff with full jitter (a uniform draw between 0 and
  ``initial_delay * 2**retry``, capped at ``max_delay``), so clients that failed together
  do not come back together;
- a rate limit's ``retry_after`` replaces the drawn wait: the vendor said when;
- the waits add up to at most ``max_total_delay``; a wait that would pass it is not
  taken and the error is raised instead (with its ``retry_after`` for the caller);
- a stream is retried only while nothing has been yielded: once a chunk went out, the
  caller has shown it to someone, and a second attempt would repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from plait.providers.errors import ModelError, ModelRateLimited

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. ``sleep`` and ``jitter`` (a draw in [0, 1)) are
    injectable so that tests neither wait nor depend on chance."""

    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_total_delay: float = 30.0
    sleep: Sleep = asyncio.sleep
    jitter: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("a retry policy needs max_attempts of at least 1")
        if min(self.initial_delay, self.max_delay, self.max_total_delay) < 0:
            raise ValueError("retry delays cannot be negative")

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (0 for the first), drawn with full jitter."""
        return self.jitter() * min(self.max_delay, self.initial_delay * 2.0**retry)

    def wait_before(self, retry: int, error: ModelError, waited: float) -> float | None:
        """How long to wait before retry number ``retry`` after ``error``, having waited
        ``waited`` seconds so far; None when the error is not to be retried."""
        if not error.retryable or retry + 1 >= self.max_attempts:
            return None
        told = error.retry_after if isinstance(error, ModelRateLimited) else None
        delay = max(told, 0.0) if told is not None else self.backoff(retry)
        if waited + delay > self.max_total_delay:
            return None
        return delay

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` until it succeeds or fails for good."""
        retry, waited = 0, 0.0
        while True:
            try:
                return await operation()
            except ModelError as error:
                delay = self.wait_before(retry, error, waited)
                if delay is None:
                    raise
            await self.sleep(delay)
            retry, waited = retry + 1, waited + delay

    async def stream(self, open_stream: Callable[[], AsyncGenerator[T, None]]) -> AsyncIterator[T]:
        """Yield what ``open_stream()`` yields, opening it again after a retryable failure
        as long as nothing has been yielded."""
        retry, waited = 0, 0.0
        while True:
            started = False
            try:
                async with contextlib.aclosing(open_stream()) as items:
                    async for item in items:
                        started = True
                        yield item
                return
            except ModelError as error:
                delay = None if started else self.wait_before(retry, error, waited)
                if delay is None:
                    raise
            await self.sleep(delay)
            retry, waited = retry + 1, waited + delay


NO_RETRY = RetryPolicy(max_attempts=1)
