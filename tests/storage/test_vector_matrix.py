"""The embedded index's in-memory exact search, against brute force on the same vectors.

The conformance suite covers it through the index; these reach what small collections do
not: compaction after many replacements, the gathered path of selective filters, and rows
replaced twice within one batch."""

from __future__ import annotations

import numpy as np
import pytest

from plait.errors import InvalidInput
from plait.storage.index.base import DimensionMismatch
from plait.storage.index.matrix import VectorMatrix, VectorRow, normalized

DIMENSION = 16


def rows(count: int, *, prefix: str = "n", documents: int = 10) -> list[VectorRow]:
    return [VectorRow(f"{prefix}{i}", f"s{i}", f"d{i % documents}", True) for i in range(count)]


def brute_force(vectors: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    scores = vectors @ (query / np.linalg.norm(query))
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def test_search_matches_brute_force_with_and_without_filters(rng: np.random.Generator) -> None:
    vectors = normalized(rng.standard_normal((2000, DIMENSION)).tolist(), None)
    batch = rows(2000)
    matrix = VectorMatrix(DIMENSION, version=0)
    matrix.upsert(batch, vectors)
    ids = [row.node_id for row in batch]
    for _ in range(5):
        query = rng.standard_normal(DIMENSION)
        assert [hit.node_id for hit in matrix.search(query.tolist(), 10, None)] == brute_force(vectors, ids, query, 10)
        # One document in ten: the gathered path. Seven in ten: the masked path.
        for wanted in ({"d3"}, {f"d{i}" for i in range(7)}):
            keep = [i for i, row in enumerate(batch) if row.document_id in wanted]
            expected = brute_force(vectors[keep], [ids[i] for i in keep], query, 10)
            assert [hit.node_id for hit in matrix.search(query.tolist(), 10, wanted)] == expected


def test_replacements_compact_and_keep_the_latest_vectors(rng: np.random.Generator) -> None:
    matrix = VectorMatrix(DIMENSION, version=0)
    batch = rows(500)
    for _ in range(20):  # 10,000 rows written, 500 live: compaction must have run
        latest = normalized(rng.standard_normal((500, DIMENSION)).tolist(), None)
        matrix.upsert(batch, latest)
    assert len(matrix) == 500
    assert len(matrix._rows) < 10_000  # retired rows were reclaimed
    ids = [row.node_id for row in batch]
    query = rng.standard_normal(DIMENSION)
    hits = matrix.search(query.tolist(), 500, None)
    assert [hit.node_id for hit in hits[:20]] == brute_force(latest, ids, query, 20)
    assert len(hits) == 500


def test_a_node_twice_in_one_batch_keeps_the_last() -> None:
    matrix = VectorMatrix(2, version=0)
    row = VectorRow("n1", "s1", "d1", True)
    matrix.upsert([row, row], normalized([[1.0, 0.0], [0.0, 1.0]], 2))
    [hit] = matrix.search([0.0, 1.0], 5, None)
    assert hit.score == pytest.approx(1.0)


def test_disabled_and_removed_rows_are_not_found() -> None:
    matrix = VectorMatrix(2, version=0)
    matrix.upsert(rows(3), normalized([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], 2))
    matrix.set_enabled(False, ["n0"])
    matrix.remove(["n2", "unknown"])
    assert [hit.node_id for hit in matrix.search([1.0, 0.0], 5, None)] == ["n1"]
    matrix.set_enabled(True, ["n0"])
    assert [hit.node_id for hit in matrix.search([1.0, 0.0], 5, None)] == ["n0", "n1"]


def test_normalized_refuses_what_has_no_direction() -> None:
    with pytest.raises(InvalidInput):
        normalized([[0.0, 0.0]], None)
    with pytest.raises(InvalidInput):
        normalized([[float("inf"), 0.0]], None)
    with pytest.raises(DimensionMismatch):
        normalized([[1.0, 0.0], [1.0]], None)
    with pytest.raises(DimensionMismatch):
        normalized([[1.0, 0.0]], 3)
    assert np.allclose(normalized([[3.0, 4.0]], 2), [[0.6, 0.8]])
