"""Exact cosine search over an in-memory float32 matrix: the embedded index's vector side.

Exact search rather than an approximate graph: at the sizes one embedded deployment holds
(up to a few hundred thousand entries per dataset) one matrix-vector product is a few
milliseconds of BLAS, recall is 1.0 by construction, and there is no index to build, tune or
rebuild after deletes. Vectors are normalised when written, so the dot product is the cosine.

Rows are append-only and never change once written: replacing an entry appends a new row and
retires the old one, and compaction builds new arrays. A search therefore takes a snapshot
(the row count, views of the arrays, a copy of the validity mask) under a short lock and does
the arithmetic outside it, while writers keep appending; the lock is never held across BLAS.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from plait.errors import InvalidInput
from plait.storage.index.base import DimensionMismatch, SearchHit

Vectors = npt.NDArray[np.float32]
_T = TypeVar("_T", bound=np.generic)

_INITIAL_CAPACITY = 1024
# Retired rows are reclaimed once they outnumber the live ones (and a minimum, so that small
# collections do not compact on every write).
_COMPACT_MIN_DEAD = 4096


def normalized(vectors: Sequence[Sequence[float]], dimension: int | None) -> Vectors:
    """``vectors`` as unit-length float32 rows; all of one length, and ``dimension`` if given.

    Zero vectors (no direction, so no cosine), NaN and infinity (they would poison every
    score they touch) are refused."""
    lengths = {len(vector) for vector in vectors}
    if dimension is not None and lengths - {dimension}:
        raise DimensionMismatch(
            f"vectors of length {sorted(lengths - {dimension})} do not fit this collection's dimension {dimension}",
            params="vector",
        )
    if len(lengths) > 1:
        raise DimensionMismatch(f"vectors of different lengths {sorted(lengths)} in one write", params="vector")
    if lengths == {0}:
        raise InvalidInput("a vector must not be empty", params="vector")
    array = np.asarray(vectors, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InvalidInput("vectors must contain finite numbers only", params="vector")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if not norms.all():
        raise InvalidInput("a vector must not be all zeros", params="vector")
    array /= norms
    return array


@dataclass(frozen=True, slots=True)
class VectorRow:
    node_id: str
    segment_id: str
    document_id: str
    enabled: bool


class VectorMatrix:
    """The vectors of one collection as of ``version`` (the collection's write counter)."""

    def __init__(self, dimension: int, version: int) -> None:
        self.dimension = dimension
        self.version = version
        self._lock = threading.Lock()
        self._vectors: Vectors = np.empty((_INITIAL_CAPACITY, dimension), dtype=np.float32)
        self._current = np.zeros(_INITIAL_CAPACITY, dtype=bool)  # the row holds its node's vector
        self._enabled = np.zeros(_INITIAL_CAPACITY, dtype=bool)
        self._documents = np.zeros(_INITIAL_CAPACITY, dtype=np.int32)  # codes, see _document_codes
        self._rows: list[VectorRow] = []
        self._row_of: dict[str, int] = {}
        self._document_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._row_of)

    def upsert(self, rows: Sequence[VectorRow], vectors: Vectors) -> None:
        """Add or replace the rows' vectors (already normalised, see ``normalized``)."""
        if vectors.shape[1:] != (self.dimension,):
            raise DimensionMismatch(f"vectors of shape {vectors.shape} do not fit dimension {self.dimension}")
        with self._lock:
            start, end = len(self._rows), len(self._rows) + len(rows)
            self._reserve(end)
            self._vectors[start:end] = vectors
            self._current[start:end] = True
            self._enabled[start:end] = [row.enabled for row in rows]
            codes = self._document_codes
            self._documents[start:end] = [codes.setdefault(row.document_id, len(codes)) for row in rows]
            retired = []
            for position, row in enumerate(rows, start):
                previous = self._row_of.get(row.node_id)
                if previous is not None:
                    retired.append(previous)
                self._row_of[row.node_id] = position
            self._current[retired] = False
            self._rows.extend(rows)
            self._compact_if_sparse()

    def remove(self, node_ids: Iterable[str]) -> None:
        with self._lock:
            for node_id in node_ids:
                position = self._row_of.pop(node_id, None)
                if position is not None:
                    self._current[position] = False
            self._compact_if_sparse()

    def set_enabled(self, enabled: bool, node_ids: Iterable[str]) -> None:
        with self._lock:
            positions = [self._row_of[node_id] for node_id in node_ids if node_id in self._row_of]
            self._enabled[positions] = enabled

    def search(self, query: Sequence[float], k: int, document_ids: Collection[str] | None) -> list[SearchHit]:
        """The ``k`` enabled rows nearest to ``query``, best first (of ``document_ids`` if given)."""
        if len(query) != self.dimension:
            raise DimensionMismatch(
                f"the query vector has length {len(query)}, the collection's dimension is {self.dimension}",
                params="vector",
            )
        probe = normalized([query], self.dimension)[0]
        with self._lock:
            count = len(self._rows)
            vectors = self._vectors[:count]
            rows = self._rows
            valid = self._current[:count] & self._enabled[:count]
            if document_ids is not None:
                codes = [self._document_codes[d] for d in document_ids if d in self._document_codes]
                valid &= np.isin(self._documents[:count], np.asarray(codes, dtype=np.int32))
        live = int(np.count_nonzero(valid))
        if k <= 0 or not live:
            return []
        # One product over every row, then masking, is cheapest unless a filter leaves few
        # rows: then only those are gathered and multiplied.
        candidates: npt.NDArray[np.intp] | None = None
        if live == count:
            scores = vectors @ probe
        elif live * 4 < count:
            candidates = np.flatnonzero(valid)
            scores = vectors[candidates] @ probe
        else:
            scores = vectors @ probe
            scores[~valid] = -np.inf
        k = min(k, live)
        top = np.argpartition(scores, -k)[-k:] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = top if candidates is None else candidates[top]
        hits = []
        for position, score in zip(positions.tolist(), scores[top].tolist(), strict=True):
            row = rows[position]
            hits.append(SearchHit(row.node_id, row.segment_id, row.document_id, min(max(score, 0.0), 1.0)))
        return hits

    def _reserve(self, capacity: int) -> None:
        if capacity <= len(self._current):
            return
        size = max(capacity, 2 * len(self._current))
        # New arrays, never resized in place: snapshots taken by searches keep the old ones.
        self._vectors = _grown(self._vectors, size)
        self._current = _grown(self._current, size)
        self._enabled = _grown(self._enabled, size)
        self._documents = _grown(self._documents, size)

    def _compact_if_sparse(self) -> None:
        dead = len(self._rows) - len(self._row_of)
        if dead < _COMPACT_MIN_DEAD or dead < len(self._row_of):
            return
        keep = np.flatnonzero(self._current[: len(self._rows)])
        size = max(_INITIAL_CAPACITY, 2 * len(keep))
        self._vectors = _grown(self._vectors[keep], size)
        self._current = _grown(self._current[keep], size)
        self._enabled = _grown(self._enabled[keep], size)
        self._documents = _grown(self._documents[keep], size)
        self._rows = [self._rows[position] for position in keep]
        self._row_of = {row.node_id: position for position, row in enumerate(self._rows)}


def _grown(array: npt.NDArray[_T], size: int) -> npt.NDArray[_T]:
    grown = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown
