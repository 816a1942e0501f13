"""Models for offline runs and tests.

``FakeChatModel`` answers deterministically from the prompt, so any workflow runs with no
network and no keys. ``ScriptedChatModel`` answers per caller (a workflow node id) from a
script, in the forms Plait's ``--mock-llm`` files and the conformance cases use:

* ``"text"``: the reply is that text, streamed word by word (the first word, then ``" " +
  word`` for each following word) and closed by an empty final chunk;
* ``{"chunks": [...], "chunk_delay_s": s}``: exactly these chunks, the last one final;
* ``{"outputs": {...}}``: the node's outputs (``text`` streamed as above, the rest attached);
* ``{"error": "message"}``: the call fails with that message;
* ``{"tool_calls": [{"name", "arguments"}], "text": ...}``: the model calls tools (arguments
  an object or JSON text), after streaming ``text`` if given;
* ``{"reasoning": "...", "text": "..."}``: reasoning sent apart from the text, then the text;
* a list of the above: one per call, in order (the last one answers any further calls).

A script may declare capabilities (``ScriptedChatModel(script, capabilities=...)``), so a
test can stand in for a tool-calling or vision model.

``FakeEmbeddingModel`` turns text into deterministic vectors from its words.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from plait.providers.base import ChatChunk, ChatRequest, Embeddings, ModelCapabilities, ToolCall, Usage
from plait.providers.catalog import HttpAccess, ModelPricing, ModelSpec, ProviderSpec
from plait.providers.errors import ModelError

SCRIPTED_USAGE = Usage(prompt_tokens=10, completion_tokens=5)


def word_chunks(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(" " + word for word in words[1:]), ""]


class FakeChatModel:
    """Replies ``"Plait fake reply: <last user message>"`` (a sentence, streamed by words)."""

    name = "fake"
    capabilities = ModelCapabilities()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        last_user = next((m.text for m in reversed(request.messages) if m.role == "user"), "")
        text = f"Plait fake reply: {last_user}".strip()
        prompt_tokens = sum(len(message.text.split()) for message in request.messages)
        chunks = word_chunks(text)
        for index, chunk in enumerate(chunks):
            final = index == len(chunks) - 1
            usage = Usage(prompt_tokens, len(text.split())) if final else None
            yield ChatChunk(chunk, final=final, usage=usage, finish_reason="stop" if final else None)


class ScriptedChatModel:
    name = "scripted"

    def __init__(
        self,
        script: Mapping[str, Any],
        fallback: FakeChatModel | None = None,
        *,
        capabilities: ModelCapabilities | None = None,
    ) -> None:
        self._script = dict(script)
        self._fallback = fallback
        self._calls: dict[str, int] = {}
        self.capabilities = capabilities or ModelCapabilities()
        self.requests: list[ChatRequest] = []

    def _entry(self, caller: str) -> Any:
        entry = self._script.get(caller)
        if isinstance(entry, list):
            if not entry:
                return None
            count = self._calls.get(caller, 0)
            self._calls[caller] = count + 1
            return entry[min(count, len(entry) - 1)]
        return entry

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.requests.append(request)
        entry = self._entry(request.caller or "")
        if entry is None:
            if self._fallback is None:
                raise ModelError(f"no scripted reply for node {request.caller!r}")
            async for reply in self._fallback.stream(request):
                yield reply
            return
        extra: dict[str, Any] = {}
        delay = 0.0
        reasoning = ""
        calls: tuple[ToolCall, ...] = ()
        if isinstance(entry, str):
            chunks = word_chunks(entry)
        elif isinstance(entry, Mapping) and "error" in entry:
            raise ModelError(str(entry["error"]))
        elif isinstance(entry, Mapping) and "chunks" in entry:
            chunks = [str(chunk) for chunk in entry["chunks"]]
            delay = float(entry.get("chunk_delay_s", 0))
        elif isinstance(entry, Mapping) and "outputs" in entry:
            outputs = dict(entry["outputs"])
            chunks = word_chunks(str(outputs.pop("text", "")))
            extra = outputs
        elif isinstance(entry, Mapping) and ("tool_calls" in entry or "reasoning" in entry):
            chunks = word_chunks(str(entry["text"])) if entry.get("text") else [""]
            reasoning = str(entry.get("reasoning") or "")
            calls = tuple(_tool_call(index, call) for index, call in enumerate(entry.get("tool_calls") or []))
        else:
            raise ModelError(f"scripted reply for node {request.caller!r} has an unknown form")
        if reasoning:
            for piece in word_chunks(reasoning)[:-1]:
                yield ChatChunk("", reasoning=piece)
        for index, chunk in enumerate(chunks):
            if delay:
                await asyncio.sleep(delay)
            final = index == len(chunks) - 1
            yield ChatChunk(
                chunk,
                final=final,
                usage=SCRIPTED_USAGE if final else None,
                finish_reason=("tool_calls" if calls else "stop") if final else None,
                extra_outputs=extra if final else {},
                tool_calls=calls if final else (),
            )


def _tool_call(index: int, call: Mapping[str, Any]) -> ToolCall:
    arguments = call.get("arguments", {})
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return ToolCall(str(call.get("id") or f"call_{index}"), str(call["name"]), text)


class FakeEmbeddingModel:
    """Deterministic embeddings for tests: hashed words (and character pairs of CJK text)
    in ``dimensions`` buckets, L2-normalised. Texts that share words are close; nothing is
    learned, so this is for exercising code paths, not for judging retrieval quality."""

    name = "fake-embedding"
    max_input_tokens = 8192

    def __init__(self, dimensions: int = 64) -> None:
        self.dimensions = dimensions

    async def embed(self, texts: Sequence[str], *, input_type: str = "document") -> Embeddings:
        vectors = [self._vector(text) for text in texts]
        return Embeddings(vectors, Usage(prompt_tokens=sum(len(_features(text)) for text in texts)))

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for feature in _features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(value * value for value in vector)) or 1.0
        return [value / norm for value in vector]


_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _features(text: str) -> list[str]:
    features: list[str] = []
    for word in _WORD.findall(text.lower()):
        if _CJK.search(word):
            features.extend(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        else:
            features.append(word)
    return features


def _fake_chat(
    _credentials: Mapping[str, Any], _model: str, _spec: ModelSpec | None, _http: HttpAccess
) -> FakeChatModel:
    return FakeChatModel()


def _fake_embedding(
    _credentials: Mapping[str, Any], _model: str, _spec: ModelSpec | None, _http: HttpAccess
) -> FakeEmbeddingModel:
    return FakeEmbeddingModel()


PROVIDERS = (
    ProviderSpec(
        id="fake",
        label="Plait fake (deterministic, for tests and demos)",
        model_types=("llm", "text-embedding"),
        models=(
            ModelSpec("fake", "llm", label="Fake chat model", pricing=ModelPricing()),
            ModelSpec(
                "fake-embedding", "text-embedding", label="Fake embeddings", dimensions=64, max_input_tokens=8192
            ),
        ),
        needs_credentials=False,
        build_chat=_fake_chat,
        build_embedding=_fake_embedding,
        description="Answers every prompt with a fixed sentence; embeddings from hashed words. No network.",
    ),
)
