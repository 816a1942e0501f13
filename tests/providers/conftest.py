"""Fixtures for the provider adapter tests: a scripted vendor server on 127.0.0.1, the
egress the adapters reach it through, and a retry policy that records its waits instead
of sleeping them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from plait.egress import Egress, EgressPolicy
from plait.providers.retry import RetryPolicy

from .servers import ScriptedServer

SECRET_KEY = "sk-test-3f9a1c77e2b04d55"
# Short limits keep the failure tests to fractions of a second.
LOOPBACK_POLICY = EgressPolicy(
    allow_loopback=True, connect_timeout=2.0, read_timeout=2.0, write_timeout=2.0, total_timeout=4.0
)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


# Session-wide: an Egress holds no state between calls that one test could leave for the
# next, and building one (its TLS context) is the slowest part of a test here.
@pytest.fixture(scope="session")
async def egress() -> AsyncIterator[Egress]:
    async with Egress(LOOPBACK_POLICY) as instance:
        yield instance


@pytest.fixture(scope="session")
async def strict_egress() -> AsyncIterator[Egress]:
    """The production address rules: loopback is refused."""
    async with Egress(EgressPolicy(connect_timeout=2.0, read_timeout=2.0, total_timeout=4.0)) as instance:
        yield instance


@dataclass
class Waits:
    """The waits a retry policy asked for; none of them is slept."""

    seconds: list[float] = field(default_factory=list)

    async def sleep(self, delay: float) -> None:
        self.seconds.append(delay)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def retry(waits: Waits) -> RetryPolicy:
    return RetryPolicy(max_attempts=3, sleep=waits.sleep, jitter=lambda: 0.5)
