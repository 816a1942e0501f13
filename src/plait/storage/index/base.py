"""The knowledge index protocol: vectors and full text for the segments of one dataset.

A dataset's index is a *collection* of entries. An entry is the unit that is searched: a
segment, or in parent-child datasets one child chunk (``segment_id`` then names its
parent). Entries carry an ``enabled`` flag instead of being removed when a document or
segment is disabled or archived, so that enabling it again costs no re-embedding.

Scores are comparable across backends: vector search returns the cosine similarity
(clipped to 0..1); full-text search returns the backend's relevance (BM25 or its nearest
equivalent) divided by the best hit's, so the best full-text hit of a query scores 1.0.

Both backends run the same conformance suite (``tests/conformance/test_knowledge_index.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from plait.errors import InvalidInput, PlaitError


class KnowledgeIndexError(PlaitError):
    """The index backend failed (its database unreachable, a file unreadable)."""

    code = "knowledge_index_error"
    status = 500


class DimensionMismatch(InvalidInput):
    """A vector's length differs from the collection's (the embedding model changed)."""


@dataclass(frozen=True, slots=True)
class IndexEntry:
    node_id: str
    segment_id: str
    document_id: str
    text: str
    """What full-text search indexes (for Q&A segments: the question and the answer)."""
    vector: Sequence[float] | None = None
    """``None`` in collections without vectors (``economy`` datasets)."""
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SearchHit:
    node_id: str
    segment_id: str
    document_id: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Which entries a search may return: always only enabled ones; with ``document_ids``
    set, only those documents' (an empty set matches nothing)."""

    document_ids: Collection[str] | None = None


ANY = SearchFilter()


class KnowledgeIndex(Protocol):
    """One dataset's collection. Writes are idempotent: upserting an entry that exists
    replaces it, deleting what is not there is not an error."""

    dataset_id: str

    async def upsert(self, entries: Sequence[IndexEntry]) -> None: ...

    async def delete(
        self,
        *,
        node_ids: Collection[str] = (),
        segment_ids: Collection[str] = (),
        document_ids: Collection[str] = (),
    ) -> None:
        """Remove the entries with any of the given node, segment or document ids."""
        ...

    async def set_enabled(
        self, enabled: bool, *, segment_ids: Collection[str] = (), document_ids: Collection[str] = ()
    ) -> None: ...

    async def search_vector(self, vector: Sequence[float], k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        """The ``k`` nearest enabled entries by cosine similarity, best first."""
        ...

    async def search_text(self, query: str, k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        """The ``k`` best enabled entries for ``query`` by full-text relevance, best first.
        English is stemmed; Chinese, Japanese and Korean are matched by character bigrams."""
        ...

    async def node_ids(self, *, document_id: str | None = None) -> set[str]:
        """The node ids present (of one document, when given): for reconciling after a crash."""
        ...

    async def count(self) -> int: ...


class IndexStore(Protocol):
    """All collections of one deployment."""

    async def collection(self, dataset_id: str) -> KnowledgeIndex:
        """The dataset's collection, created on first use. Vectors' dimension is fixed by
        the first vector written."""
        ...

    async def drop(self, dataset_id: str) -> None:
        """Remove the dataset's collection and everything in it."""
        ...

    async def close(self) -> None: ...
