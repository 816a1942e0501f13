"""The knowledge index: vectors and full text for the segments of each dataset.

Two backends behind one protocol (``base.py``) and one conformance suite: the embedded
default (a SQLite file per dataset in the data directory, exact vector search in memory) and
PostgreSQL with pgvector for the scaled-out shape. Both analyze text with ``analysis.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from plait.errors import ConfigurationError
from plait.storage.index.base import (
    ANY,
    DimensionMismatch,
    IndexEntry,
    IndexStore,
    KnowledgeIndex,
    KnowledgeIndexError,
    SearchFilter,
    SearchHit,
)

__all__ = [
    "ANY",
    "DimensionMismatch",
    "IndexEntry",
    "IndexStore",
    "KnowledgeIndex",
    "KnowledgeIndexError",
    "SearchFilter",
    "SearchHit",
    "open_index_store",
]


def open_index_store(kind: Literal["embedded", "pgvector"], *, root: Path, url: str | None) -> IndexStore:
    """The deployment's index store: ``embedded`` keeps one file per dataset under ``root``;
    ``pgvector`` needs the PostgreSQL ``url`` (it connects on first use)."""
    # Imported here so that a deployment loads only the backend it uses.
    if kind == "embedded":
        from plait.storage.index.embedded import EmbeddedIndexStore

        return EmbeddedIndexStore(root)
    if kind == "pgvector":
        if not url:
            raise ConfigurationError("VECTOR_STORE=pgvector needs a PostgreSQL URL")
        from plait.storage.index.pgvector import PgVectorIndexStore

        return PgVectorIndexStore(url)
    raise ConfigurationError(f"unknown vector store {kind!r} (expected 'embedded' or 'pgvector')")
