"""Embedding for indexing: batched, bounded and patient.

Dify embeds each document's chunks with its own thread pool, so many small documents mean
many small calls (issue #41112). Plait coalesces: every concurrent indexing job hands its
texts to one :class:`BatchingEmbedder` per model, which sends them to the model in batches
of up to ``batch_size`` texts, at most ``concurrency`` calls at a time. A rate limit is
waited out with exponential backoff (the provider's ``Retry-After`` when it gives one)
instead of failing the document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from plait.providers.base import EmbeddingModel
from plait.providers.errors import ModelRateLimited, ModelTimeout, ModelUnavailable

DEFAULT_BATCH_SIZE = 32
DEFAULT_CONCURRENCY = 2
# How long a lone request waits for company before it is sent alone: short against an
# embedding call (tens of milliseconds), long enough for concurrent jobs to join.
GATHER_SECONDS = 0.002
RETRY_ATTEMPTS = 8


@dataclass
class _Request:
    texts: Sequence[str]
    future: asyncio.Future[list[list[float]]]


@dataclass
class BatchingEmbedder:
    model: EmbeddingModel
    batch_size: int = DEFAULT_BATCH_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    _pending: list[_Request] = field(default_factory=list, init=False)
    _wakeup: asyncio.Event | None = field(default=None, init=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for ``texts`` (documents), in order."""
        if not texts:
            return []
        future: asyncio.Future[list[list[float]]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(texts, future))
        self._ensure_worker().set()
        return await future

    def _ensure_worker(self) -> asyncio.Event:
        if self._wakeup is None or self._worker is None or self._worker.done():
            self._wakeup = asyncio.Event()
            self._slots = asyncio.Semaphore(self.concurrency)
            self._worker = asyncio.get_running_loop().create_task(self._run())
        return self._wakeup

    async def _run(self) -> None:
        assert self._wakeup is not None
        assert self._slots is not None
        calls: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                await asyncio.sleep(GATHER_SECONDS)
                while self._pending:
                    await self._slots.acquire()
                    batch = self._take()
                    call = asyncio.create_task(self._call(batch))
                    calls.add(call)
                    call.add_done_callback(calls.discard)
        finally:
            for call in calls:
                call.cancel()

    def _take(self) -> list[_Request]:
        """Whole requests up to ``batch_size`` texts (a larger request goes alone; the
        call splits it)."""
        batch: list[_Request] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0].texts) <= self.batch_size):
            request = self._pending.pop(0)
            batch.append(request)
            size += len(request.texts)
        return batch

    async def _call(self, batch: list[_Request]) -> None:
        assert self._slots is not None
        try:
            texts = [text for request in batch for text in request.texts]
            vectors: list[list[float]] = []
            for start in range(0, len(texts), self.batch_size):
                vectors.extend(await self._embed_with_backoff(texts[start : start + self.batch_size]))
            offset = 0
            for request in batch:
                if not request.future.done():
                    request.future.set_result(vectors[offset : offset + len(request.texts)])
                offset += len(request.texts)
        except BaseException as error:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
        finally:
            self._slots.release()

    async def _embed_with_backoff(self, texts: Sequence[str]) -> list[list[float]]:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((ModelRateLimited, ModelTimeout, ModelUnavailable)),
            wait=_wait_for_provider,
            stop=stop_after_attempt(RETRY_ATTEMPTS),
            reraise=True,
        ):
            with attempt:
                result = await self.model.embed(texts, input_type="document")
                if len(result.vectors) != len(texts):
                    raise ModelUnavailable(
                        f"the embedding model returned {len(result.vectors)} vectors for {len(texts)} texts"
                    )
                return result.vectors
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None


_backoff = wait_exponential_jitter(exp_base=2, max=30, jitter=0.5)


def _wait_for_provider(state: object) -> float:
    """The provider's Retry-After when a rate limit names one, else exponential backoff."""
    outcome = getattr(state, "outcome", None)
    error = outcome.exception() if outcome is not None else None
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after > 0:
        return float(min(retry_after, 60.0))
    return float(_backoff(state))  # type: ignore[arg-type]
