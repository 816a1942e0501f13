"""The knowledge-retrieval node's model-driven modes: single retrieval, where a model
routes the query to one dataset (by calling the dataset's tool, or by naming it in a
ReAct-style reply), and automatic metadata filtering, where a model writes the filter.

The first test runs through the Service API with the router model on an OpenAI-compatible
server on 127.0.0.1 (the workspace's real credentials, the real adapter); the others run
the workflow engine with a scripted model standing in for the workspace's models. In
both, retrieval, indexes and the database are real; only the models' content is scripted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plait.app.bootstrap import Plait
from plait.app.knowledge_retrieval import WorkspaceRetriever
from plait.app.knowledge_routing import METADATA_CALLER, ROUTER_CALLER
from plait.engine.runtime import WorkflowRun
from plait.engine.services import FixedModels, Services
from plait.engine.workflow import compile_workflow
from plait.events import WorkflowFinished
from plait.providers.base import ModelCapabilities
from plait.providers.fake import ScriptedChatModel

from ..conftest import StartPlait
from ..providers.servers import Reply, ScriptedServer, openai_chunk, openai_sse, openai_text_stream, tool_fragment
from .knowledge import KnowledgeKey, add_text, create_dataset, knowledge_key, wait_indexed
from .test_knowledge_apps import RULE
from .test_model_providers import COMPATIBLE, console, save_custom_model
from .test_service_workflows import publish

HR_TEXT = (
    "The leave policy grants twenty days of paid leave per year.\n\n"
    "Expense claims follow the travel policy and are paid monthly."
)
ASTRONOMY_TEXT = (
    "Jupiter has ninety-five known moons; the naming policy follows the myths of Zeus.\n\n"
    "Saturn's rings are made of ice and rock and are thin compared with their width."
)
# Words of both datasets: searched together, each would answer.
QUERY = "policy on moons and leave"
FULL_TEXT = {"search_method": "full_text_search", "reranking_enable": False, "top_k": 4}
ROUTER = {"provider": COMPATIBLE, "name": "team-model", "mode": "chat", "completion_params": {"temperature": 0}}


async def indexed_dataset(
    http: httpx.AsyncClient, key: KnowledgeKey, name: str, description: str, text: str, **document: Any
) -> str:
    dataset_id = await create_dataset(http, key, name, description=description, retrieval_model=FULL_TEXT)
    created = await add_text(http, key, dataset_id, name, text, process_rule=RULE, **document)
    await wait_indexed(http, key, dataset_id, created["batch"])
    return dataset_id


def knowledge_workflow(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0.6.0",
        "kind": "app",
        "app": {"name": "Routed search", "mode": "workflow"},
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
                        "data": {"type": "knowledge-retrieval", "query_variable_selector": ["start", "q"], **node},
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


def single(dataset_ids: list[str], model: dict[str, Any] | None = None) -> dict[str, Any]:
    return knowledge_workflow(
        {"dataset_ids": dataset_ids, "retrieval_mode": "single", "single_retrieval_config": {"model": model or {}}}
    )


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    instance = ScriptedServer()
    await instance.start()
    yield instance
    await instance.close()


def tool_call_stream(name: str) -> list[bytes]:
    return openai_sse(
        [
            openai_chunk(role="assistant", tool_calls=[tool_fragment(0, id="call_1", name=name, arguments="{}")]),
            openai_chunk(finish_reason="tool_calls"),
            openai_chunk(usage=(30, 5)),
        ]
    )


async def test_a_router_model_on_a_server_picks_the_dataset(start_plait: StartPlait, server: ScriptedServer) -> None:
    plait, http, owner = await console(start_plait)
    server.reply(Reply.sse(openai_text_stream("pong")))  # the credentials' validation call
    assert (await save_custom_model(http, owner, server)).status_code == 200
    key = await knowledge_key(plait)
    hr = await indexed_dataset(
        http, key, "HR", "Leave, expenses and other staff policies.", HR_TEXT, indexing_technique="economy"
    )
    sky = await indexed_dataset(http, key, "Astronomy", "", ASTRONOMY_TEXT, indexing_technique="economy")
    app = await publish(plait, single([hr, sky], ROUTER), key.workspace_id)

    server.reply(Reply.sse(tool_call_stream(sky)))
    run = await http.post("/v1/workflows/run", headers=app.auth, json={"inputs": {"q": QUERY}, "user": "u"})
    data = run.json()["data"]
    assert data["status"] == "succeeded", data
    hits = data["outputs"]["hits"]
    assert hits
    assert {hit["metadata"]["dataset_id"] for hit in hits} == {sky}
    assert "moons" in hits[0]["content"]

    sent = server.requests[-1].json()
    assert sent["model"] == "served-name"
    assert sent["temperature"] == 0
    assert sent["messages"][-1] == {"role": "user", "content": QUERY}
    offered = {tool["function"]["name"]: tool["function"]["description"] for tool in sent["tools"]}
    assert offered == {
        hr: "Leave, expenses and other staff policies.",
        sky: "useful for when you want to answer queries about the Astronomy",
    }

    # A model that calls no tool routes nowhere: the node finds nothing.
    server.reply(Reply.sse(openai_text_stream("None of these can answer.")))
    run = await http.post("/v1/workflows/run", headers=app.auth, json={"inputs": {"q": QUERY}, "user": "u"})
    data = run.json()["data"]
    assert data["status"] == "succeeded", data
    assert data["outputs"]["hits"] == []


# --- the engine with a scripted model ---------------------------------------------------------


@pytest.fixture
async def key(plait: Plait) -> KnowledgeKey:
    return await knowledge_key(plait)


@pytest.fixture
async def two_datasets(client: httpx.AsyncClient, key: KnowledgeKey) -> tuple[str, str]:
    hr = await indexed_dataset(client, key, "HR", "Staff policies.", HR_TEXT)
    sky = await indexed_dataset(client, key, "Astronomy", "Planets and moons.", ASTRONOMY_TEXT)
    return hr, sky


async def run_hits(
    plait: Plait, key: KnowledgeKey, document: dict[str, Any], model: ScriptedChatModel, query: str = QUERY
) -> list[dict[str, Any]]:
    """The node's result, run by the engine with ``model`` as every model of the workspace."""
    models = FixedModels(model)
    retriever = WorkspaceRetriever(plait.retrieval, key.workspace_id, models)
    graph = compile_workflow(document["workflow"], mode="workflow")
    events = [
        e
        async for e in WorkflowRun(
            graph, inputs={"q": query}, services=Services(models=models, retrieval=retriever)
        ).events()
    ]
    finished = events[-1]
    assert isinstance(finished, WorkflowFinished)
    assert finished.status == "succeeded", finished.error
    hits: list[dict[str, Any]] = finished.outputs["hits"]
    return hits


async def test_a_model_without_tool_calling_names_the_dataset(
    plait: Plait, key: KnowledgeKey, two_datasets: tuple[str, str]
) -> None:
    hr, sky = two_datasets
    model = ScriptedChatModel(
        {ROUTER_CALLER: f'Thought: staff question.\n{{"action": "{hr}", "action_input": "leave"}}'}
    )
    hits = await run_hits(plait, key, single([hr, sky]), model)
    assert hits
    assert {hit["metadata"]["dataset_id"] for hit in hits} == {hr}
    [request] = model.requests
    assert request.tools == ()
    assert hr in request.messages[0].text
    assert "Planets and moons." in request.messages[0].text


async def test_a_tool_calling_model_that_picks_nothing_finds_nothing(
    plait: Plait, key: KnowledgeKey, two_datasets: tuple[str, str]
) -> None:
    hr, sky = two_datasets
    tools = ModelCapabilities(tool_calling=True)
    picks_nothing = ScriptedChatModel({ROUTER_CALLER: "I cannot tell."}, capabilities=tools)
    assert await run_hits(plait, key, single([hr, sky]), picks_nothing) == []
    assert [tool.name for tool in picks_nothing.requests[0].tools] == [hr, sky]
    unknown = ScriptedChatModel({ROUTER_CALLER: {"tool_calls": [{"name": "not-a-dataset"}]}}, capabilities=tools)
    assert await run_hits(plait, key, single([hr, sky]), unknown) == []
    picks_sky = ScriptedChatModel({ROUTER_CALLER: {"tool_calls": [{"name": sky}]}}, capabilities=tools)
    assert {hit["metadata"]["dataset_id"] for hit in await run_hits(plait, key, single([hr, sky]), picks_sky)} == {sky}


async def test_one_dataset_needs_no_router(plait: Plait, key: KnowledgeKey, two_datasets: tuple[str, str]) -> None:
    hr, _ = two_datasets
    model = ScriptedChatModel({ROUTER_CALLER: {"error": "the router must not be asked"}})
    hits = await run_hits(plait, key, single([hr]), model)
    assert {hit["metadata"]["dataset_id"] for hit in hits} == {hr}
    assert model.requests == []


# --- automatic metadata filtering -------------------------------------------------------------


@pytest.fixture
async def pets(client: httpx.AsyncClient, key: KnowledgeKey) -> str:
    """A dataset of two documents told apart by their ``team`` and ``year`` metadata."""
    dataset_id = await create_dataset(client, key, "Pets", retrieval_model=FULL_TEXT)
    fields = {}
    for name, kind in (("team", "string"), ("year", "number")):
        response = await client.post(
            f"/v1/datasets/{dataset_id}/metadata", headers=key.auth, json={"type": kind, "name": name}
        )
        assert response.status_code == 201, response.text
        fields[name] = response.json()["id"]
    for document, text, team, year in (
        ("cats.txt", "Cats purr when they are content.", "felines", 2021),
        ("dogs.txt", "Dogs wag their tails when they are content.", "canines", 2024),
    ):
        created = await add_text(client, key, dataset_id, document, text)
        await wait_indexed(client, key, dataset_id, created["batch"])
        values = [
            {"id": fields["team"], "name": "team", "value": team},
            {"id": fields["year"], "name": "year", "value": year},
        ]
        response = await client.post(
            f"/v1/datasets/{dataset_id}/documents/metadata",
            headers=key.auth,
            json={"operation_data": [{"document_id": created["document"]["id"], "metadata_list": values}]},
        )
        assert response.status_code == 200, response.text
    return dataset_id


def automatic(dataset_id: str) -> dict[str, Any]:
    return knowledge_workflow(
        {
            "dataset_ids": [dataset_id],
            "retrieval_mode": "multiple",
            "multiple_retrieval_config": {"top_k": 4, "reranking_enable": False},
            "metadata_filtering_mode": "automatic",
            "metadata_model_config": {"provider": "fake", "name": "fake", "mode": "chat", "completion_params": {}},
        }
    )


def documents_of(hits: list[dict[str, Any]]) -> list[str]:
    return sorted(hit["title"] for hit in hits)


async def test_a_model_writes_the_metadata_filter(plait: Plait, key: KnowledgeKey, pets: str) -> None:
    conditions = (
        '{"logical_operator": "and", "conditions": [{"name": "team", "comparison_operator": "is", "value": "canines"}]}'
    )
    model = ScriptedChatModel({METADATA_CALLER: f"```json\n{conditions}\n```"})
    hits = await run_hits(plait, key, automatic(pets), model, "why are they content")
    assert documents_of(hits) == ["dogs.txt"]
    [request] = model.requests
    prompt = request.messages[0].text
    assert "- team: string" in prompt
    assert "- year: number" in prompt
    assert request.messages[-1].text == "why are they content"

    # Dify's own reply shape reads the same way.
    dify_shape = (
        '{"metadata_map": [{"metadata_field_name": "year", "metadata_field_value": 2022, "comparison_operator": "<"}]}'
    )
    model = ScriptedChatModel({METADATA_CALLER: dify_shape})
    assert documents_of(await run_hits(plait, key, automatic(pets), model, "content")) == ["cats.txt"]


@pytest.mark.parametrize(
    "reply",
    [
        "Only the dogs, I think.",  # no JSON at all
        '{"conditions": [{"name": "breed", "comparison_operator": "is", "value": "pug"}]}',  # no such field
        '{"conditions": [{"name": "year", "comparison_operator": "contains", "value": "20"}]}',  # wrong operator
        '{"conditions": "team is canines"}',
        '{"conditions": []}',  # the model states no condition
        {"error": "the metadata model is down"},
    ],
)
async def test_unusable_filters_leave_the_search_unfiltered(
    plait: Plait, key: KnowledgeKey, pets: str, reply: Any
) -> None:
    model = ScriptedChatModel({METADATA_CALLER: reply})
    hits = await run_hits(plait, key, automatic(pets), model, "why are they content")
    assert documents_of(hits) == ["cats.txt", "dogs.txt"]
    assert len(model.requests) == 1
