"""The HTTP reranker against a scripted rerank server on 127.0.0.1, through the egress's
``request``, built from the Cohere, Jina and rerank-API-compatible specs."""

from __future__ import annotations

import pytest

from plait.egress import Egress
from plait.providers.base import RerankHit
from plait.providers.errors import (
    ModelAuthFailed,
    ModelBadRequest,
    ModelError,
    ModelNotConfigured,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from plait.providers.rerank_http import PROVIDERS, HttpReranker
from plait.providers.retry import NO_RETRY, RetryPolicy

from .conftest import SECRET_KEY, Waits
from .servers import Reply, ScriptedServer, rerank_results

SPECS = {spec.id: spec for spec in PROVIDERS}
DOCUMENTS = ["Paris is in France.", "Bananas are yellow.", "The Eiffel Tower is in Paris."]


def reranker(server: ScriptedServer, egress: Egress, retry: RetryPolicy, **options: object) -> HttpReranker:
    settings: dict[str, object] = {"url": server.url("/v1/rerank"), "api_key": SECRET_KEY, "retry": retry}
    return HttpReranker("bge-reranker-v2-m3", http=egress, **{**settings, **options})  # type: ignore[arg-type]


def test_the_specs_this_module_provides() -> None:
    assert set(SPECS) == {"cohere", "jina", "rerank_api_compatible"}
    for spec in PROVIDERS:
        assert spec.model_types == ("rerank",)
        assert spec.build_reranker is not None
        assert "api_key" in spec.secret_fields()
    assert SPECS["rerank_api_compatible"].custom_models


async def test_cohere_spec_ranks_through_v2_rerank(server: ScriptedServer, egress: Egress) -> None:
    spec = SPECS["cohere"]
    assert spec.build_reranker is not None
    model = spec.build_reranker({"api_key": SECRET_KEY, "base_url": server.url()}, "rerank-v3.5", None, egress)
    server.reply(Reply.json(rerank_results((2, 0.91), (0, 0.65))))
    assert await model.rerank("Where is the Eiffel Tower?", DOCUMENTS, top_n=2) == [
        RerankHit(2, 0.91),
        RerankHit(0, 0.65),
    ]
    request = server.requests[0]
    assert (request.method, request.path) == ("POST", "/v2/rerank")
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert request.json() == {
        "model": "rerank-v3.5",
        "query": "Where is the Eiffel Tower?",
        "documents": DOCUMENTS,
        "top_n": 2,
    }


async def test_cohere_v1_and_jina_endpoints(server: ScriptedServer, egress: Egress) -> None:
    cohere, jina = SPECS["cohere"].build_reranker, SPECS["jina"].build_reranker
    assert cohere is not None
    assert jina is not None
    server.reply(*[Reply.json(rerank_results((0, 0.5))) for _ in range(2)])
    await cohere({"api_key": "k", "base_url": server.url("/v1")}, "rerank-english-v3.0", None, egress).rerank(
        "q", ["d"]
    )
    await jina({"api_key": "k", "base_url": server.url("/v1/")}, "jina-reranker-m0", None, egress).rerank("q", ["d"])
    assert [request.path for request in server.requests] == ["/v1/rerank", "/v1/rerank"]


async def test_hits_come_best_first_and_at_most_top_n(
    server: ScriptedServer, egress: Egress, retry: RetryPolicy
) -> None:
    # Jina lists its results with the documents; a server may ignore top_n.
    reply = rerank_results((0, 0.2), (2, 0.9), (1, 0.01))
    reply["results"][0]["document"] = {"text": DOCUMENTS[0]}
    server.reply(Reply.json(reply), Reply.json(reply))
    model = reranker(server, egress, retry)
    assert await model.rerank("q", DOCUMENTS) == [RerankHit(2, 0.9), RerankHit(0, 0.2), RerankHit(1, 0.01)]
    assert await model.rerank("q", DOCUMENTS, top_n=1) == [RerankHit(2, 0.9)]
    assert "top_n" not in server.bodies[0]


async def test_a_bare_list_of_scores_is_read_too(server: ScriptedServer, egress: Egress, retry: RetryPolicy) -> None:
    server.reply(Reply.json([{"index": 1, "score": 0.7}, {"index": 0, "score": 0.8}]))
    assert await reranker(server, egress, retry).rerank("q", DOCUMENTS[:2]) == [RerankHit(0, 0.8), RerankHit(1, 0.7)]


async def test_no_documents_need_no_request(server: ScriptedServer, egress: Egress, retry: RetryPolicy) -> None:
    assert await reranker(server, egress, retry).rerank("q", []) == []
    assert server.requests == []
    with pytest.raises(ValueError, match="top_n"):
        await reranker(server, egress, retry).rerank("q", ["d"], top_n=0)


async def test_compatible_spec_uses_the_form_fields(server: ScriptedServer, egress: Egress) -> None:
    spec = SPECS["rerank_api_compatible"]
    assert spec.build_reranker is not None
    credentials = {"endpoint_url": server.url("/v1"), "api_key": "", "endpoint_model_name": "BAAI/bge-reranker-v2-m3"}
    model = spec.build_reranker(credentials, "my-reranker", None, egress)
    server.reply(Reply.json(rerank_results((0, 0.99))))
    assert await model.rerank("q", ["d"]) == [RerankHit(0, 0.99)]
    assert server.requests[0].path == "/v1/rerank"
    assert server.bodies[0]["model"] == "BAAI/bge-reranker-v2-m3"
    assert "authorization" not in server.requests[0].headers
    with pytest.raises(ModelNotConfigured, match="endpoint_url"):
        spec.build_reranker({"api_key": "k"}, "m", None, egress)
    with pytest.raises(ModelNotConfigured, match="api_key"):
        SPECS["cohere"].build_reranker({}, "rerank-v3.5", None, egress)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply.json(rerank_results((3, 0.5))), "index 3"),
        (Reply.json(rerank_results((0, 0.5), (0, 0.4))), "index 0"),
        (Reply.json({"results": [{"index": 0}]}), "malformed"),
        (Reply.json({"results": [{"index": 0, "relevance_score": "high"}]}), "malformed"),
        (Reply.json({"data": []}), "without rerank results"),
        (Reply(200, b"<html>ok</html>"), "without rerank results"),
    ],
)
async def test_malformed_replies_are_errors(
    server: ScriptedServer, egress: Egress, reply: Reply, expected: str
) -> None:
    server.reply(reply)
    with pytest.raises(ModelUnavailable, match=expected):
        await reranker(server, egress, NO_RETRY).rerank("q", ["a", "b"])


async def test_a_rate_limit_is_retried_after_retry_after(
    server: ScriptedServer, egress: Egress, retry: RetryPolicy, waits: Waits
) -> None:
    server.reply(
        Reply.json(
            {"message": "You are using a Trial key, limited to 10 API calls / minute."}, 429, {"Retry-After": "6"}
        ),
        Reply.json(rerank_results((0, 0.5))),
    )
    assert await reranker(server, egress, retry).rerank("q", ["d"]) == [RerankHit(0, 0.5)]
    assert waits.seconds == [6.0]


async def test_error_statuses(server: ScriptedServer, egress: Egress, retry: RetryPolicy, waits: Waits) -> None:
    model = reranker(server, egress, retry)
    server.reply(Reply.json({"message": "invalid api token"}, 401))
    with pytest.raises(ModelAuthFailed, match="invalid api token"):
        await model.rerank("q", ["d"])
    server.reply(Reply.json({"detail": [{"loc": ["body", "query"], "msg": "field required"}]}, 422))
    with pytest.raises(ModelBadRequest, match="field required"):
        await model.rerank("q", ["d"])
    server.reply(Reply(500, b"Internal Server Error"), Reply.json(rerank_results((0, 0.3))))
    assert await model.rerank("q", ["d"]) == [RerankHit(0, 0.3)]
    server.reply(*[Reply.json({"message": "busy"}, 503) for _ in range(3)])
    with pytest.raises(ModelUnavailable, match="busy"):
        await model.rerank("q", ["d"])
    server.reply(*[Reply.json({"message": "slow down"}, 429) for _ in range(3)])
    with pytest.raises(ModelRateLimited):
        await model.rerank("q", ["d"])
    assert len(server.requests) == 2 + 2 + 3 + 3


async def test_a_slow_server_is_a_timeout(server: ScriptedServer, egress: Egress) -> None:
    server.reply(Reply(delay=2))
    with pytest.raises(ModelTimeout):
        await reranker(server, egress, NO_RETRY, timeout=0.2).rerank("q", ["d"])


async def test_egress_refusing_a_loopback_address_names_the_settings(
    server: ScriptedServer, strict_egress: Egress
) -> None:
    with pytest.raises(ModelBadRequest) as raised:
        await reranker(server, strict_egress, NO_RETRY, vendor="Xinference").rerank("q", ["d"])
    assert "Xinference endpoint is not allowed" in str(raised.value)
    assert "PLAIT_EGRESS_ALLOWED_NETWORKS" in str(raised.value)
    assert server.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply.json({"message": f"invalid api token {SECRET_KEY}"}, 401),
        Reply.json({"detail": f"bad request from {SECRET_KEY}"}, 400),
        Reply(500, f"crash {SECRET_KEY}".encode()),
    ],
)
async def test_the_api_key_never_appears_in_an_error(server: ScriptedServer, egress: Egress, reply: Reply) -> None:
    server.reply(reply)
    with pytest.raises(ModelError) as raised:
        await reranker(server, egress, NO_RETRY).rerank("q", ["d"])
    assert SECRET_KEY not in str(raised.value)
