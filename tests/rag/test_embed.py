"""The indexing embedder: concurrent requests share batches, no more calls run at once than
allowed, order is kept, and rate limits are waited out (the provider's Retry-After first)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import pytest

from plait.providers.base import Embeddings
from plait.providers.errors import ModelAuthFailed, ModelRateLimited
from plait.rag import embed as embed_module
from plait.rag.embed import BatchingEmbedder


class CountingModel:
    """Vectors that name their text, so order can be checked; records each call's size."""

    name = "counting"
    dimensions = 2
    max_input_tokens = 512

    def __init__(self, *, fail_first: int = 0, error: Exception | None = None, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail_first = fail_first
        self.error = error or ModelRateLimited("slow down")
        self.delay = delay

    async def embed(self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document") -> Embeddings:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_first:
                self.fail_first -= 1
                raise self.error
            self.calls.append(len(texts))
            return Embeddings([[float(len(text)), float(text.count("x"))] for text in texts])
        finally:
            self.in_flight -= 1


async def test_concurrent_requests_share_batches_and_keep_order() -> None:
    model = CountingModel(delay=0.01)
    embedder = BatchingEmbedder(model, batch_size=8, concurrency=2)
    requests = [["x" * i, "y" * (i + 1)] for i in range(12)]
    results = await asyncio.gather(*(embedder.embed(texts) for texts in requests))
    for texts, vectors in zip(requests, results, strict=True):
        assert vectors == [[float(len(t)), float(t.count("x"))] for t in texts]
    assert sum(model.calls) == 24
    assert max(model.calls) <= 8
    assert len(model.calls) < len(requests)  # coalesced, not one call per request
    assert model.most_in_flight <= 2
    await embedder.aclose()


async def test_a_large_request_is_split_into_batches() -> None:
    model = CountingModel()
    embedder = BatchingEmbedder(model, batch_size=5, concurrency=1)
    vectors = await embedder.embed([f"t{i}" for i in range(12)])
    assert len(vectors) == 12
    assert model.calls == [5, 5, 2]
    await embedder.aclose()


async def test_rate_limits_are_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(embed_module, "_wait_for_provider", lambda state: waits.append(0.0) or 0.0)
    model = CountingModel(fail_first=3)
    embedder = BatchingEmbedder(model, batch_size=4)
    assert await embedder.embed(["a", "bb"]) == [[1.0, 0.0], [2.0, 0.0]]
    assert len(waits) == 3
    await embedder.aclose()


def test_the_providers_retry_after_is_honoured() -> None:
    error = ModelRateLimited("slow down", retry_after=7)

    class Outcome:
        def exception(self) -> Exception:
            return error

    class State:
        outcome = Outcome()
        attempt_number = 1

    assert embed_module._wait_for_provider(State()) == 7.0


async def test_other_errors_fail_every_waiting_request() -> None:
    model = CountingModel(fail_first=1, error=ModelAuthFailed("bad key"))
    embedder = BatchingEmbedder(model, batch_size=10)
    results = await asyncio.gather(embedder.embed(["a"]), embedder.embed(["b"]), return_exceptions=True)
    assert all(isinstance(result, ModelAuthFailed) for result in results)
    assert await embedder.embed(["c"]) == [[1.0, 0.0]]  # the next request is served again
    await embedder.aclose()
