"""Knowledge in apps: a chat app's dataset configs and a workflow's knowledge-retrieval node
use the same retrieval as the Knowledge API; the passages reach the LLM's prompt as its
context, and answers carry them as ``retriever_resources`` (blocking, streaming, and in the
message history)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from plait.app.bootstrap import Plait
from plait.storage.db.tables import NodeExecution

from .knowledge import KnowledgeKey, add_text, create_dataset, knowledge_key, wait_indexed
from .test_service_simple_apps import CHAT_APP, COMPLETION_APP
from .test_service_workflows import Published, publish

HANDBOOK = (
    "Expense reports are due within thirty days of travel.\n\n"
    "The office closes at six in the evening on Fridays.\n\n"
    "Security badges must be worn visibly at all times."
)
RULE = {"mode": "custom", "rules": {"segmentation": {"separator": "\\n\\n", "max_tokens": 200, "chunk_overlap": 0}}}
FULL_TEXT = {
    "search_method": "full_text_search",
    "reranking_enable": False,
    "top_k": 2,
    "score_threshold_enabled": False,
}


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(frame[6:]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]


@pytest.fixture
async def handbook(client: httpx.AsyncClient, plait: Plait) -> tuple[KnowledgeKey, str]:
    key = await knowledge_key(plait)
    dataset_id = await create_dataset(client, key, retrieval_model=FULL_TEXT)
    created = await add_text(client, key, dataset_id, "Handbook", HANDBOOK, process_rule=RULE)
    await wait_indexed(client, key, dataset_id, created["batch"])
    return key, dataset_id


def with_datasets(document: dict[str, Any], dataset_id: str, **settings: Any) -> dict[str, Any]:
    app = copy.deepcopy(document)
    app["model_config"]["dataset_configs"] = {
        "retrieval_model": "multiple",
        "top_k": 2,
        "reranking_enable": False,
        "datasets": {"datasets": [{"dataset": {"enabled": True, "id": dataset_id}}]},
        **settings,
    }
    return app


async def llm_prompts(plait: Plait, run_id: str) -> str:
    await plait.recorder.flush()
    async with plait.db.reader() as session:
        rows = await session.execute(
            select(NodeExecution.process_data).where(
                NodeExecution.workflow_run_id == run_id, NodeExecution.node_type == "llm"
            )
        )
        process = rows.scalar_one()
    assert process is not None
    return " ".join(prompt["text"] for prompt in process["prompts"])


async def test_chat_app_answers_from_its_datasets(
    client: httpx.AsyncClient, plait: Plait, handbook: tuple[KnowledgeKey, str]
) -> None:
    key, dataset_id = handbook
    chat = await publish(plait, with_datasets(CHAT_APP, dataset_id), key.workspace_id)
    body = {"query": "when are expense reports due", "inputs": {"name": "Ada"}, "user": "u"}
    reply = await client.post("/v1/chat-messages", headers=chat.auth, json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    resources = answer["metadata"]["retriever_resources"]
    assert resources, answer
    first = resources[0]
    assert first["dataset_id"] == dataset_id
    assert first["document_name"] == "Handbook"
    assert first["position"] == 1
    assert "Expense reports" in first["content"]
    assert set(first) >= {"segment_id", "score", "hit_count", "word_count", "segment_position", "index_node_hash"}

    prompt = await llm_prompts(
        plait, answer["metadata"].get("workflow_run_id") or await _run_of(plait, answer["message_id"])
    )
    assert "Expense reports are due within thirty days" in prompt
    assert "You help Ada." in prompt

    history = await client.get(
        "/v1/messages", headers=chat.auth, params={"user": "u", "conversation_id": answer["conversation_id"]}
    )
    assert history.json()["data"][0]["retriever_resources"] == resources

    streamed = events_of(
        await client.post("/v1/chat-messages", headers=chat.auth, json={**body, "response_mode": "streaming"})
    )
    assert streamed[-1]["event"] == "message_end"
    assert [r["segment_id"] for r in streamed[-1]["metadata"]["retriever_resources"]] == [
        r["segment_id"] for r in resources
    ]


async def _run_of(plait: Plait, message_id: str) -> str:
    from plait.storage.db.tables import Message

    async with plait.db.reader() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.workflow_run_id is not None
    return message.workflow_run_id


async def test_completion_app_queries_its_dataset_variable(
    client: httpx.AsyncClient, plait: Plait, handbook: tuple[KnowledgeKey, str]
) -> None:
    key, dataset_id = handbook
    app = with_datasets(COMPLETION_APP, dataset_id)
    app["model_config"]["dataset_query_variable"] = "text"
    completion = await publish(plait, app, key.workspace_id)
    reply = await client.post(
        "/v1/completion-messages",
        headers=completion.auth,
        json={"inputs": {"text": "security badges"}, "user": "u"},
    )
    assert reply.status_code == 200, reply.text
    resources = reply.json()["metadata"]["retriever_resources"]
    assert "Security badges" in resources[0]["content"]


async def test_workflow_knowledge_node_returns_records(
    client: httpx.AsyncClient, plait: Plait, handbook: tuple[KnowledgeKey, str]
) -> None:
    key, dataset_id = handbook
    workflow = {
        "version": "0.6.0",
        "kind": "app",
        "app": {"name": "Search", "mode": "workflow"},
        "workflow": {
            "environment_variables": [],
            "conversation_variables": [],
            "features": {},
            "graph": {
                "nodes": [
                    {
                        "id": "start",
                        "data": {"type": "start", "variables": [{"variable": "q", "type": "text-input", "label": "Q"}]},
                    },
                    {
                        "id": "kr",
                        "data": {
                            "type": "knowledge-retrieval",
                            "query_variable_selector": ["start", "q"],
                            "dataset_ids": [dataset_id],
                            "retrieval_mode": "multiple",
                            "multiple_retrieval_config": {"top_k": 1, "reranking_enable": False},
                        },
                    },
                    {
                        "id": "end",
                        "data": {"type": "end", "outputs": [{"variable": "hits", "value_selector": ["kr", "result"]}]},
                    },
                ],
                "edges": [{"source": "start", "target": "kr"}, {"source": "kr", "target": "end"}],
            },
        },
    }
    app: Published = await publish(plait, workflow, key.workspace_id)
    run = await client.post(
        "/v1/workflows/run", headers=app.auth, json={"inputs": {"q": "office closes fridays"}, "user": "u"}
    )
    assert run.status_code == 200, run.text
    data = run.json()["data"]
    assert data["status"] == "succeeded", data
    [hit] = data["outputs"]["hits"]
    assert "office closes" in hit["content"]
    assert hit["title"] == "Handbook"
    assert hit["metadata"]["_source"] == "knowledge"
    assert hit["metadata"]["dataset_id"] == dataset_id
