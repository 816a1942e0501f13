"""The ``local`` provider's spec: its models as data, and builders that take the
local-model settings as credentials and share one loaded model per process."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from plait.errors import ConfigurationError
from plait.providers.base import ChatModel, EmbeddingModel, collect
from plait.providers.errors import ModelNotConfigured, ModelNotSupported
from plait.providers.local import PROVIDERS, build_chat, build_embedding, chat_settings, embedding_settings
from plait.providers.local_chat import LocalChatSettings, default_threads
from plait.settings import LocalModelSettings, load_settings

from .test_local_chat import ask, needs_model
from .test_local_embedding import MISSING as EMBEDDING_MISSING

# The local models never reach the network: their builders ignore the HTTP access.
NO_HTTP = None


def test_the_spec_describes_both_models() -> None:
    (spec,) = PROVIDERS
    assert (spec.id, spec.label, spec.needs_credentials) == ("local", "Plait local (offline)", False)
    chat = spec.model("smollm2-135m-instruct", "llm")
    embedding = spec.model("all-minilm-l6-v2", "text-embedding")
    assert chat is not None
    assert embedding is not None
    assert chat.capabilities.streaming
    assert chat.capabilities.context_window == 2048
    assert not chat.capabilities.tool_calling
    assert not chat.capabilities.vision
    assert (embedding.dimensions, embedding.max_input_tokens) == (384, 256)
    for model in (chat, embedding):
        assert model.pricing is not None
        assert (model.pricing.input, model.pricing.output) == (Decimal(0), Decimal(0))
    assert spec.build_chat is build_chat
    assert spec.build_embedding is build_embedding


def test_absent_credentials_mean_the_defaults() -> None:
    assert chat_settings({}) == LocalChatSettings()
    assert chat_settings({"model_path": "", "context_size": None}) == LocalChatSettings()
    assert embedding_settings({}).threads == default_threads()
    assert chat_settings({"model_path": "/models/x.gguf", "context_size": "4096", "threads": 3}) == LocalChatSettings(
        model_path=Path("/models/x.gguf"), context_size=4096, threads=3
    )
    assert embedding_settings({"embedding_threads": "1"}).threads == 1


@pytest.mark.parametrize(
    "credentials",
    [{"context_size": "big"}, {"context_size": 10}, {"threads": 0}, {"threads": True}, {"model_path": 5}],
)
def test_bad_credentials_are_refused_with_the_key(credentials: dict[str, object]) -> None:
    (key,) = credentials
    with pytest.raises(ModelNotConfigured, match=key):
        build_chat(credentials, "smollm2-135m-instruct", None, NO_HTTP)  # type: ignore[arg-type]
    with pytest.raises(ModelNotConfigured, match="embedding_threads"):
        build_embedding({"embedding_threads": "x"}, "all-minilm-l6-v2", None, NO_HTTP)  # type: ignore[arg-type]


def test_unknown_models_are_refused() -> None:
    with pytest.raises(ModelNotSupported, match="no chat model 'gpt-4o'"):
        build_chat({}, "gpt-4o", None, NO_HTTP)  # type: ignore[arg-type]
    with pytest.raises(ModelNotSupported, match="no embedding model 'bge-m3'"):
        build_embedding({}, "bge-m3", None, NO_HTTP)  # type: ignore[arg-type]


def test_the_settings_become_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LocalModelSettings().provider_credentials() == {"context_size": 2048}
    monkeypatch.setenv("PLAIT_LOCAL_CHAT_MODEL_PATH", "/models/other.gguf")
    monkeypatch.setenv("PLAIT_LOCAL_CHAT_CONTEXT", "4096")
    monkeypatch.setenv("PLAIT_LOCAL_CHAT_THREADS", "2")
    monkeypatch.setenv("PLAIT_LOCAL_EMBEDDING_THREADS", "1")
    credentials = load_settings().local_models.provider_credentials()
    assert credentials == {
        "model_path": "/models/other.gguf",
        "context_size": 4096,
        "threads": 2,
        "embedding_threads": 1,
    }
    assert chat_settings(credentials) == LocalChatSettings(
        model_path=Path("/models/other.gguf"), context_size=4096, threads=2
    )
    assert embedding_settings(credentials).threads == 1


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_LOCAL_CHAT_CONTEXT", "12")
    with pytest.raises(ConfigurationError, match="PLAIT_LOCAL_CHAT_CONTEXT"):
        load_settings()


@needs_model
async def test_every_built_chat_model_shares_one_loaded_file() -> None:
    first = build_chat({}, "smollm2-135m-instruct", None, NO_HTTP)  # type: ignore[arg-type]
    second = build_chat(
        {"context_size": "2048", "threads": str(default_threads())},
        "smollm2-135m-instruct",
        None,
        NO_HTTP,  # type: ignore[arg-type]
    )
    assert isinstance(first, ChatModel)
    assert await first.runtime() is await second.runtime()
    assert (await collect(second.stream(ask("Say hello.", max_tokens=8)))).text.strip()


@pytest.mark.skipif(EMBEDDING_MISSING is not None, reason=EMBEDDING_MISSING or "")
async def test_the_built_embedding_model_embeds() -> None:
    model = build_embedding({"embedding_threads": 1}, "all-minilm-l6-v2", None, NO_HTTP)  # type: ignore[arg-type]
    assert isinstance(model, EmbeddingModel)
    result = await model.embed(["offline embeddings"])
    assert len(result.vectors[0]) == 384
