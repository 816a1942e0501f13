"""Fixtures for the tool tests: the real egress client, allowed to reach loopback as tests
must say explicitly, or with the production address policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from plait.egress import Egress
from tests.tools.servers import LOOPBACK, STRICT


@pytest.fixture
async def egress() -> AsyncIterator[Egress]:
    async with Egress(LOOPBACK) as client:
        yield client


@pytest.fixture
async def strict_egress() -> AsyncIterator[Egress]:
    """The production address policy: loopback and private addresses are refused."""
    async with Egress(STRICT) as client:
        yield client
