"""Retrieval over the real embedded index: search, fusion, merge across datasets,
reranking through the HTTP rerank adapter against a rerank server on 127.0.0.1, then the
score threshold and top_k.

The index entries carry hand-made vectors and the query embeddings come from a table
(model content), so every vector score is a cosine that can be worked out on paper. Each
full-text query matches one entry only, which then scores 1.0 (the best hit's share).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from plait.egress import Egress, EgressPolicy
from plait.errors import InvalidInput
from plait.providers.base import Embeddings
from plait.providers.errors import ModelUnavailable
from plait.providers.rerank_http import HttpReranker
from plait.providers.retry import NO_RETRY
from plait.rag.retrieval_settings import (
    NO_RERANKING,
    ReciprocalRankFusion,
    RerankModel,
    RetrievalSettings,
    WeightedScore,
)
from plait.rag.retrieve import DatasetSource, NodeMatch, RetrievedNode, reciprocal_rank_score, retrieve
from plait.storage.index.base import IndexEntry, KnowledgeIndex, SearchFilter
from plait.storage.index.embedded import EmbeddedIndexStore

from ..providers.servers import Recorded, Reply, ScriptedServer, rerank_results

# The datasets' ids in DatasetSource are labels; the index names collections by UUID.
QUERY = "gamma"
RERANK_SCORES = {
    "zebra crossing rules": 0.2,
    "beta release notes": 0.9,
    "gamma ray burst": 0.6,
    "gamma gamma radiation": 0.7,
    "radiation shielding": 0.95,
    "unrelated cooking tips": 0.1,
}


class TableEmbedder:
    """Query vectors looked up in a table; records every call."""

    max_input_tokens = 512

    def __init__(self, name: str, table: dict[str, list[float]]) -> None:
        self.name = name
        self.table = table
        self.dimensions = len(next(iter(table.values())))
        self.calls: list[tuple[list[str], str]] = []

    async def embed(self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document") -> Embeddings:
        self.calls.append((list(texts), input_type))
        return Embeddings([self.table[text] for text in texts])


class ScoringScript:
    """The rerank server's script: each reply scores the documents of the request just
    received by :data:`RERANK_SCORES` (the model's content), best first."""

    def __init__(self, requests: list[Recorded]) -> None:
        self.requests = requests

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        body = self.requests[-1].json()
        scored = sorted(
            ((index, RERANK_SCORES[text]) for index, text in enumerate(body["documents"])), key=lambda item: -item[1]
        )
        return Reply.json(rerank_results(*scored))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedIndexStore]:
    instance = EmbeddedIndexStore(tmp_path / "index")
    yield instance
    await instance.close()


@pytest.fixture
async def alpha(store: EmbeddedIndexStore) -> KnowledgeIndex:
    index = await store.collection(str(uuid.UUID(int=1)))
    await index.upsert(
        [
            IndexEntry("a1", "sa1", "d1", "zebra crossing rules", [1.0, 0.0, 0.0]),
            IndexEntry("a2", "sa2", "d1", "beta release notes", [0.8, 0.6, 0.0]),
            IndexEntry("a3", "sa3", "d2", "gamma ray burst", [0.0, 1.0, 0.0]),
        ]
    )
    return index


@pytest.fixture
async def beta(store: EmbeddedIndexStore) -> KnowledgeIndex:
    """A parent-child dataset: b1 and b2 are child chunks of one segment."""
    index = await store.collection(str(uuid.UUID(int=2)))
    await index.upsert(
        [
            IndexEntry("b1", "sb1", "d3", "gamma gamma radiation", [1.0, 0.0]),
            IndexEntry("b2", "sb1", "d3", "radiation shielding", [0.6, 0.8]),
            IndexEntry("b3", "sb2", "d4", "unrelated cooking tips", [0.0, 1.0]),
        ]
    )
    return index


@pytest.fixture
def embedder() -> TableEmbedder:
    return TableEmbedder("three-d", {QUERY: [1.0, 0.0, 0.0], "beta gamma": [0.6, 0.0, 0.8]})


@pytest.fixture
def flat_embedder() -> TableEmbedder:
    return TableEmbedder("two-d", {QUERY: [1.0, 0.0]})


@pytest.fixture
async def rerank_server() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    server.script = ScoringScript(server.requests)  # type: ignore[assignment]
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def reranker(rerank_server: ScriptedServer) -> AsyncIterator[HttpReranker]:
    policy = EgressPolicy(allow_loopback=True, connect_timeout=2.0, read_timeout=2.0, total_timeout=4.0)
    async with Egress(policy) as egress:
        yield HttpReranker("rerank-v3.5", url=rerank_server.url("/v2/rerank"), http=egress, retry=NO_RETRY)


def texts_of(*indexes: KnowledgeIndex) -> Any:
    """``load_texts`` reading the entries' texts back (what the caller does from segments)."""
    table = {
        "a1": "zebra crossing rules",
        "a2": "beta release notes",
        "a3": "gamma ray burst",
        "b1": "gamma gamma radiation",
        "b2": "radiation shielding",
        "b3": "unrelated cooking tips",
    }
    loaded: list[list[str]] = []

    async def load(node_ids: list[str]) -> dict[str, str]:
        loaded.append(node_ids)
        return {node_id: table[node_id] for node_id in node_ids if node_id in table}

    load.loaded = loaded  # type: ignore[attr-defined]
    return load


def scores(nodes: list[RetrievedNode]) -> list[tuple[str, float]]:
    return [(node.node_id, round(node.score, 6)) for node in nodes]


HYBRID_WEIGHTED = RetrievalSettings("hybrid_search", 4, None, WeightedScore(0.7, 0.3))
HYBRID_RRF = RetrievalSettings("hybrid_search", 4, None, ReciprocalRankFusion())


# --- one dataset ----------------------------------------------------------------------------------


async def test_semantic_search_scores_are_cosines(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    settings = RetrievalSettings("semantic_search", 4)
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, embedder, settings=settings)], settings=settings)
    assert scores(nodes) == [("a1", 1.0), ("a2", 0.8), ("a3", 0.0)]
    assert nodes[1] == RetrievedNode(
        "alpha", "a2", "sa2", "d1", nodes[1].score, nodes[1].vector_score, None, nodes[1].matches
    )
    assert nodes[1].matches == (NodeMatch("a2", nodes[1].score),)
    assert embedder.calls == [([QUERY], "query")]


async def test_full_text_search_scores_relative_bm25(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    settings = RetrievalSettings("full_text_search", 4)
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, embedder, settings=settings)], settings=settings)
    assert scores(nodes) == [("a3", 1.0)]
    assert (nodes[0].vector_score, nodes[0].text_score) == (None, 1.0)
    assert embedder.calls == []  # no vector search, no embedding


async def test_weighted_fusion(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    # vector: a1 1.0, a2 0.8, a3 0.0; text: a3 1.0.  0.7 * vector + 0.3 * text:
    nodes = await retrieve(
        QUERY, [DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)], settings=HYBRID_WEIGHTED
    )
    assert scores(nodes) == [("a1", 0.7), ("a2", 0.56), ("a3", 0.3)]
    assert (nodes[2].vector_score, nodes[2].text_score) == (0.0, 1.0)
    keyword_first = RetrievalSettings("hybrid_search", 4, None, WeightedScore(0.2, 0.8))
    nodes = await retrieve(
        QUERY, [DatasetSource("alpha", alpha, embedder, settings=keyword_first)], settings=keyword_first
    )
    assert scores(nodes) == [("a3", 0.8), ("a1", 0.2), ("a2", 0.16)]


async def test_reciprocal_rank_fusion(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    # vector ranks a1 1, a2 2, a3 3; text ranks a3 1. RRF (k=60), scaled by 61/2:
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, embedder, settings=HYBRID_RRF)], settings=HYBRID_RRF)
    assert scores(nodes) == [
        ("a3", round((1 / 63 + 1 / 61) * 61 / 2, 6)),
        ("a1", 0.5),
        ("a2", round(61 / 62 / 2, 6)),
    ]


async def test_weighted_fusion_scales_cosines_by_the_best_one(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    # cosines: a1 0.6, a2 0.48, a3 0.0, scaled by 1/0.6 to 1.0, 0.8, 0.0; "beta" and "gamma"
    # each match one entry of the same length, so a2 and a3 both score 1.0 by text.
    nodes = await retrieve(
        "beta gamma", [DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)], settings=HYBRID_WEIGHTED
    )
    assert scores(nodes) == [("a2", 0.86), ("a1", 0.7), ("a3", 0.3)]
    assert nodes[1].vector_score == pytest.approx(0.6)  # the raw cosine is kept
    assert nodes[0].text_score == 1.0


def test_reciprocal_rank_score_by_hand() -> None:
    assert reciprocal_rank_score([1, 1], 60) == 1.0
    assert math.isclose(reciprocal_rank_score([1, None], 60), 0.5)
    assert math.isclose(reciprocal_rank_score([2, 5], 60), (1 / 62 + 1 / 65) * 61 / 2)
    assert math.isclose(reciprocal_rank_score([3], 10), 11 / 13)


async def test_top_k_counts_segments(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    settings = RetrievalSettings("hybrid_search", 2, None, WeightedScore(0.7, 0.3))
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, embedder, settings=settings)], settings=settings)
    assert scores(nodes) == [("a1", 0.7), ("a2", 0.56)]


async def test_threshold_drops_low_fused_scores(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    settings = RetrievalSettings("hybrid_search", 4, 0.56, WeightedScore(0.7, 0.3))
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, embedder, settings=settings)], settings=settings)
    assert [node.node_id for node in nodes] == ["a1", "a2"]  # the threshold itself passes


async def test_the_search_filter_reaches_both_searches(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    source = DatasetSource("alpha", alpha, embedder, SearchFilter(document_ids={"d2"}), HYBRID_WEIGHTED)
    assert scores(await retrieve(QUERY, [source], settings=HYBRID_WEIGHTED)) == [("a3", 0.3)]
    nothing = DatasetSource("alpha", alpha, embedder, SearchFilter(document_ids=set()), HYBRID_WEIGHTED)
    assert await retrieve(QUERY, [nothing], settings=HYBRID_WEIGHTED) == []


async def test_an_economy_dataset_is_searched_by_full_text(alpha: KnowledgeIndex) -> None:
    settings = RetrievalSettings("semantic_search", 4)
    nodes = await retrieve(QUERY, [DatasetSource("alpha", alpha, None, settings=settings)], settings=settings)
    assert scores(nodes) == [("a3", 1.0)]


async def test_an_empty_query_finds_nothing(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    assert await retrieve("  ", [source], settings=HYBRID_WEIGHTED) == []
    assert await retrieve(QUERY, [], settings=HYBRID_WEIGHTED) == []
    assert embedder.calls == []


# --- reranking and the threshold ------------------------------------------------------------------


def reranked(threshold: float | None, top_k: int = 4) -> RetrievalSettings:
    return RetrievalSettings("hybrid_search", top_k, threshold, RerankModel("cohere", "rerank-v3.5"))


async def test_rerank_scores_replace_the_fused_scores(
    alpha: KnowledgeIndex, embedder: TableEmbedder, reranker: HttpReranker, rerank_server: ScriptedServer
) -> None:
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    load = texts_of(alpha)
    nodes = await retrieve(QUERY, [source], settings=reranked(None), reranker=reranker, load_texts=load)
    assert scores(nodes) == [("a2", 0.9), ("a3", 0.6), ("a1", 0.2)]
    assert nodes[0].vector_score == pytest.approx(0.8)  # the search scores stay
    assert nodes[0].text_score is None
    assert sorted(load.loaded[0]) == ["a1", "a2", "a3"]  # one load for all candidates
    assert len(rerank_server.requests) == 1
    assert rerank_server.requests[0].json()["query"] == QUERY


async def test_the_threshold_applies_after_reranking(
    alpha: KnowledgeIndex, embedder: TableEmbedder, reranker: HttpReranker
) -> None:
    # Fused: a1 0.7, a2 0.56, a3 0.3; reranked: a2 0.9, a3 0.6, a1 0.2. With threshold 0.5,
    # a3 (fused below, reranked above) is kept and a1 (fused above, reranked below) dropped.
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    nodes = await retrieve(QUERY, [source], settings=reranked(0.5), reranker=reranker, load_texts=texts_of(alpha))
    assert scores(nodes) == [("a2", 0.9), ("a3", 0.6)]


async def test_top_k_applies_after_reranking(
    alpha: KnowledgeIndex, embedder: TableEmbedder, reranker: HttpReranker
) -> None:
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    nodes = await retrieve(QUERY, [source], settings=reranked(None, 1), reranker=reranker, load_texts=texts_of(alpha))
    assert scores(nodes) == [("a2", 0.9)]  # fused, a1 would have come first


async def test_entries_whose_text_is_gone_are_not_reranked(
    alpha: KnowledgeIndex, embedder: TableEmbedder, reranker: HttpReranker, rerank_server: ScriptedServer
) -> None:
    async def without_a2(node_ids: list[str]) -> dict[str, str]:
        return {"a1": "zebra crossing rules", "a3": "gamma ray burst"}

    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    nodes = await retrieve(QUERY, [source], settings=reranked(None), reranker=reranker, load_texts=without_a2)
    assert scores(nodes) == [("a3", 0.6), ("a1", 0.2)]
    assert sorted(rerank_server.requests[0].json()["documents"]) == ["gamma ray burst", "zebra crossing rules"]


async def test_a_rerank_model_without_a_reranker_is_refused(alpha: KnowledgeIndex, embedder: TableEmbedder) -> None:
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    with pytest.raises(InvalidInput, match="rerank"):
        await retrieve(QUERY, [source], settings=reranked(None))


async def test_a_rerank_failure_is_raised_as_the_models_error(
    alpha: KnowledgeIndex, embedder: TableEmbedder, reranker: HttpReranker, rerank_server: ScriptedServer
) -> None:
    rerank_server.script = _Once(Reply.json({"unexpected": True}))  # type: ignore[assignment]
    source = DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED)
    with pytest.raises(ModelUnavailable):
        await retrieve(QUERY, [source], settings=reranked(None), reranker=reranker, load_texts=texts_of(alpha))


class _Once:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        return self.reply


# --- several datasets -----------------------------------------------------------------------------


async def test_datasets_merge_by_score_and_child_chunks_group_by_segment(
    alpha: KnowledgeIndex, beta: KnowledgeIndex, embedder: TableEmbedder, flat_embedder: TableEmbedder
) -> None:
    # alpha (hybrid, weighted): a1 0.7, a2 0.56, a3 0.3. beta (semantic): b1 1.0, b2 0.6
    # (both chunks of segment sb1), b3 0.0.
    sources = [
        DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED),
        DatasetSource("beta", beta, flat_embedder, settings=RetrievalSettings("semantic_search", 4)),
    ]
    merge = RetrievalSettings("hybrid_search", 3, None, NO_RERANKING)
    nodes = await retrieve(QUERY, sources, settings=merge)
    assert [(node.dataset_id, node.segment_id, round(node.score, 6)) for node in nodes] == [
        ("beta", "sb1", 1.0),
        ("alpha", "sa1", 0.7),
        ("alpha", "sa2", 0.56),
    ]
    assert nodes[0].node_id == "b1"
    assert [(match.node_id, round(match.score, 6)) for match in nodes[0].matches] == [("b1", 1.0), ("b2", 0.6)]
    assert len(embedder.calls) == 1
    assert len(flat_embedder.calls) == 1


async def test_the_merge_fusion_overrides_the_datasets(
    alpha: KnowledgeIndex, beta: KnowledgeIndex, embedder: TableEmbedder, flat_embedder: TableEmbedder
) -> None:
    sources = [
        DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED),
        DatasetSource("beta", beta, flat_embedder, settings=RetrievalSettings("hybrid_search", 4)),
    ]
    # Reciprocal rank fusion in both: alpha a3 (1/63 + 1/61) * 61/2; beta b1 is first in
    # both lists ("gamma" is only in b1's text) and scores 1.0.
    nodes = await retrieve(QUERY, sources, settings=RetrievalSettings("hybrid_search", 2, None, ReciprocalRankFusion()))
    assert scores(nodes) == [("b1", 1.0), ("a3", round((1 / 63 + 1 / 61) * 61 / 2, 6))]


async def test_datasets_sharing_an_embedding_model_embed_the_query_once(
    store: EmbeddedIndexStore, alpha: KnowledgeIndex, embedder: TableEmbedder
) -> None:
    twin = await store.collection(str(uuid.UUID(int=3)))
    await twin.upsert([IndexEntry("t1", "st1", "d9", "delta", [0.6, 0.8, 0.0])])
    other = TableEmbedder("three-d", {QUERY: [1.0, 0.0, 0.0]})  # another object, the same model
    sources = [
        DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED),
        DatasetSource("twin", twin, embedder, settings=RetrievalSettings("semantic_search")),
        DatasetSource("third", twin, other, settings=RetrievalSettings("semantic_search"), embedding_key="p/three-d"),
        DatasetSource("fourth", twin, other, settings=RetrievalSettings("semantic_search"), embedding_key="p/three-d"),
    ]
    nodes = await retrieve(QUERY, sources, settings=RetrievalSettings("hybrid_search", 10, None, NO_RERANKING))
    assert len(embedder.calls) == 1
    assert len(other.calls) == 1
    assert {(node.dataset_id, node.node_id) for node in nodes} >= {("twin", "t1"), ("third", "t1"), ("fourth", "t1")}


async def test_merged_results_are_reranked_together(
    alpha: KnowledgeIndex,
    beta: KnowledgeIndex,
    embedder: TableEmbedder,
    flat_embedder: TableEmbedder,
    reranker: HttpReranker,
    rerank_server: ScriptedServer,
) -> None:
    sources = [
        DatasetSource("alpha", alpha, embedder, settings=HYBRID_WEIGHTED),
        DatasetSource("beta", beta, flat_embedder, settings=RetrievalSettings("semantic_search", 4)),
    ]
    nodes = await retrieve(
        QUERY, sources, settings=reranked(0.5, 3), reranker=reranker, load_texts=texts_of(alpha, beta)
    )
    # Reranked per entry: b2 0.95, a2 0.9, b1 0.7, a3 0.6 (a1 0.2 and b3 0.1 below the
    # threshold); b1 and b2 make one segment, scored by b2.
    assert [(node.segment_id, round(node.score, 6)) for node in nodes] == [("sb1", 0.95), ("sa2", 0.9), ("sa3", 0.6)]
    assert [(match.node_id, match.score) for match in nodes[0].matches] == [("b2", 0.95), ("b1", 0.7)]
    assert len(rerank_server.requests) == 1
    assert len(rerank_server.requests[0].json()["documents"]) == 6


async def test_a_failing_search_raises_its_own_error(alpha: KnowledgeIndex) -> None:
    class Broken(TableEmbedder):
        async def embed(
            self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document"
        ) -> Embeddings:
            raise ModelUnavailable("the embedding server is down")

    source = DatasetSource("alpha", alpha, Broken("x", {QUERY: [1.0]}), settings=HYBRID_WEIGHTED)
    with pytest.raises(ModelUnavailable, match="down"):
        await retrieve(QUERY, [source], settings=HYBRID_WEIGHTED)
