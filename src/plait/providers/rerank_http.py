"""Rerankers behind the common HTTP rerank API: Cohere (``/v2/rerank``, ``/v1/rerank``),
Jina (``/v1/rerank``), and the servers that copied its shape (vLLM, Xinference, LocalAI,
Infinity...).

One request, ``POST {model, query, documents, top_n}`` with a bearer key; one reply,
``{"results": [{"index", "relevance_score"}]}`` (a bare list of ``{"index", "score"}``,
as TEI-style servers answer, is read too). No SDK: the request goes through the HTTP
client handed in, which is the egress in Plait (:class:`HttpClient` is its shape).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from plait.errors import PlaitError
from plait.providers import credentials as forms
from plait.providers.base import Reranker, RerankHit
from plait.providers.catalog import CredentialField, HttpAccess, ModelSpec, ProviderSpec
from plait.providers.errors import ModelUnavailable
from plait.providers.failures import error_detail, from_status, from_transport
from plait.providers.retry import RetryPolicy

DEFAULT_TIMEOUT = 60.0


class HttpReply(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HttpClient(Protocol):
    """One whole request and its reply: :meth:`plait.egress.Egress.request` has this shape."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the egress's deadline for the whole call)
    ) -> HttpReply: ...


class HttpReranker:
    """A reranker at ``url`` (the full endpoint, ``.../rerank``). ``vendor`` names it in
    error messages."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        http: HttpClient,
        api_key: str | None = None,
        vendor: str = "the rerank server",
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.vendor = vendor
        self._http = http
        self._api_key = api_key
        self._headers = {**(headers or {}), **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
        self._timeout = timeout
        self._retry = retry or RetryPolicy()

    async def rerank(self, query: str, documents: Sequence[str], *, top_n: int | None = None) -> list[RerankHit]:
        """The documents' indexes and scores, most relevant first (the ``top_n`` best)."""
        if not documents:
            return []
        if top_n is not None and top_n < 1:
            raise ValueError("top_n must be at least 1")
        body: dict[str, Any] = {"model": self.name, "query": query, "documents": list(documents)}
        if top_n is not None:
            body["top_n"] = top_n
        payload = await self._retry.call(functools.partial(self._post, body))
        return self._hits(payload, len(documents), top_n)

    async def _post(self, body: dict[str, Any]) -> Any:
        try:
            reply = await self._http.request("POST", self.url, headers=self._headers, json=body, timeout=self._timeout)
        except PlaitError as error:
            translated = from_transport(error, vendor=self.vendor, secret=self._api_key)
            if translated is None:
                raise
            raise translated from error
        payload = _json(reply.content)
        if reply.status_code >= 400:
            detail = error_detail(payload if payload is not None else reply.content.decode("utf-8", "replace"))
            raise from_status(
                reply.status_code, detail, vendor=self.vendor, headers=reply.headers, secret=self._api_key
            )
        return payload

    def _hits(self, payload: Any, count: int, top_n: int | None) -> list[RerankHit]:
        items = payload.get("results") if isinstance(payload, Mapping) else payload
        if not isinstance(items, list):
            raise ModelUnavailable(f"{self.vendor} answered without rerank results")
        hits: dict[int, RerankHit] = {}
        try:
            for item in items:
                index = int(item["index"])
                score = float(item["relevance_score"] if "relevance_score" in item else item["score"])
                if not 0 <= index < count or index in hits:
                    raise ValueError(f"index {index}")
                hits[index] = RerankHit(index, score)
        except (KeyError, TypeError, ValueError) as error:
            raise ModelUnavailable(f"{self.vendor} answered a malformed rerank result ({error})") from None
        ranked = sorted(hits.values(), key=lambda hit: hit.score, reverse=True)
        return ranked[:top_n] if top_n is not None else ranked


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


# --- provider specs ------------------------------------------------------------------------


def _endpoint(base: str, default_path: str) -> str:
    """``base`` as given when it names the endpoint or an API version; else with the path."""
    base = base.rstrip("/")
    if base.endswith("/rerank"):
        return base
    if base.rsplit("/", 1)[-1] in ("v1", "v2"):
        return base + "/rerank"
    return base + default_path


def _cohere(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> Reranker:
    base = forms.text(credentials, "base_url") or "https://api.cohere.com"
    api_key = forms.required(credentials, "api_key", provider="Cohere")
    return HttpReranker(model, url=_endpoint(base, "/v2/rerank"), http=http, api_key=api_key, vendor="Cohere")


def _jina(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> Reranker:
    base = forms.text(credentials, "base_url") or "https://api.jina.ai/v1"
    api_key = forms.required(credentials, "api_key", provider="Jina")
    return HttpReranker(model, url=_endpoint(base, "/v1/rerank"), http=http, api_key=api_key, vendor="Jina")


def _compatible(credentials: Mapping[str, Any], model: str, spec: ModelSpec | None, http: HttpAccess) -> Reranker:
    base = forms.required(credentials, "endpoint_url", provider="the rerank-API-compatible provider")
    return HttpReranker(
        forms.text(credentials, "endpoint_model_name") or model,
        url=_endpoint(base, "/rerank"),
        http=http,
        api_key=forms.text(credentials, "api_key"),
        vendor="the rerank server",
    )


def _rerank_model(name: str, max_input_tokens: int | None = None) -> ModelSpec:
    return ModelSpec(name, "rerank", max_input_tokens=max_input_tokens)


_KEY = CredentialField("api_key", "API key", "secret", required=True)

# Prices are left out: both vendors bill reranking by search or by token tiers that the
# per-token ModelPricing does not express.
COHERE = ProviderSpec(
    id="cohere",
    label="Cohere",
    model_types=("rerank",),
    credential_fields=(_KEY, CredentialField("base_url", "API base URL", placeholder="https://api.cohere.com")),
    models=(
        _rerank_model("rerank-v3.5", 4096),
        _rerank_model("rerank-english-v3.0", 4096),
        _rerank_model("rerank-multilingual-v3.0", 4096),
    ),
    build_reranker=_cohere,
)

JINA = ProviderSpec(
    id="jina",
    label="Jina AI",
    model_types=("rerank",),
    credential_fields=(_KEY, CredentialField("base_url", "API base URL", placeholder="https://api.jina.ai/v1")),
    models=(
        _rerank_model("jina-reranker-v2-base-multilingual", 1024),
        _rerank_model("jina-reranker-m0", 10240),
    ),
    build_reranker=_jina,
)

RERANK_API_COMPATIBLE = ProviderSpec(
    id="rerank_api_compatible",
    label="Rerank-API-compatible (vLLM, Xinference, ...)",
    model_types=("rerank",),
    custom_models=True,
    model_fields=(
        CredentialField(
            "endpoint_url",
            "API endpoint URL",
            required=True,
            placeholder="http://localhost:8000/v1",
            help="The rerank endpoint, or the URL it hangs off (/rerank is added)",
        ),
        CredentialField("api_key", "API key", "secret", help="Empty for servers that check none"),
        CredentialField("endpoint_model_name", "Model name on the server", help="Default: the model's name"),
        CredentialField("context_size", "Context size (tokens)", "number", default="512"),
    ),
    build_reranker=_compatible,
)

PROVIDERS: tuple[ProviderSpec, ...] = (COHERE, JINA, RERANK_API_COMPATIBLE)
