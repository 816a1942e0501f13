"""OpenAI, and every server that speaks its Chat Completions and Embeddings APIs.

One adapter serves OpenAI, Azure OpenAI, DeepSeek, Qwen (DashScope's compatible mode),
vLLM, Ollama (``/v1``), LM Studio and llama.cpp's server, through the official ``openai``
SDK. Where they differ is data: an :class:`OpenAIEndpoint` (URL, key, headers, Azure's
API version, which name the token cap goes by) and the model's capabilities. The request
and reply mapping is :mod:`plait.providers.chat_completions`; the provider specs that build
models from credential forms close this module.

The SDK gets the HTTP client it is handed (the egress's, so every connection is vetted)
and never retries on its own: :class:`~plait.providers.retry.RetryPolicy` does, after its
errors have been translated into :mod:`plait.providers.errors`. Replies are always
streamed (``collect()`` makes a blocking call of a stream), unless the model's
capabilities say it cannot stream: then one blocking call yields one final chunk.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import openai

from plait.providers import credentials as forms
from plait.providers.base import (
    ChatChunk,
    ChatModel,
    ChatRequest,
    EmbeddingModel,
    Embeddings,
    ModelCapabilities,
    ToolCall,
    Usage,
)
from plait.providers.catalog import (
    ChatBuilder,
    CredentialField,
    EmbeddingBuilder,
    HttpAccess,
    ModelPricing,
    ModelSpec,
    ProviderSpec,
)
from plait.providers.chat_completions import (
    DONE,
    ToolCallParts,
    chat_body,
    finish_reason_of,
    reasoning_in,
    reasoning_of,
    sse_data,
)
from plait.providers.errors import ModelError, ModelTimeout, ModelUnavailable
from plait.providers.failures import error_detail, from_status, from_transport, hide, model_errors
from plait.providers.retry import RetryPolicy

OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    """Where and how to reach an OpenAI-compatible API.

    ``vendor`` names the server in error messages. ``api_key`` may be None for local
    servers that check none. ``azure_api_version`` makes it Azure OpenAI: ``base_url`` is
    then the resource endpoint and the model name is the deployment. ``max_tokens_name``
    is what the token cap is called (OpenAI's reasoning models take only
    ``max_completion_tokens``; many local servers know only ``max_tokens``).
    ``extra_parameters`` are vendor parameters passed through as they are (DashScope's
    ``enable_thinking``).
    """

    base_url: str = OPENAI_URL
    api_key: str | None = None
    organization: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    vendor: str = "OpenAI"
    azure_api_version: str | None = None
    max_tokens_name: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    extra_parameters: frozenset[str] = frozenset()

    def sdk(self, http_client: Any, deployment: str | None = None) -> openai.AsyncOpenAI:
        # A key is always passed, so the SDK never falls back to OPENAI_API_KEY from the
        # environment; local servers ignore the placeholder.
        key = self.api_key or "no-key"
        headers = dict(self.headers)
        client: openai.AsyncOpenAI
        if self.azure_api_version is not None:
            client = openai.AsyncAzureOpenAI(
                azure_endpoint=self.base_url,
                azure_deployment=deployment,
                api_version=self.azure_api_version,
                api_key=key,
                default_headers=headers,
                http_client=http_client,
                max_retries=0,
            )
        else:
            client = openai.AsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                organization=self.organization,
                default_headers=headers,
                http_client=http_client,
                max_retries=0,
            )
        # The SDK reads OPENAI_ORG_ID and OPENAI_PROJECT_ID when these are None: nothing of
        # the server's environment should ride along to an endpoint a user configured.
        client.organization = self.organization
        client.project = None
        return client


def _family(
    *, vision: bool = True, reasoning: bool = False, context: int | None = None, output: int | None = None
) -> ModelCapabilities:
    return ModelCapabilities(
        tool_calling=True,
        vision=vision,
        structured_output=True,
        reasoning=reasoning,
        context_window=context,
        max_output_tokens=output,
    )


_DATED = r"(-\d{4}-\d{2}-\d{2})?"
# Families by full name, dated snapshots included. Sizes only where OpenAI published them;
# gpt-5.2 and later share the family's abilities, their sizes are not claimed. Chat,
# audio, search and codex variants differ and are not matched. Unknown names get
# COMPATIBLE_DEFAULT.
_OPENAI_FAMILIES: tuple[tuple[re.Pattern[str], ModelCapabilities], ...] = tuple(
    (re.compile(f"(?:{pattern}){_DATED}"), capabilities)
    for pattern, capabilities in (
        (r"gpt-5(\.1)?(-mini|-nano)?", _family(reasoning=True, context=400_000, output=128_000)),
        (r"gpt-5\.\d+(-mini|-nano|-pro)?", _family(reasoning=True)),
        (r"gpt-4\.1(-mini|-nano)?", _family(context=1_047_576, output=32_768)),
        (r"gpt-4o(-mini)?", _family(context=128_000, output=16_384)),
        (r"o3-mini", _family(vision=False, reasoning=True, context=200_000, output=100_000)),
        (r"o1|o3|o4-mini", _family(reasoning=True, context=200_000, output=100_000)),
    )
)

COMPATIBLE_DEFAULT = ModelCapabilities(streaming=True, tool_calling=True)
"""What an unknown model on a compatible server is assumed to do: stream and call tools."""


def openai_capabilities(model: str) -> ModelCapabilities:
    """What an OpenAI model can do, known by its family; the compatible default otherwise."""
    for pattern, capabilities in _OPENAI_FAMILIES:
        if pattern.fullmatch(model):
            return capabilities
    return COMPATIBLE_DEFAULT


class OpenAIChatModel:
    """A chat model behind an OpenAI-compatible API. ``name`` is the model's name on the
    server (Azure: the deployment). Close it with :meth:`aclose`: it owns ``http_client``."""

    def __init__(
        self,
        name: str,
        *,
        endpoint: OpenAIEndpoint,
        http_client: Any,
        capabilities: ModelCapabilities | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.capabilities = capabilities or openai_capabilities(name)
        self._client = endpoint.sdk(http_client, deployment=name if endpoint.azure_api_version else None)
        self._retry = retry or RetryPolicy()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        body = chat_body(
            request,
            self.name,
            max_tokens_name=self.endpoint.max_tokens_name,
            extra_parameters=self.endpoint.extra_parameters,
        )
        attempt = self._streamed if self.capabilities.streaming else self._blocking
        async for chunk in self._retry.stream(lambda: attempt(body)):
            yield chunk

    async def aclose(self) -> None:
        await self._client.close()

    async def _streamed(self, body: dict[str, Any]) -> AsyncGenerator[ChatChunk, None]:
        """The SDK sends the request (auth, headers, error statuses); the event stream is
        read here, as plain JSON: building the SDK's typed chunk objects cost most of a
        millisecond per token, which every streamed reply would pay before its first byte
        reached a client."""
        calls = ToolCallParts()
        usage: Usage | None = None
        finish_reason: str | None = None
        with translated_errors(self.endpoint):
            async with self._client.chat.completions.with_streaming_response.create(
                **body, stream=True, stream_options={"include_usage": True}
            ) as response:
                async for line in response.iter_lines():
                    chunk = sse_data(line, self.endpoint.vendor)
                    if chunk is None:
                        continue
                    if chunk is DONE:
                        break
                    reported = chunk.get("usage")
                    if isinstance(reported, dict):
                        usage = Usage(reported.get("prompt_tokens") or 0, reported.get("completion_tokens") or 0)
                    for choice in chunk.get("choices") or ():
                        if choice.get("index", 0) != 0:
                            continue
                        delta = choice.get("delta") or {}
                        reasoning = reasoning_in(delta)
                        if reasoning:
                            yield ChatChunk("", reasoning=reasoning)
                        content = delta.get("content")
                        if content:
                            yield ChatChunk(content)
                        for fragment in delta.get("tool_calls") or ():
                            calls.add_dict(fragment)
                        finish_reason = choice.get("finish_reason") or finish_reason
        tool_calls = calls.assembled()
        # No usage (a server that ignores include_usage) is reported as zeros: counting
        # tokens is the caller's business, with the tokenizer it has.
        yield ChatChunk(
            "",
            final=True,
            usage=usage or Usage(),
            finish_reason=finish_reason_of(finish_reason, tool_calls),
            tool_calls=tool_calls,
        )

    async def _blocking(self, body: dict[str, Any]) -> AsyncGenerator[ChatChunk, None]:
        with translated_errors(self.endpoint):
            completion = await self._client.chat.completions.create(**body)
        if not completion.choices:
            raise ModelUnavailable(f"{self.endpoint.vendor} answered without a reply")
        choice = completion.choices[0]
        message = choice.message
        tool_calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments or "{}")
            for call in message.tool_calls or ()
            if getattr(call, "function", None) is not None
        )
        usage = completion.usage
        yield ChatChunk(
            message.content or "",
            final=True,
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage(),
            finish_reason=finish_reason_of(choice.finish_reason, tool_calls),
            reasoning=reasoning_of(message),
            tool_calls=tool_calls,
        )


class OpenAIEmbeddingModel:
    """An embedding model behind ``/embeddings``. Texts go in batches of at most
    ``max_batch_size``. ``dimensions`` is the vector size when known (0: learned from the
    first reply); ``request_dimensions`` sends it to the API, for models that shorten
    their vectors on request (OpenAI's text-embedding-3)."""

    def __init__(
        self,
        name: str,
        *,
        endpoint: OpenAIEndpoint,
        http_client: Any,
        dimensions: int | None = None,
        request_dimensions: bool = False,
        max_input_tokens: int = 8191,
        max_batch_size: int = 256,
        retry: RetryPolicy | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if request_dimensions and not dimensions:
            raise ValueError("request_dimensions needs the dimensions to request")
        self.name = name
        self.endpoint = endpoint
        self.dimensions = dimensions or 0
        self.max_input_tokens = max_input_tokens
        self.max_batch_size = max_batch_size
        self._request_dimensions = request_dimensions
        self._client = endpoint.sdk(http_client, deployment=name if endpoint.azure_api_version else None)
        self._retry = retry or RetryPolicy()

    async def embed(self, texts: Sequence[str], *, input_type: Literal["document", "query"] = "document") -> Embeddings:
        vectors: list[list[float]] = []
        usage = Usage()
        for start in range(0, len(texts), self.max_batch_size):
            batch = list(texts[start : start + self.max_batch_size])
            batch_vectors, batch_usage = await self._retry.call(functools.partial(self._embed_batch, batch))
            vectors += batch_vectors
            usage += batch_usage
        if vectors and not self.dimensions:
            self.dimensions = len(vectors[0])
        return Embeddings(vectors, usage)

    async def aclose(self) -> None:
        await self._client.close()

    async def _embed_batch(self, batch: list[str]) -> tuple[list[list[float]], Usage]:
        extra: dict[str, Any] = {"dimensions": self.dimensions} if self._request_dimensions else {}
        with translated_errors(self.endpoint):
            response = await self._client.embeddings.create(
                model=self.name, input=batch, encoding_format="float", **extra
            )
        if len(response.data) != len(batch):
            raise ModelUnavailable(
                f"{self.endpoint.vendor} returned {len(response.data)} embeddings for {len(batch)} texts"
            )
        ordered = sorted(response.data, key=lambda item: item.index)
        tokens = response.usage.prompt_tokens if response.usage is not None else 0
        return [list(item.embedding) for item in ordered], Usage(prompt_tokens=tokens or 0)


def translated_errors(endpoint: OpenAIEndpoint) -> contextlib.AbstractContextManager[None]:
    return model_errors(translate, vendor=endpoint.vendor, secret=endpoint.api_key)


def translate(error: Exception, *, vendor: str, secret: str | None) -> ModelError | None:
    """The model error for an ``openai`` SDK error, a transport error under it, or an
    egress error; None for anything else (a bug to surface, not to disguise)."""
    if isinstance(error, ModelError):
        return error
    if isinstance(error, openai.APIStatusError):
        body = error.body
        code = body.get("code") if isinstance(body, Mapping) else None
        return from_status(
            error.status_code,
            error_detail(body) or error.message,
            vendor=vendor,
            headers=error.response.headers,
            code=str(code) if code else None,
            secret=secret,
        )
    translated = from_transport(error, vendor=vendor, secret=secret)
    if translated is not None:
        return translated
    if isinstance(error, openai.APITimeoutError):
        return ModelTimeout(f"{vendor} did not answer in time")
    if isinstance(error, openai.APIConnectionError):
        return ModelUnavailable(f"the connection to {vendor} failed")
    if isinstance(error, openai.OpenAIError):
        return ModelError(hide(f"{vendor} call failed: {error}", secret))
    return None


# --- provider specs ----------------------------------------------------------------------

EndpointOf = Callable[[Mapping[str, Any]], OpenAIEndpoint]


def _usd(input_per_million: str, output_per_million: str = "0") -> ModelPricing:
    return ModelPricing(Decimal(input_per_million), Decimal(output_per_million))


def _chat_spec(name: str, pricing: ModelPricing | None = None, *, deprecated: bool = False) -> ModelSpec:
    return ModelSpec(name, "llm", capabilities=openai_capabilities(name), pricing=pricing, deprecated=deprecated)


# The current models, and older ones OpenAI has announced a shutdown date for (marked
# ``deprecated``; models already shut down are left out), as of the SDK this was written
# against. List prices in USD per million tokens only where OpenAI published them and we
# could check; None otherwise. Other models work by name, with ``openai_capabilities``.
OPENAI_MODELS = (
    _chat_spec("gpt-5.5"),
    _chat_spec("gpt-5.4"),
    _chat_spec("gpt-5.4-mini"),
    _chat_spec("gpt-5.2"),
    _chat_spec("gpt-5.1", _usd("1.25", "10"), deprecated=True),
    _chat_spec("gpt-5", _usd("1.25", "10"), deprecated=True),
    _chat_spec("gpt-5-mini", _usd("0.25", "2"), deprecated=True),
    _chat_spec("gpt-5-nano", _usd("0.05", "0.40"), deprecated=True),
    _chat_spec("gpt-4.1", _usd("2", "8"), deprecated=True),
    _chat_spec("gpt-4.1-mini", _usd("0.40", "1.60"), deprecated=True),
    _chat_spec("gpt-4o", _usd("2.50", "10"), deprecated=True),
    _chat_spec("gpt-4o-mini", _usd("0.15", "0.60"), deprecated=True),
    _chat_spec("o3", _usd("2", "8"), deprecated=True),
    ModelSpec("text-embedding-3-large", "text-embedding", pricing=_usd("0.13"), dimensions=3072, max_input_tokens=8191),
    ModelSpec("text-embedding-3-small", "text-embedding", pricing=_usd("0.02"), dimensions=1536, max_input_tokens=8191),
    ModelSpec("text-embedding-ada-002", "text-embedding", pricing=_usd("0.10"), dimensions=1536, max_input_tokens=8191),
)


def _chat_builder(endpoint_of: EndpointOf) -> ChatBuilder:
    def build(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> ChatModel:
        endpoint = endpoint_of(credentials)  # validated before a client exists to leak
        capabilities = spec.capabilities if spec is not None else openai_capabilities(model)
        return OpenAIChatModel(model, endpoint=endpoint, http_client=http.sdk_client(), capabilities=capabilities)

    return build


def _embedding_builder(endpoint_of: EndpointOf, *, max_batch_size: int) -> EmbeddingBuilder:
    def build(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> EmbeddingModel:
        endpoint = endpoint_of(credentials)
        return OpenAIEmbeddingModel(
            model,
            endpoint=endpoint,
            http_client=http.sdk_client(),
            dimensions=spec.dimensions if spec is not None else None,
            max_input_tokens=(spec.max_input_tokens if spec is not None else None) or 8191,
            max_batch_size=max_batch_size,
        )

    return build


def _openai_endpoint(credentials: Mapping[str, Any]) -> OpenAIEndpoint:
    base = forms.text(credentials, "openai_api_base")
    return OpenAIEndpoint(
        base_url=forms.with_suffix(base, "/v1") if base else OPENAI_URL,
        api_key=forms.required(credentials, "openai_api_key", provider="OpenAI"),
        organization=forms.text(credentials, "openai_organization"),
        vendor="OpenAI",
        max_tokens_name="max_completion_tokens",
    )


def _deepseek_endpoint(credentials: Mapping[str, Any]) -> OpenAIEndpoint:
    return OpenAIEndpoint(
        base_url=forms.text(credentials, "endpoint_url") or "https://api.deepseek.com",
        api_key=forms.required(credentials, "api_key", provider="DeepSeek"),
        vendor="DeepSeek",
    )


def _tongyi_endpoint(credentials: Mapping[str, Any]) -> OpenAIEndpoint:
    region = "dashscope-intl" if forms.flag(credentials, "use_international_endpoint") else "dashscope"
    return OpenAIEndpoint(
        base_url=f"https://{region}.aliyuncs.com/compatible-mode/v1",
        api_key=forms.required(credentials, "dashscope_api_key", provider="Tongyi (Qwen)"),
        vendor="Tongyi (DashScope)",
        extra_parameters=frozenset({"enable_thinking", "thinking_budget"}),
    )


_API_KEY = CredentialField("api_key", "API key", "secret", required=True)

OPENAI = ProviderSpec(
    id="openai",
    label="OpenAI",
    model_types=("llm", "text-embedding"),
    credential_fields=(
        CredentialField("openai_api_key", "API key", "secret", required=True),
        CredentialField("openai_organization", "Organization", help="Only for keys that belong to several"),
        CredentialField("openai_api_base", "API base", placeholder="https://api.openai.com", help="/v1 is added"),
    ),
    models=OPENAI_MODELS,
    build_chat=_chat_builder(_openai_endpoint),
    # OpenAI takes 2048 texts a request but at most 300k tokens in all: 256 chunks fit.
    build_embedding=_embedding_builder(_openai_endpoint, max_batch_size=256),
)

DEEPSEEK = ProviderSpec(
    id="deepseek",
    label="DeepSeek",
    model_types=("llm",),
    credential_fields=(
        _API_KEY,
        CredentialField("endpoint_url", "API endpoint", placeholder="https://api.deepseek.com"),
    ),
    models=(
        ModelSpec(
            "deepseek-chat",
            "llm",
            capabilities=ModelCapabilities(tool_calling=True, context_window=128_000, max_output_tokens=8_192),
        ),
        ModelSpec(
            "deepseek-reasoner",
            "llm",
            capabilities=ModelCapabilities(reasoning=True, context_window=128_000),
        ),
    ),
    build_chat=_chat_builder(_deepseek_endpoint),
)

TONGYI = ProviderSpec(
    id="tongyi",
    label="Tongyi Qianwen (Qwen, DashScope)",
    model_types=("llm", "text-embedding"),
    credential_fields=(
        CredentialField("dashscope_api_key", "DashScope API key", "secret", required=True),
        CredentialField(
            "use_international_endpoint",
            "International endpoint",
            "select",
            default="false",
            options=("false", "true"),
            help="dashscope-intl.aliyuncs.com instead of dashscope.aliyuncs.com",
        ),
    ),
    models=(
        ModelSpec("qwen-max", "llm", capabilities=ModelCapabilities(tool_calling=True)),
        ModelSpec("qwen-plus", "llm", capabilities=ModelCapabilities(tool_calling=True, reasoning=True)),
        ModelSpec("qwen-turbo", "llm", capabilities=ModelCapabilities(tool_calling=True, reasoning=True)),
        ModelSpec("qwen-vl-max", "llm", capabilities=ModelCapabilities(vision=True)),
        ModelSpec("text-embedding-v3", "text-embedding", dimensions=1024, max_input_tokens=8192),
    ),
    aliases=("qwen", "dashscope"),
    build_chat=_chat_builder(_tongyi_endpoint),
    # DashScope's compatible mode takes at most 10 texts per embedding request.
    build_embedding=_embedding_builder(_tongyi_endpoint, max_batch_size=10),
)


def _azure_endpoint(credentials: Mapping[str, Any]) -> OpenAIEndpoint:
    return OpenAIEndpoint(
        base_url=forms.required(credentials, "openai_api_base", provider="Azure OpenAI"),
        api_key=forms.required(credentials, "openai_api_key", provider="Azure OpenAI"),
        vendor="Azure OpenAI",
        azure_api_version=forms.text(credentials, "openai_api_version", AZURE_API_VERSION),
        max_tokens_name="max_completion_tokens",
    )


def _azure_chat(credentials: Mapping[str, Any], deployment: str, spec: ModelSpec | None, http: HttpAccess) -> ChatModel:
    endpoint = _azure_endpoint(credentials)
    base = forms.text(credentials, "base_model_name") or ""
    return OpenAIChatModel(
        deployment, endpoint=endpoint, http_client=http.sdk_client(), capabilities=openai_capabilities(base)
    )


def _azure_embedding(
    credentials: Mapping[str, Any], deployment: str, spec: ModelSpec | None, http: HttpAccess
) -> EmbeddingModel:
    endpoint = _azure_endpoint(credentials)
    base = next((m for m in OPENAI_MODELS if m.name == forms.text(credentials, "base_model_name")), None)
    return OpenAIEmbeddingModel(
        deployment,
        endpoint=endpoint,
        http_client=http.sdk_client(),
        dimensions=base.dimensions if base is not None else None,
        max_input_tokens=(base.max_input_tokens if base is not None else None) or 8191,
        max_batch_size=256,
    )


AZURE_API_VERSION = "2024-10-21"

AZURE_OPENAI = ProviderSpec(
    id="azure_openai",
    label="Azure OpenAI",
    model_types=("llm", "text-embedding"),
    custom_models=True,
    model_fields=(
        CredentialField(
            "openai_api_base", "Endpoint", required=True, placeholder="https://<resource>.openai.azure.com"
        ),
        CredentialField("openai_api_key", "API key", "secret", required=True),
        CredentialField("openai_api_version", "API version", default=AZURE_API_VERSION),
        CredentialField(
            "base_model_name",
            "Base model",
            "select",
            required=True,
            options=tuple(m.name for m in OPENAI_MODELS),
            help="The OpenAI model the deployment runs: it decides what the deployment can do",
        ),
    ),
    aliases=("azure",),
    build_chat=_azure_chat,
    build_embedding=_azure_embedding,
    description="Each model is a deployment: its name in Plait is the deployment name.",
)


# --- self-hosted and other OpenAI-compatible servers ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Form:
    """The field names of a custom model's form: Dify's openai_api_compatible names, or
    Dify's Ollama names for Ollama."""

    url: str = "endpoint_url"
    remote_name: str | None = "endpoint_model_name"
    max_tokens: str = "max_tokens_to_sample"
    tools: str = "function_calling_type"
    context: str = "context_size"
    vision: str = "vision_support"
    batch: str = "max_chunks"
    # Dify's openai_api_compatible asks with selects (support / no_support, tool_call /
    # function_call / no_call); its Ollama form with true / false.
    selects: bool = True


_COMPATIBLE_FORM = _Form()
_OLLAMA_FORM = _Form(
    url="base_url", remote_name=None, max_tokens="max_tokens", tools="function_call_support", selects=False
)


def _compatible_fields(form: _Form, default_url: str | None) -> tuple[CredentialField, ...]:
    url_help = "The URL the OpenAI API paths hang off (it usually ends in /v1)"
    fields = [
        CredentialField(form.url, "API endpoint URL", required=default_url is None, default=default_url, help=url_help),
        CredentialField("api_key", "API key", "secret", help="Empty for servers that check none"),
    ]
    if form.remote_name is not None:
        fields.append(CredentialField(form.remote_name, "Model name on the server", help="Default: the model's name"))
    fields += [
        CredentialField(form.context, "Context size (tokens)", "number", default="4096"),
        CredentialField(form.max_tokens, "Largest reply (tokens)", "number", default="4096", help="Chat models"),
        CredentialField(
            form.vision,
            "Vision",
            "select" if form.selects else "boolean",
            default="no_support" if form.selects else "false",
            options=("no_support", "support") if form.selects else (),
            help="Chat models: takes images",
        ),
        CredentialField(
            form.tools,
            "Function calling",
            "select" if form.selects else "boolean",
            default="tool_call" if form.selects else "true",
            options=("tool_call", "function_call", "no_call") if form.selects else (),
            help="Chat models: calls tools",
        ),
        CredentialField(form.batch, "Texts per request", "number", default="32", help="Embedding models"),
    ]
    return tuple(fields)


def _compatible_endpoint(
    credentials: Mapping[str, Any], form: _Form, default_url: str | None, label: str
) -> OpenAIEndpoint:
    if default_url is None:
        url = forms.required(credentials, form.url, provider=label)
    else:
        url = forms.text(credentials, form.url) or default_url
    if form is _OLLAMA_FORM:
        url = forms.with_suffix(url, "/v1")  # Dify's Ollama form takes the server's root URL
    return OpenAIEndpoint(base_url=url.rstrip("/"), api_key=forms.text(credentials, "api_key"), vendor=label)


def _tools_flag(credentials: Mapping[str, Any], name: str) -> bool:
    # Dify's openai_api_compatible says no_call / function_call / tool_call.
    value = forms.text(credentials, name)
    if value in ("function_call", "tool_call"):
        return True
    if value == "no_call":
        return False
    return forms.flag(credentials, name, default=True)


def compatible_provider(
    id: str, label: str, *, default_url: str | None, form: _Form = _COMPATIBLE_FORM, aliases: tuple[str, ...] = ()
) -> ProviderSpec:
    """A provider of custom models on an OpenAI-compatible server at ``default_url`` (or
    at a URL the user must give, when None)."""

    def chat(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> ChatModel:
        endpoint = _compatible_endpoint(credentials, form, default_url, label)
        remote = (forms.text(credentials, form.remote_name) if form.remote_name else None) or model
        capabilities = ModelCapabilities(
            tool_calling=_tools_flag(credentials, form.tools),
            vision=forms.flag(credentials, form.vision),
            context_window=forms.number(credentials, form.context),
            max_output_tokens=forms.number(credentials, form.max_tokens),
        )
        return OpenAIChatModel(remote, endpoint=endpoint, http_client=http.sdk_client(), capabilities=capabilities)

    def embedding(
        credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess
    ) -> EmbeddingModel:
        endpoint = _compatible_endpoint(credentials, form, default_url, label)
        remote = (forms.text(credentials, form.remote_name) if form.remote_name else None) or model
        max_input_tokens = forms.number(credentials, form.context, 8192) or 8192
        max_batch_size = forms.number(credentials, form.batch, 32) or 32
        return OpenAIEmbeddingModel(
            remote,
            endpoint=endpoint,
            http_client=http.sdk_client(),  # last: nothing can fail after it and leave it open
            max_input_tokens=max_input_tokens,
            max_batch_size=max_batch_size,
        )

    return ProviderSpec(
        id=id,
        label=label,
        model_types=("llm", "text-embedding"),
        custom_models=True,
        model_fields=_compatible_fields(form, default_url),
        aliases=aliases,
        build_chat=chat,
        build_embedding=embedding,
    )


PROVIDERS: tuple[ProviderSpec, ...] = (
    OPENAI,
    AZURE_OPENAI,
    DEEPSEEK,
    TONGYI,
    compatible_provider("openai_api_compatible", "OpenAI-API-compatible", default_url=None),
    compatible_provider("ollama", "Ollama", default_url="http://localhost:11434/v1", form=_OLLAMA_FORM),
    compatible_provider("vllm", "vLLM", default_url="http://localhost:8000/v1"),
    compatible_provider("lm_studio", "LM Studio", default_url="http://localhost:1234/v1", aliases=("lmstudio",)),
    compatible_provider("llama_cpp", "llama.cpp server", default_url="http://localhost:8080/v1", aliases=("llamacpp",)),
)
