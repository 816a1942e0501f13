"""The scaled-out knowledge index: PostgreSQL with pgvector, one table per dataset.

``knowledge_index_<dataset hex>``: one row per entry, its ``embedding`` in a ``vector(d)``
column with an HNSW index (cosine), its analyzed tokens in a ``tsvector`` with a GIN index.
The table starts with an untyped, empty ``embedding`` column (``economy`` datasets never
fill it); the first vector written fixes the dimension (``ALTER ... TYPE vector(d)``) and
creates the HNSW index, after that batch is in, since building over rows present is much
faster than growing the graph row by row.

Text goes through ``analysis.analyze`` (the embedded backend's analyzer) and only then
through ``to_tsvector('simple', ...)``, which neither stems nor drops words: both backends
match the same tokens, and Chinese is searchable even though PostgreSQL has no parser for it.
Hits are ranked by ``ts_rank`` over the OR of the query's tokens, divided by the best hit's.
Not ``ts_rank_cd``: PostgreSQL ranks every matching row before it can keep the best ``k``,
and cover density made that four times slower (22 ms against 5 ms at the median, 100k
entries) for OR queries, where proximity says little; neither function knows IDF.

Filtered vector searches use ``hnsw.iterative_scan`` (pgvector 0.8+) so that a filter that
rejects most of the nearest rows still returns ``k`` hits. Writes to one collection take a
transaction-scoped advisory lock: one writer at a time, across processes, so the dimension
is fixed once and overlapping writes cannot deadlock.

asyncpg directly, not the application's SQLAlchemy engine: this store is a storage adapter
of its own, possibly on another server than the metadata database.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from plait.storage.index.analysis import analyze, query_terms
from plait.storage.index.base import ANY, DimensionMismatch, IndexEntry, KnowledgeIndexError, SearchFilter, SearchHit
from plait.storage.index.matrix import normalized
from plait.storage.index.naming import collection_key

_TABLE_PREFIX = "knowledge_index_"
_ITERATIVE_SCAN_SINCE = (0, 8, 0)


def _vector_text(vector: Sequence[float]) -> str:
    # repr() of a float is exact and round-trips, and pgvector reads it as float4.
    return "[" + ",".join(map(repr, vector)) + "]"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


class PgVectorIndex:
    def __init__(self, store: PgVectorIndexStore, dataset_id: str, key: str) -> None:
        self.dataset_id = dataset_id
        self._store = store
        self._table = f'"{_TABLE_PREFIX}{key}"'
        self._name = f"{_TABLE_PREFIX}{key}"
        self._lock_id = int(key[:15], 16)  # advisory lock key: 60 bits of the dataset id
        self._dimension: int | None = None

    async def create(self, connection: asyncpg.Connection) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", self._lock_id)
            await connection.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {self._table} (
                    node_id text PRIMARY KEY,
                    segment_id text NOT NULL,
                    document_id text NOT NULL,
                    enabled boolean NOT NULL,
                    tokens tsvector NOT NULL,
                    embedding vector
                );
                CREATE INDEX IF NOT EXISTS "{self._name}_segment" ON {self._table} (segment_id);
                CREATE INDEX IF NOT EXISTS "{self._name}_document" ON {self._table} (document_id);
                CREATE INDEX IF NOT EXISTS "{self._name}_tokens" ON {self._table} USING gin (tokens);
                """
            )
            self._dimension = await self._stored_dimension(connection)

    async def _stored_dimension(self, connection: asyncpg.Connection) -> int | None:
        # pgvector keeps vector(d)'s dimension as the column's type modifier; -1 means none yet.
        modifier = await connection.fetchval(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'embedding'", self._table
        )
        return None if modifier is None or modifier < 0 else int(modifier)

    # -- writes --------------------------------------------------------------------------

    async def upsert(self, entries: Sequence[IndexEntry]) -> None:
        if not entries:
            return
        latest = list({entry.node_id: entry for entry in entries}.values())
        with_vectors = [entry.vector for entry in latest if entry.vector is not None]
        vectors = normalized(with_vectors, None) if with_vectors else None
        texts = iter([] if vectors is None else [_vector_text(row) for row in vectors.tolist()])
        rows = [
            (
                entry.node_id,
                entry.segment_id,
                entry.document_id,
                entry.enabled,
                " ".join(analyze(entry.text)),
                None if entry.vector is None else next(texts),
            )
            for entry in latest
        ]
        async with self._write() as connection:
            dimension = await self._stored_dimension(connection)
            if vectors is not None and dimension is not None and vectors.shape[1] != dimension:
                raise DimensionMismatch(
                    f"vectors of length {vectors.shape[1]} do not fit this collection's dimension {dimension}",
                    params="vector",
                )
            first = vectors is not None and dimension is None
            if first and vectors is not None:
                await connection.execute(
                    f"ALTER TABLE {self._table} ALTER COLUMN embedding TYPE vector({vectors.shape[1]})"
                )
            await connection.executemany(
                f"""
                INSERT INTO {self._table} (node_id, segment_id, document_id, enabled, tokens, embedding)
                VALUES ($1, $2, $3, $4, to_tsvector('simple', $5), $6::text::vector)
                ON CONFLICT (node_id) DO UPDATE SET
                    segment_id = excluded.segment_id, document_id = excluded.document_id,
                    enabled = excluded.enabled, tokens = excluded.tokens, embedding = excluded.embedding
                """,
                rows,
            )
            if first and vectors is not None:
                graph = f"m = {self._store.m}, ef_construction = {self._store.ef_construction}"
                if self._store.build_memory is not None:
                    # Transaction-local: only this build gets the memory to keep its graph in RAM.
                    await connection.execute(
                        "SELECT set_config('maintenance_work_mem', $1, true)", self._store.build_memory
                    )
                await connection.execute(
                    f'CREATE INDEX "{self._name}_embedding" ON {self._table}'
                    f" USING hnsw (embedding vector_cosine_ops) WITH ({graph})"
                )
                self._dimension = vectors.shape[1]

    async def delete(
        self,
        *,
        node_ids: Collection[str] = (),
        segment_ids: Collection[str] = (),
        document_ids: Collection[str] = (),
    ) -> None:
        if not (node_ids or segment_ids or document_ids):
            return
        async with self._write() as connection:
            await connection.execute(
                f"DELETE FROM {self._table} WHERE node_id = ANY($1) OR segment_id = ANY($2) OR document_id = ANY($3)",
                list(node_ids),
                list(segment_ids),
                list(document_ids),
            )

    async def set_enabled(
        self, enabled: bool, *, segment_ids: Collection[str] = (), document_ids: Collection[str] = ()
    ) -> None:
        if not (segment_ids or document_ids):
            return
        async with self._write() as connection:
            await connection.execute(
                f"UPDATE {self._table} SET enabled = $1"
                " WHERE enabled <> $1 AND (segment_id = ANY($2) OR document_id = ANY($3))",
                enabled,
                list(segment_ids),
                list(document_ids),
            )

    def _write(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        return self._store.transaction(self._lock_id)

    # -- reads ---------------------------------------------------------------------------

    async def search_vector(self, vector: Sequence[float], k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        if k <= 0 or (where.document_ids is not None and not where.document_ids):
            return []
        if self._dimension is None:  # perhaps another process wrote the first vector since
            async with self._store.connection() as connection:
                self._dimension = await self._stored_dimension(connection)
            if self._dimension is None:
                return []
        if len(vector) != self._dimension:
            raise DimensionMismatch(
                f"the query vector has length {len(vector)}, the collection's dimension is {self._dimension}",
                params="vector",
            )
        probe = _vector_text(normalized([vector], self._dimension)[0].tolist())
        documents = "" if where.document_ids is None else " AND document_id = ANY($3)"
        arguments: list[Any] = [probe, k] if where.document_ids is None else [probe, k, list(where.document_ids)]
        async with self._store.connection() as connection:
            rows = await connection.fetch(
                f"SELECT node_id, segment_id, document_id, 1 - (embedding <=> $1::text::vector) AS similarity"
                f" FROM {self._table} WHERE enabled AND embedding IS NOT NULL{documents}"
                " ORDER BY embedding <=> $1::text::vector LIMIT $2",
                *arguments,
            )
        hits = [SearchHit(row[0], row[1], row[2], _clipped(row[3])) for row in rows]
        # An iterative scan in relaxed order may return a near neighbour a little out of place.
        hits.sort(key=lambda hit: hit.score, reverse=True)
        return hits

    async def search_text(self, query: str, k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        terms = query_terms(query)
        if not terms or k <= 0 or (where.document_ids is not None and not where.document_ids):
            return []
        documents = "" if where.document_ids is None else " AND document_id = ANY($3)"
        expression = " | ".join(terms)
        arguments: list[Any] = [expression, k]
        if where.document_ids is not None:
            arguments.append(list(where.document_ids))
        async with self._store.connection() as connection:
            rows = await connection.fetch(
                f"""
                SELECT node_id, segment_id, document_id, ts_rank(tokens, query) AS rank
                FROM {self._table}, to_tsquery('simple', $1) AS query
                WHERE enabled AND tokens @@ query{documents}
                ORDER BY rank DESC, node_id LIMIT $2
                """,
                *arguments,
            )
        if not rows:
            return []
        best = rows[0][3]
        return [SearchHit(row[0], row[1], row[2], _relative(row[3], best)) for row in rows]

    async def node_ids(self, *, document_id: str | None = None) -> set[str]:
        async with self._store.connection() as connection:
            if document_id is None:
                rows = await connection.fetch(f"SELECT node_id FROM {self._table}")
            else:
                rows = await connection.fetch(f"SELECT node_id FROM {self._table} WHERE document_id = $1", document_id)
        return {row[0] for row in rows}

    async def count(self) -> int:
        async with self._store.connection() as connection:
            count: int = await connection.fetchval(f"SELECT count(*) FROM {self._table}")
        return count


def _clipped(similarity: float | None) -> float:
    if similarity is None or math.isnan(similarity):
        return 0.0
    return min(max(float(similarity), 0.0), 1.0)


def _relative(rank: float, best: float) -> float:
    if best <= 0:
        return 1.0
    return min(max(float(rank) / float(best), 0.0), 1.0)


class PgVectorIndexStore:
    """All collections on one PostgreSQL database. ``url`` is a libpq URL; a SQLAlchemy
    one (``postgresql+asyncpg://``) is accepted too, to share ``DATABASE_URL``."""

    def __init__(
        self,
        url: str,
        *,
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 150,
        build_memory: str | None = None,
    ) -> None:
        """``m``, ``ef_construction``: the HNSW graph's shape (pgvector's defaults); ``ef_search``:
        a search's candidate list (pgvector's default, 40, gave recall@10 of 0.82 on 100k
        384-d embeddings, 100 gave 0.96, 200 gave 0.99: bench/knowledge_query.py);
        ``build_memory``: ``maintenance_work_mem`` for building the graph over a first batch
        (the server's setting when ``None``; a graph that does not fit builds much slower)."""
        self.url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.build_memory = build_memory
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._collections: dict[str, PgVectorIndex] = {}

    async def _connect(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await self._create_pool()
            return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        try:
            connection = await asyncpg.connect(self.url)
            try:
                await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
                version = await connection.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError) as error:
            raise KnowledgeIndexError(f"cannot prepare the pgvector index at {_redacted(self.url)}: {error}") from error
        settings = {"hnsw.ef_search": str(self.ef_search)}
        if _version(version) >= _ITERATIVE_SCAN_SINCE:
            settings["hnsw.iterative_scan"] = "relaxed_order"
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(self.url, min_size=1, max_size=10, server_settings=settings)
        except (OSError, asyncpg.PostgresError) as error:
            raise KnowledgeIndexError(
                f"cannot connect to the pgvector index at {_redacted(self.url)}: {error}"
            ) from error
        return pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, with driver errors translated into the error tree."""
        pool = await self._connect()
        try:
            async with pool.acquire() as connection:
                yield connection
        except asyncpg.DataError as error:
            if "dimensions" in str(error):  # a vector of another length reached the column
                raise DimensionMismatch(str(error), params="vector") from error
            raise KnowledgeIndexError(f"the pgvector index refused the data: {error}") from error
        except (OSError, asyncpg.PostgresError) as error:
            raise KnowledgeIndexError(f"the pgvector index failed: {error}") from error

    @asynccontextmanager
    async def transaction(self, lock_id: int) -> AsyncIterator[asyncpg.Connection]:
        """A transaction holding the collection's advisory write lock until it ends."""
        async with self.connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
            yield connection

    async def collection(self, dataset_id: str) -> PgVectorIndex:
        key = collection_key(dataset_id)
        index = self._collections.get(key)
        if index is None:
            index = PgVectorIndex(self, dataset_id, key)
            async with self.connection() as connection:
                await index.create(connection)
            self._collections[key] = index
        return index

    async def drop(self, dataset_id: str) -> None:
        key = collection_key(dataset_id)
        self._collections.pop(key, None)
        async with self.connection() as connection:
            await connection.execute(f'DROP TABLE IF EXISTS "{_TABLE_PREFIX}{key}"')

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._collections.clear()


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}" if at else url
