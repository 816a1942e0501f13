"""The ``local`` provider: Plait's offline default models, needing no key and no network.

* ``smollm2-135m-instruct``: SmolLM2-135M-Instruct run by llama.cpp
  (:mod:`plait.providers.local_chat`);
* ``all-minilm-l6-v2``: all-MiniLM-L6-v2, int8 ONNX (:mod:`plait.providers.local_embedding`).

There is no credential form. The app passes its local-model settings as this provider's
credentials, under the keys ``model_path``, ``context_size``, ``threads`` (chat) and
``embedding_threads``; a key that is absent (or empty) means the default. Building a model
is cheap: the loaded model files are process-wide, one per (path, context, threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plait.providers.base import ModelCapabilities
from plait.providers.catalog import HttpAccess, ModelPricing, ModelSpec, ProviderSpec
from plait.providers.errors import ModelNotConfigured, ModelNotSupported
from plait.providers.local_chat import LocalChatModel, LocalChatSettings
from plait.providers.local_embedding import (
    MINILM_DIMENSIONS,
    MINILM_MAX_TOKENS,
    LocalEmbeddingModel,
    LocalEmbeddingSettings,
)

CHAT_MODEL = "smollm2-135m-instruct"
EMBEDDING_MODEL = "all-minilm-l6-v2"
CHAT_CONTEXT = 2048


def chat_settings(credentials: Mapping[str, Any]) -> LocalChatSettings:
    values: dict[str, Any] = {}
    if (path := _text(credentials, "model_path")) is not None:
        values["model_path"] = Path(path)
    if (context := _whole(credentials, "context_size")) is not None:
        values["context_size"] = context
    if (threads := _whole(credentials, "threads")) is not None:
        values["threads"] = threads
    try:
        return LocalChatSettings(**values)
    except ValueError as error:
        raise ModelNotConfigured(f"local provider: {error}") from None


def embedding_settings(credentials: Mapping[str, Any]) -> LocalEmbeddingSettings:
    values: dict[str, Any] = {}
    if (threads := _whole(credentials, "embedding_threads")) is not None:
        values["threads"] = threads
    try:
        return LocalEmbeddingSettings(**values)
    except ValueError as error:
        raise ModelNotConfigured(f"local provider: {error}") from None


def _text(credentials: Mapping[str, Any], key: str) -> str | None:
    value = credentials.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise ModelNotConfigured(f"local provider: {key} must be a path, got {value!r}")
    return str(value)


def _whole(credentials: Mapping[str, Any], key: str) -> int | None:
    # Credentials arrive as form text or as the settings' integers.
    value = credentials.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ModelNotConfigured(f"local provider: {key} must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ModelNotConfigured(f"local provider: {key} must be a whole number, got {value!r}") from None


def build_chat(
    credentials: Mapping[str, Any], model_name: str, spec: ModelSpec | None, http: HttpAccess
) -> LocalChatModel:
    if model_name != CHAT_MODEL:
        raise ModelNotSupported(f"the local provider has no chat model {model_name!r}; it has {CHAT_MODEL!r}")
    return LocalChatModel(chat_settings(credentials), name=model_name)


def build_embedding(
    credentials: Mapping[str, Any], model_name: str, spec: ModelSpec | None, http: HttpAccess
) -> LocalEmbeddingModel:
    if model_name != EMBEDDING_MODEL:
        raise ModelNotSupported(f"the local provider has no embedding model {model_name!r}; it has {EMBEDDING_MODEL!r}")
    return LocalEmbeddingModel(embedding_settings(credentials), name=model_name)


PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        id="local",
        label="Plait local (offline)",
        model_types=("llm", "text-embedding"),
        models=(
            ModelSpec(
                name=CHAT_MODEL,
                model_type="llm",
                label="SmolLM2 135M Instruct",
                capabilities=ModelCapabilities(
                    streaming=True,
                    tool_calling=False,
                    vision=False,
                    structured_output=True,
                    context_window=CHAT_CONTEXT,
                    max_output_tokens=CHAT_CONTEXT,
                ),
                pricing=ModelPricing(),
            ),
            ModelSpec(
                name=EMBEDDING_MODEL,
                model_type="text-embedding",
                label="all-MiniLM-L6-v2 (int8)",
                capabilities=ModelCapabilities(streaming=False, context_window=MINILM_MAX_TOKENS),
                pricing=ModelPricing(),
                dimensions=MINILM_DIMENSIONS,
                max_input_tokens=MINILM_MAX_TOKENS,
            ),
        ),
        needs_credentials=False,
        build_chat=build_chat,
        build_embedding=build_embedding,
        description="Small models that run inside Plait, with no network and no keys: for trying Plait out, "
        "tests and demos. Answers are fluent but not reliable; configure a provider for real work.",
    ),
)
