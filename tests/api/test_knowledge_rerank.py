"""Reranking end to end: a workspace's Jina credentials (saved through the console) point at
a rerank server on 127.0.0.1 that scores documents by their content, and hit testing and a
chat app's dataset configs rerank hybrid search results with it. The score threshold
applies to the rerank scores, after reranking (Dify applied it to the fused scores before
its fix for issue #35233): a passage the searches rank low but the rerank model rates high
is kept, and one the searches rank high but the model rates low is dropped.

The searches run for real (fake embeddings, the embedded index); only the rerank model's
content is faked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait

from ..conftest import StartPlait
from ..providers.servers import Recorded, Reply, ScriptedServer, rerank_results
from .knowledge import KnowledgeKey, add_text, create_dataset, knowledge_key, wait_indexed
from .test_knowledge_apps import RULE, with_datasets
from .test_model_providers import PROVIDERS, console
from .test_service_simple_apps import CHAT_APP
from .test_service_workflows import publish

JINA = "langgenius/jina/jina"
RERANKER = "jina-reranker-v2-base-multilingual"
QUERY = "solar panel maintenance"
# What each passage says, and what the rerank model thinks of it for QUERY (the model's
# content, looked up by a phrase of the passage).
CHECKLIST = "Solar panel maintenance checklist: solar panel maintenance crews log solar panel maintenance."
RINSE = "Rinse the photovoltaic modules with soft water twice a year so they keep their output."
WIRING = "Solar panel maintenance includes checking the wiring of each solar panel."
PARKING = "Parking spaces are assigned by the facilities team."
RERANK_SCORES = {"checklist": 0.1, "photovoltaic": 0.92, "wiring": 0.6, "Parking": 0.02}
THRESHOLD = 0.5


class ScoringScript:
    """The rerank server's replies: the documents of the request just received, scored by
    :data:`RERANK_SCORES`, best first (as Jina answers)."""

    def __init__(self, requests: list[Recorded]) -> None:
        self.requests = requests

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> Reply:
        documents = self.requests[-1].json()["documents"]
        scored = [(index, score_of(document)) for index, document in enumerate(documents)]
        return Reply.json(rerank_results(*sorted(scored, key=lambda item: -item[1])))


def score_of(document: str) -> float:
    return next((score for phrase, score in RERANK_SCORES.items() if phrase in document), 0.0)


@pytest.fixture
async def rerank_server() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    server.script = ScoringScript(server.requests)  # type: ignore[assignment]
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def workspace(start_plait: StartPlait, rerank_server: ScriptedServer) -> tuple[Plait, httpx.AsyncClient]:
    """A Plait whose workspace has Jina credentials for the rerank server (chat and
    embeddings stay on the fake override)."""
    plait, http, owner = await console(start_plait, PLAIT_MODEL_OVERRIDE="fake")
    saved = await http.post(
        f"{PROVIDERS}/{JINA}/credentials",
        headers=owner,
        json={"credentials": {"api_key": "jina-key-0123456789", "base_url": rerank_server.url("/v1")}},
    )
    assert saved.status_code == 200, saved.text
    return plait, http


@pytest.fixture
async def solar(workspace: tuple[Plait, httpx.AsyncClient]) -> tuple[KnowledgeKey, str]:
    plait, http = workspace
    key = await knowledge_key(plait)
    dataset_id = await create_dataset(http, key, "Solar")
    text = "\n\n".join((CHECKLIST, RINSE, WIRING, PARKING))
    created = await add_text(http, key, dataset_id, "Solar care", text, process_rule=RULE)
    await wait_indexed(http, key, dataset_id, created["batch"])
    return key, dataset_id


def hybrid(**overrides: Any) -> dict[str, Any]:
    return {
        "search_method": "hybrid_search",
        "reranking_enable": False,
        "reranking_mode": "weighted_score",
        "weights": {
            "weight_type": "customized",
            "vector_setting": {"vector_weight": 0.7},
            "keyword_setting": {"keyword_weight": 0.3},
        },
        "top_k": 4,
        "score_threshold_enabled": False,
        **overrides,
    }


RERANKED = {
    "reranking_enable": True,
    "reranking_mode": "reranking_model",
    "reranking_model": {"reranking_provider_name": JINA, "reranking_model_name": RERANKER},
}


async def scores(
    http: httpx.AsyncClient, key: KnowledgeKey, dataset_id: str, retrieval_model: dict[str, Any]
) -> dict[str, float]:
    """Hit testing's records, as passage -> score, in the order returned (dicts keep it)."""
    response = await http.post(
        f"/v1/datasets/{dataset_id}/retrieve",
        headers=key.auth,
        json={"query": QUERY, "retrieval_model": retrieval_model},
    )
    assert response.status_code == 200, response.text
    return {record["segment"]["content"]: record["score"] for record in response.json()["records"]}


async def test_the_threshold_applies_to_rerank_scores(
    workspace: tuple[Plait, httpx.AsyncClient], solar: tuple[KnowledgeKey, str], rerank_server: ScriptedServer
) -> None:
    _, http = workspace
    key, dataset_id = solar
    fused = await scores(http, key, dataset_id, hybrid())
    # The premise: the searches rank the checklist first and the rinse advice below the
    # threshold (it shares no word with the query).
    assert next(iter(fused)) == CHECKLIST
    assert fused[CHECKLIST] >= THRESHOLD > fused.get(RINSE, 0.0)

    reranked = await scores(
        http, key, dataset_id, hybrid(**RERANKED, score_threshold_enabled=True, score_threshold=THRESHOLD)
    )
    assert reranked == {RINSE: 0.92, WIRING: 0.6}

    sent = rerank_server.requests[-1]
    assert sent.path == "/v1/rerank"
    assert sent.headers["authorization"] == "Bearer jina-key-0123456789"
    body = sent.json()
    assert (body["model"], body["query"]) == (RERANKER, QUERY)
    assert set(body["documents"]) >= {CHECKLIST, RINSE, WIRING}

    # Without a threshold every candidate comes back, in the rerank model's order.
    unfiltered = await scores(http, key, dataset_id, hybrid(**RERANKED))
    assert list(unfiltered)[:4] == [RINSE, WIRING, CHECKLIST, PARKING]
    assert list(unfiltered.values())[:4] == [0.92, 0.6, 0.1, 0.02]


async def test_a_chat_app_reranks_its_dataset_passages(
    workspace: tuple[Plait, httpx.AsyncClient], solar: tuple[KnowledgeKey, str]
) -> None:
    plait, http = workspace
    key, dataset_id = solar
    app = with_datasets(
        CHAT_APP,
        dataset_id,
        top_k=3,
        reranking_enable=True,
        reranking_mode="reranking_model",
        reranking_model={"reranking_provider_name": JINA, "reranking_model_name": RERANKER},
        score_threshold_enabled=True,
        score_threshold=THRESHOLD,
    )
    chat = await publish(plait, app, key.workspace_id)
    reply = await http.post(
        "/v1/chat-messages",
        headers=chat.auth,
        json={"query": QUERY, "inputs": {"name": "Ada"}, "user": "u", "auto_generate_name": False},
    )
    assert reply.status_code == 200, reply.text
    resources = reply.json()["metadata"]["retriever_resources"]
    assert [(r["content"], r["score"], r["position"]) for r in resources] == [(RINSE, 0.92, 1), (WIRING, 0.6, 2)]
