"""Retrieval: the best segments of some datasets for a query.

One call of :func:`retrieve` serves both of Dify's entry points: a dataset's hit testing
(one :class:`DatasetSource`, ``settings`` the dataset's) and the knowledge-retrieval node
(several sources, ``settings`` from its ``multiple_retrieval_config``). It runs in stages:

1. **Search** each source its own way (``source.settings.search_method``): semantic,
   full text, or both concurrently. Every search asks for a candidate pool larger than
   ``top_k`` (:func:`candidate_pool`), so fusion, reranking and segment grouping have
   something to choose from. The query is embedded once per distinct embedding model
   (``DatasetSource.embedding_key``), while the full-text searches already run.
2. **Fuse** a source's two lists into one score per entry: weighted (``w_v * vector +
   w_k * text``, a side the entry is missing from counting 0) or reciprocal rank fusion
   (scaled so that rank 1 in every list scores 1.0). The merge-level ``settings`` choose
   the fusion when they name one, else the source's settings do, else
   :data:`~plait.rag.retrieval_settings.DEFAULT_FUSION`. A source searched one way keeps
   that search's scores.

   In weighted fusion the vector side is the cosine divided by the best cosine of the
   search, so both sides are on the scale the index already gives full text (the best hit
   scores 1.0) and the weights weigh like against like: this is the "theoretical min-max"
   convex combination of Bruch et al. (2023, "An Analysis of Fusion Functions for Hybrid
   Retrieval"). With raw cosines (Dify's way) the text side's relative scores swamp the
   vector side: on ``tests/rag/quality`` 0.7/0.3 weighted hybrid then ranks worse than
   semantic search alone (MRR 0.863 vs 0.903), scaled it ranks better (0.934). The price:
   a hybrid score says how close an entry comes to the best of both searches, not how
   relevant it is, so a threshold on it cannot tell a query with no good answer (a rerank
   model's scores can). ``RetrievedNode.vector_score`` stays the raw cosine.
3. **Merge** the sources' candidates; with a rerank model configured in ``settings``,
   rerank them all (texts from ``load_texts``, one call) and let its scores replace the
   fused ones. Reranking happens once, on the merged candidates: a source's own rerank
   model is not applied (Dify reranks per dataset, then again across datasets).
4. **Threshold, then top_k.** The score threshold is applied to the final scores, after
   reranking (Dify applied it before until its fix for issue #35233, dropping entries the
   rerank model would have kept). Only ``settings.score_threshold`` applies.

Results are segments (:class:`RetrievedNode`, one per segment, best first). In parent-child
datasets several child chunks (index entries) can match one segment: the segment scores as
its best chunk, and ``matches`` lists every matching chunk with its own score, best first,
for the caller to return as ``child_chunks``. ``top_k`` counts segments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from plait.errors import InvalidInput
from plait.providers.base import EmbeddingModel, Reranker
from plait.rag.retrieval_settings import (
    DEFAULT_FUSION,
    ReciprocalRankFusion,
    Reranking,
    RerankModel,
    RetrievalSettings,
    WeightedScore,
)
from plait.storage.index.base import ANY, KnowledgeIndex, SearchFilter, SearchHit

LoadTexts = Callable[[list[str]], Awaitable[dict[str, str]]]


def candidate_pool(top_k: int) -> int:
    """How many entries each search returns for a final ``top_k``."""
    return max(top_k * 4, 20)


@dataclass(frozen=True, slots=True)
class DatasetSource:
    """One dataset to search. ``where`` is the search filter (the documents that passed
    the metadata filter). ``embedder`` is ``None`` for ``economy`` datasets, which are then
    searched by full text whatever the method says. ``embedding_key`` identifies the
    embedding model (its provider and name): sources with equal keys share one query
    embedding; without it, sources share one when they share the embedder object."""

    dataset_id: str
    index: KnowledgeIndex
    embedder: EmbeddingModel | None
    where: SearchFilter = ANY
    settings: RetrievalSettings = field(default_factory=RetrievalSettings)
    embedding_key: str | None = None

    def _embedding_key(self) -> Hashable:
        return self.embedding_key if self.embedding_key is not None else id(self.embedder)


@dataclass(frozen=True, slots=True)
class NodeMatch:
    """One matching index entry of a segment (a child chunk in parent-child datasets)."""

    node_id: str
    score: float


@dataclass(frozen=True, slots=True)
class RetrievedNode:
    """A retrieved segment. ``node_id`` is its best-scoring index entry; ``score`` that
    entry's final score (rerank score when reranked). ``vector_score`` / ``text_score``
    are that entry's search scores (``None`` when the search did not find it or did not
    run). ``matches`` holds every matching entry of the segment, best first."""

    dataset_id: str
    node_id: str
    segment_id: str
    document_id: str
    score: float
    vector_score: float | None
    text_score: float | None
    matches: tuple[NodeMatch, ...] = ()


@dataclass(slots=True)
class _Candidate:
    dataset_id: str
    node_id: str
    segment_id: str
    document_id: str
    vector_score: float | None = None
    text_score: float | None = None
    vector_rank: int | None = None
    text_rank: int | None = None
    score: float = 0.0


@dataclass(slots=True)
class _Searched:
    """A source's candidates; ``both`` when it ran both searches (so fusion applies)."""

    candidates: list[_Candidate]
    both: bool


async def retrieve(
    query: str,
    sources: Sequence[DatasetSource],
    *,
    settings: RetrievalSettings,
    reranker: Reranker | None = None,
    load_texts: LoadTexts | None = None,
) -> list[RetrievedNode]:
    """The best ``settings.top_k`` segments for ``query`` across ``sources``, best first.

    ``reranker`` is the model named by ``settings.reranking`` (required when it is a
    :class:`~plait.rag.retrieval_settings.RerankModel`), ``load_texts`` maps node ids to
    the texts it reads (entries whose text is gone are dropped)."""
    rerank = isinstance(settings.reranking, RerankModel)
    if rerank and (reranker is None or load_texts is None):
        raise InvalidInput("reranking with a rerank model needs the model and the texts", params="reranking_model")
    if not query.strip() or not sources:
        return []
    pool = candidate_pool(max([settings.top_k, *(source.settings.top_k for source in sources)]))
    searched = await _search_all(query, sources, pool)
    candidates: list[_Candidate] = []
    for source, result in zip(sources, searched, strict=True):
        _score(result, _fusion(settings.reranking, source.settings.reranking))
        candidates.extend(result.candidates)
    if reranker is not None and load_texts is not None and rerank:
        candidates = await _rerank(query, candidates, reranker, load_texts)
    if settings.score_threshold is not None:
        candidates = [candidate for candidate in candidates if candidate.score >= settings.score_threshold]
    return _segments(candidates, settings.top_k)


# --- search -----------------------------------------------------------------------------------


async def _search_all(query: str, sources: Sequence[DatasetSource], pool: int) -> list[_Searched]:
    """Every source's searches at once. The query embeddings are tasks of the same group,
    one per embedding model, that the sources' vector searches await: full-text searches
    do not wait for them, and a failure anywhere cancels everything."""
    with _first_failure():
        async with asyncio.TaskGroup() as group:
            embeddings: dict[Hashable, asyncio.Task[list[float]]] = {}
            searches = []
            for source in sources:
                vector: asyncio.Task[list[float]] | None = None
                if source.settings.uses_vectors and source.embedder is not None:
                    key = source._embedding_key()
                    if key not in embeddings:
                        embeddings[key] = group.create_task(_embed(source.embedder, query))
                    vector = embeddings[key]
                text = source.settings.uses_text or vector is None
                searches.append(group.create_task(_search(query, source, vector, text, pool)))
    return [search.result() for search in searches]


async def _embed(embedder: EmbeddingModel, query: str) -> list[float]:
    return (await embedder.embed([query], input_type="query")).vectors[0]


async def _search(
    query: str, source: DatasetSource, vector: Awaitable[list[float]] | None, text: bool, pool: int
) -> _Searched:
    async def vector_hits() -> list[SearchHit]:
        return [] if vector is None else await source.index.search_vector(await vector, pool, source.where)

    async def text_hits() -> list[SearchHit]:
        return await source.index.search_text(query, pool, source.where) if text else []

    with _first_failure():
        async with asyncio.TaskGroup() as group:
            by_vector_task = group.create_task(vector_hits())
            by_text_task = group.create_task(text_hits())
    by_vector, by_text = by_vector_task.result(), by_text_task.result()
    found: dict[str, _Candidate] = {}
    for rank, hit in enumerate(by_vector, 1):
        candidate = found.setdefault(hit.node_id, _candidate(source.dataset_id, hit))
        candidate.vector_score, candidate.vector_rank = hit.score, rank
    for rank, hit in enumerate(by_text, 1):
        candidate = found.setdefault(hit.node_id, _candidate(source.dataset_id, hit))
        candidate.text_score, candidate.text_rank = hit.score, rank
    return _Searched(list(found.values()), both=vector is not None and text)


def _candidate(dataset_id: str, hit: SearchHit) -> _Candidate:
    return _Candidate(dataset_id, hit.node_id, hit.segment_id, hit.document_id)


@contextmanager
def _first_failure() -> Iterator[None]:
    """Raise a task group's first failure itself, not the ``ExceptionGroup`` around it,
    which callers catching Plait's errors would miss."""
    try:
        yield
    except BaseExceptionGroup as failures:
        first: BaseException = failures
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


# --- fusion -----------------------------------------------------------------------------------


def _fusion(merge: Reranking, own: Reranking) -> WeightedScore | ReciprocalRankFusion:
    for reranking in (merge, own):
        if isinstance(reranking, WeightedScore | ReciprocalRankFusion):
            return reranking
    assert isinstance(DEFAULT_FUSION, WeightedScore | ReciprocalRankFusion)
    return DEFAULT_FUSION


def _score(searched: _Searched, fusion: WeightedScore | ReciprocalRankFusion) -> None:
    best_vector = max((candidate.vector_score or 0.0 for candidate in searched.candidates), default=0.0)
    scale = 1.0 / best_vector if best_vector > 0 else 0.0
    for candidate in searched.candidates:
        if not searched.both:
            candidate.score = (
                candidate.vector_score if candidate.vector_score is not None else candidate.text_score or 0
            )
        elif isinstance(fusion, WeightedScore):
            vector = (candidate.vector_score or 0.0) * scale
            candidate.score = fusion.vector_weight * vector + fusion.keyword_weight * (candidate.text_score or 0.0)
        else:
            candidate.score = reciprocal_rank_score((candidate.vector_rank, candidate.text_rank), fusion.k)


def reciprocal_rank_score(ranks: Sequence[int | None], k: int) -> float:
    """``sum(1 / (k + rank))`` over the lists (``None``: not in that list), divided by
    its maximum, ``len(ranks) / (k + 1)``."""
    total = sum(1.0 / (k + rank) for rank in ranks if rank is not None)
    return total * (k + 1) / len(ranks)


# --- rerank and group -------------------------------------------------------------------------


async def _rerank(
    query: str, candidates: list[_Candidate], reranker: Reranker, load_texts: LoadTexts
) -> list[_Candidate]:
    if not candidates:
        return []
    texts = await load_texts([candidate.node_id for candidate in candidates])
    kept = [candidate for candidate in candidates if texts.get(candidate.node_id)]
    if not kept:
        return []
    hits = await reranker.rerank(query, [texts[candidate.node_id] for candidate in kept])
    reranked = []
    for hit in hits:
        candidate = kept[hit.index]
        candidate.score = hit.score
        reranked.append(candidate)
    return reranked


def _segments(candidates: list[_Candidate], top_k: int) -> list[RetrievedNode]:
    # Best first; equal scores in a stable order (dataset, then node id), so that a
    # query answers the same way every time.
    candidates.sort(key=lambda candidate: (-candidate.score, candidate.dataset_id, candidate.node_id))
    groups: dict[tuple[str, str], list[_Candidate]] = {}
    for candidate in candidates:
        key = (candidate.dataset_id, candidate.segment_id)
        group = groups.get(key)
        if group is None:
            if len(groups) == top_k:
                continue
            group = groups[key] = []
        group.append(candidate)
    results = []
    for group in groups.values():
        best = group[0]
        matches = tuple(NodeMatch(candidate.node_id, candidate.score) for candidate in group)
        results.append(
            RetrievedNode(
                best.dataset_id,
                best.node_id,
                best.segment_id,
                best.document_id,
                best.score,
                best.vector_score,
                best.text_score,
                matches,
            )
        )
    return results
