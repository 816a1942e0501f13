"""The embedded knowledge index (the default): one SQLite file per dataset under the data dir.

``<root>/<dataset hex>.sqlite3`` in WAL mode, through the standard library's ``sqlite3``:
it has FTS5, but cannot load extensions, so vectors are searched exactly with numpy over an
in-memory matrix (``matrix.py``) loaded on the first vector search.

- ``entries`` holds every entry with its analyzed tokens and its normalised float32 vector.
  Its integer ``id`` is the FTS5 rowid; ``node_id`` is unique.
- ``fts`` (contentless FTS5, ``unicode61`` without diacritic folding, so each token made by
  ``analysis.analyze`` is one FTS token) holds the *enabled* entries only: disabling deletes
  the row and enabling re-inserts it from ``entries.tokens``. Searches then need no join to
  skip disabled entries, and ``ORDER BY rank LIMIT k`` runs inside FTS5. A second column holds
  one token per document id, so a document filter is an index intersection, not a scan.
- ``meta`` holds the vector dimension and a ``version`` bumped by every write. The matrix
  remembers the version it reflects; writes of this process update it in place, and a search
  that finds another version in the file (another process wrote) reloads it.

Blocking work runs in threads (``asyncio.to_thread``); writes to one collection are
serialised by an asyncio lock (and across processes by SQLite's write lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from plait.errors import PlaitError
from plait.storage.index.analysis import analyze, query_terms
from plait.storage.index.base import ANY, DimensionMismatch, IndexEntry, KnowledgeIndexError, SearchFilter, SearchHit
from plait.storage.index.matrix import VectorMatrix, VectorRow, Vectors, normalized
from plait.storage.index.naming import collection_key

_P = ParamSpec("_P")
_R = TypeVar("_R")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('version', 0);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL UNIQUE,
    segment_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    vector BLOB
);
CREATE INDEX entries_segment ON entries (segment_id);
CREATE INDEX entries_document ON entries (document_id);
CREATE VIRTUAL TABLE fts USING fts5(tokens, document, content='', tokenize='unicode61 remove_diacritics 0');
-- Only the text column counts for relevance; the document column is a filter.
INSERT INTO fts (fts, rank) VALUES ('rank', 'bm25(1.0, 0.0)');
PRAGMA user_version = 1;
"""
_IN = "(SELECT value FROM json_each(?))"
_FLOAT32 = np.dtype("<f4")  # stored little-endian whatever the machine


def _document_token(document_id: str) -> str:
    """One FTS token per document id: ids may hold characters the tokenizer splits on."""
    return "d" + hashlib.blake2b(document_id.encode(), digest_size=16).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE for writes).
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


@dataclass
class _Change:
    """What a committed write did, to apply to the in-memory matrix."""

    upserted: list[VectorRow] = field(default_factory=list)
    vectors: Vectors | None = None
    removed: list[str] = field(default_factory=list)
    enabled: bool | None = None
    toggled: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserted or self.removed or self.toggled)


class EmbeddedIndex:
    def __init__(self, dataset_id: str, path: Path) -> None:
        self.dataset_id = dataset_id
        self.path = path
        self._writer = _connect(path)
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._write_lock = asyncio.Lock()
        # Held while a write commits and applies its change, and while a search checks or
        # reloads the matrix: a search never sees the file and the matrix disagree.
        self._matrix_lock = threading.Lock()
        self._matrix: VectorMatrix | None = None
        self._closed = False

    def create_schema(self) -> None:
        self._writer.execute("PRAGMA journal_mode = WAL")
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            (schema,) = self._writer.execute("PRAGMA user_version").fetchone()
            if schema == 0:
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        self._writer.execute(statement)
            self._writer.execute("COMMIT")
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise

    # -- writes --------------------------------------------------------------------------

    async def upsert(self, entries: Sequence[IndexEntry]) -> None:
        if not entries:
            return
        # Last one wins when a batch names a node twice, as if upserted one after the other.
        latest = list({entry.node_id: entry for entry in entries}.values())
        # Analysis and normalisation happen before the write lock is taken: other writers,
        # in this process or another, wait only for the SQL.
        tokens, vectors = await self._thread(self._prepare, latest)
        await self._write(self._upsert, latest, tokens, vectors)

    @staticmethod
    def _prepare(entries: list[IndexEntry]) -> tuple[list[str], Vectors | None]:
        tokens = [" ".join(analyze(entry.text)) for entry in entries]
        vectors = [entry.vector for entry in entries if entry.vector is not None]
        return tokens, normalized(vectors, None) if vectors else None

    async def delete(
        self,
        *,
        node_ids: Collection[str] = (),
        segment_ids: Collection[str] = (),
        document_ids: Collection[str] = (),
    ) -> None:
        if node_ids or segment_ids or document_ids:
            await self._write(self._delete, list(node_ids), list(segment_ids), list(document_ids))

    async def set_enabled(
        self, enabled: bool, *, segment_ids: Collection[str] = (), document_ids: Collection[str] = ()
    ) -> None:
        if segment_ids or document_ids:
            await self._write(self._set_enabled, enabled, list(segment_ids), list(document_ids))

    async def _write(self, work: Callable[_P, _Change], *args: _P.args, **kwargs: _P.kwargs) -> None:
        async with self._write_lock:
            transaction = asyncio.ensure_future(self._thread(self._transaction, lambda: work(*args, **kwargs)))
            try:
                await asyncio.shield(transaction)
            except asyncio.CancelledError:
                # A thread cannot be stopped: hold the lock until it is done, or the next
                # write would use the connection while this one still does.
                with contextlib.suppress(Exception):
                    await transaction
                raise

    def _transaction(self, work: Callable[[], _Change]) -> None:
        connection = self._writer
        connection.execute("BEGIN IMMEDIATE")
        try:
            change = work()
            if not change:
                connection.execute("ROLLBACK")
                return
            (version,) = connection.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value"
            ).fetchone()
            with self._matrix_lock:
                connection.execute("COMMIT")
                self._apply(change, version)
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _apply(self, change: _Change, version: int) -> None:
        matrix = self._matrix
        if matrix is None:
            return
        if matrix.version != version - 1:
            self._matrix = None  # another process wrote in between: reload on the next search
            return
        try:
            if change.upserted and change.vectors is not None:
                matrix.upsert(change.upserted, change.vectors)
            matrix.remove(change.removed)
            if change.enabled is not None:
                matrix.set_enabled(change.enabled, change.toggled)
        except BaseException:
            self._matrix = None
            raise
        matrix.version = version

    def _upsert(self, entries: list[IndexEntry], tokens: list[str], vectors: Vectors | None) -> _Change:
        connection = self._writer
        blobs: dict[str, bytes] = {}
        if vectors is not None:
            dimension = self._dimension(connection)
            if dimension is None:
                connection.execute("INSERT INTO meta (key, value) VALUES ('dimension', ?)", (vectors.shape[1],))
            elif vectors.shape[1] != dimension:
                raise DimensionMismatch(
                    f"vectors of length {vectors.shape[1]} do not fit this collection's dimension {dimension}",
                    params="vector",
                )
            stored = vectors.astype(_FLOAT32, copy=False)
            with_vectors = (entry.node_id for entry in entries if entry.vector is not None)
            blobs = {node_id: stored[i].tobytes() for i, node_id in enumerate(with_vectors)}
        existing = {
            row[0]: row[1:]
            for row in connection.execute(
                f"SELECT node_id, id, enabled, tokens, document_id FROM entries WHERE node_id IN {_IN}",
                (json.dumps([entry.node_id for entry in entries]),),
            )
        }
        for entry, text in zip(entries, tokens, strict=True):
            values = (entry.segment_id, entry.document_id, entry.enabled, text, blobs.get(entry.node_id))
            old = existing.get(entry.node_id)
            if old is None:
                cursor = connection.execute(
                    "INSERT INTO entries (node_id, segment_id, document_id, enabled, tokens, vector)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (entry.node_id, *values),
                )
                rowid = cursor.lastrowid
            else:
                rowid, was_enabled, old_tokens, old_document = old
                if was_enabled:
                    self._unindex(rowid, old_tokens, old_document)
                connection.execute(
                    "UPDATE entries SET segment_id = ?, document_id = ?, enabled = ?, tokens = ?, vector = ?"
                    " WHERE id = ?",
                    (*values, rowid),
                )
            if entry.enabled:
                self._index(rowid, text, entry.document_id)
        rows = [VectorRow(e.node_id, e.segment_id, e.document_id, e.enabled) for e in entries if e.vector is not None]
        vectorless = [entry.node_id for entry in entries if entry.vector is None]
        return _Change(upserted=rows, vectors=vectors, removed=vectorless)

    def _delete(self, node_ids: list[str], segment_ids: list[str], document_ids: list[str]) -> _Change:
        rows = self._matching(node_ids=node_ids, segment_ids=segment_ids, document_ids=document_ids)
        for rowid, _, enabled, tokens, document_id in rows:
            if enabled:
                self._unindex(rowid, tokens, document_id)
        self._writer.execute(f"DELETE FROM entries WHERE id IN {_IN}", (json.dumps([row[0] for row in rows]),))
        return _Change(removed=[row[1] for row in rows])

    def _set_enabled(self, enabled: bool, segment_ids: list[str], document_ids: list[str]) -> _Change:
        rows = [row for row in self._matching(segment_ids=segment_ids, document_ids=document_ids) if row[2] != enabled]
        for rowid, _, _, tokens, document_id in rows:
            if enabled:
                self._index(rowid, tokens, document_id)
            else:
                self._unindex(rowid, tokens, document_id)
        self._writer.execute(
            f"UPDATE entries SET enabled = ? WHERE id IN {_IN}", (enabled, json.dumps([row[0] for row in rows]))
        )
        return _Change(enabled=enabled, toggled=[row[1] for row in rows])

    def _matching(self, **ids: list[str]) -> list[tuple[Any, ...]]:
        """Entries whose node, segment or document id is listed (one indexed query per kind)."""
        found: dict[int, tuple[Any, ...]] = {}
        for kind, values in ids.items():
            if values:
                column = kind.removesuffix("s")
                for row in self._writer.execute(
                    f"SELECT id, node_id, enabled, tokens, document_id FROM entries WHERE {column} IN {_IN}",
                    (json.dumps(values),),
                ):
                    found[row[0]] = row
        return list(found.values())

    def _index(self, rowid: int | None, tokens: str, document_id: str) -> None:
        self._writer.execute(
            "INSERT INTO fts (rowid, tokens, document) VALUES (?, ?, ?)", (rowid, tokens, _document_token(document_id))
        )

    def _unindex(self, rowid: int, tokens: str, document_id: str) -> None:
        # A contentless table forgets a row given exactly the values it was indexed with.
        self._writer.execute(
            "INSERT INTO fts (fts, rowid, tokens, document) VALUES ('delete', ?, ?, ?)",
            (rowid, tokens, _document_token(document_id)),
        )

    @staticmethod
    def _dimension(connection: sqlite3.Connection) -> int | None:
        row = connection.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
        return None if row is None else int(row[0])

    # -- reads ---------------------------------------------------------------------------

    async def search_vector(self, vector: Sequence[float], k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        if where.document_ids is not None and not where.document_ids:
            return []
        return await self._thread(self._search_vector, list(vector), k, where.document_ids)

    def _search_vector(self, vector: list[float], k: int, document_ids: Collection[str] | None) -> list[SearchHit]:
        with self._matrix_lock, self._reader() as connection:
            version, dimension = self._state(connection)
            if dimension is None:
                return []  # no vector was ever written
            if len(vector) != dimension:
                raise DimensionMismatch(
                    f"the query vector has length {len(vector)}, the collection's dimension is {dimension}",
                    params="vector",
                )
            matrix = self._matrix
            if matrix is None or matrix.version != version:
                matrix = self._matrix = self._load(connection, dimension)
        return matrix.search(vector, k, document_ids)

    @staticmethod
    def _state(connection: sqlite3.Connection) -> tuple[int, int | None]:
        values = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        dimension = values.get("dimension")
        return int(values["version"]), None if dimension is None else int(dimension)

    def _load(self, connection: sqlite3.Connection, dimension: int) -> VectorMatrix:
        # One read transaction: the version read is the one the rows are at.
        connection.execute("BEGIN")
        try:
            version, _ = self._state(connection)
            rows = connection.execute(
                "SELECT node_id, segment_id, document_id, enabled, vector FROM entries WHERE vector IS NOT NULL"
            ).fetchall()
        finally:
            connection.execute("COMMIT")
        matrix = VectorMatrix(dimension, version)
        if rows:
            vectors = np.frombuffer(b"".join(row[4] for row in rows), dtype=_FLOAT32).reshape(len(rows), dimension)
            matrix.upsert([VectorRow(r[0], r[1], r[2], bool(r[3])) for r in rows], vectors.astype(np.float32))
        return matrix

    async def search_text(self, query: str, k: int, where: SearchFilter = ANY) -> list[SearchHit]:
        terms = query_terms(query)
        if not terms or k <= 0 or (where.document_ids is not None and not where.document_ids):
            return []
        expression = "tokens : (" + " OR ".join(f'"{term}"' for term in terms) + ")"
        if where.document_ids is not None:
            documents = " OR ".join(f'"{_document_token(d)}"' for d in set(where.document_ids))
            expression += f" AND document : ({documents})"
        return await self._thread(self._search_text, expression, k)

    def _search_text(self, expression: str, k: int) -> list[SearchHit]:
        with self._reader() as connection:
            rows = connection.execute(
                "SELECT e.node_id, e.segment_id, e.document_id, m.rank"
                " FROM (SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?) AS m"
                " JOIN entries AS e ON e.id = m.rowid ORDER BY m.rank",
                (expression, k),
            ).fetchall()
        if not rows:
            return []
        # FTS5's bm25() is negative, more negative is better: the best hit divides to 1.0.
        best = rows[0][3]
        return [SearchHit(node, segment, document, _relative(rank, best)) for node, segment, document, rank in rows]

    async def node_ids(self, *, document_id: str | None = None) -> set[str]:
        if document_id is None:
            return await self._read("SELECT node_id FROM entries")
        return await self._read("SELECT node_id FROM entries WHERE document_id = ?", document_id)

    async def count(self) -> int:
        return await self._thread(self._count)

    def _count(self) -> int:
        with self._reader() as connection:
            (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
            return int(count)

    async def _read(self, sql: str, *parameters: str) -> set[str]:
        def read() -> set[str]:
            with self._reader() as connection:
                return {row[0] for row in connection.execute(sql, parameters)}

        return await self._thread(read)

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            connection = self._readers.get_nowait()
        except queue.Empty:
            connection = _connect(self.path)
            connection.execute("PRAGMA query_only = ON")
        try:
            yield connection
        finally:
            if self._closed:
                connection.close()
            else:
                self._readers.put(connection)

    # -- lifecycle -----------------------------------------------------------------------

    async def _thread(self, function: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self._closed:
            raise KnowledgeIndexError(f"the index of dataset {self.dataset_id} is closed")
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except PlaitError:
            raise
        except sqlite3.Error as error:
            raise KnowledgeIndexError(f"the index of dataset {self.dataset_id} failed: {error}") from error

    async def close(self) -> None:
        async with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._matrix = None
            self._writer.close()
            while True:
                try:
                    self._readers.get_nowait().close()
                except queue.Empty:
                    break


def _relative(rank: float, best: float) -> float:
    if best >= 0:  # every hit equally (ir)relevant: bm25 has nothing to tell them apart
        return 1.0
    return min(max(rank / best, 0.0), 1.0)


class EmbeddedIndexStore:
    """The collections of one data directory: ``root/<dataset hex>.sqlite3``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._collections: dict[str, EmbeddedIndex] = {}
        self._lock = asyncio.Lock()

    async def collection(self, dataset_id: str) -> EmbeddedIndex:
        key = collection_key(dataset_id)
        index = self._collections.get(key)
        if index is not None:
            return index
        async with self._lock:
            index = self._collections.get(key)
            if index is None:
                index = await asyncio.to_thread(self._open, dataset_id, self.root / f"{key}.sqlite3")
                self._collections[key] = index
            return index

    @staticmethod
    def _open(dataset_id: str, path: Path) -> EmbeddedIndex:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            index = EmbeddedIndex(dataset_id, path)
            index.create_schema()
        except (OSError, sqlite3.Error) as error:
            raise KnowledgeIndexError(f"cannot open the index of dataset {dataset_id} at {path}: {error}") from error
        return index

    async def drop(self, dataset_id: str) -> None:
        key = collection_key(dataset_id)
        async with self._lock:
            index = self._collections.pop(key, None)
            if index is not None:
                await index.close()
            path = self.root / f"{key}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(f"{path}{suffix}").unlink, True)

    async def close(self) -> None:
        async with self._lock:
            for index in self._collections.values():
                await index.close()
            self._collections.clear()
