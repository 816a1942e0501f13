"""Tools in workflows, end to end: built-in tool nodes run through the Service API, an agent
calls the real built-ins, and a workflow calls another as a tool (and one that calls
itself is stopped by the call-depth limit)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from plait.app.bootstrap import Plait
from plait.app.workflow_tools import WORKFLOW_TOOL_USER
from plait.engine.runtime import WorkflowRun
from plait.engine.services import FixedModels, Services
from plait.engine.workflow import compile_workflow
from plait.events import AgentLog, WorkflowFinished
from plait.providers.base import ModelCapabilities
from plait.providers.fake import ScriptedChatModel
from plait.storage.db.tables import EndUser
from plait.storage.db.tables import WorkflowRun as WorkflowRunRow
from tests.api.tool_workflows import TOOLS, auth, publish, run, tool_node, workflow

MIXED = "mixed"


def mixed(template: str) -> dict[str, str]:
    return {"type": MIXED, "value": template}


BUILTINS = workflow(
    "Clock and calculator",
    ["expression"],
    [
        tool_node("now", "builtin", "time", "current_time", timezone="UTC", format="%Y-%m-%d %H:%M:%S"),
        # Dify 1.x names built-ins by their plugin id.
        tool_node(
            "calc", "builtin", "langgenius/maths/maths", "eval_expression", expression=mixed("{{#start.expression#}}")
        ),
        # Dify's own fixtures name "builtin" and let the tool's name decide.
        tool_node("day", "builtin", "builtin", "weekday", year=2024, month=1, day="1"),
    ],
    {
        "now": ["now", "text"],
        "result": ["calc", "result"],
        "said": ["calc", "text"],
        "files": ["calc", "files"],
        "weekday": ["day", "weekday"],
    },
)


async def test_built_in_tools_run_through_the_service_api(client: httpx.AsyncClient, owner_token: str) -> None:
    _, key = await publish(client, owner_token, BUILTINS)
    data = await run(client, key, {"expression": "(2 + 4) * 7"})
    assert data["status"] == "succeeded", data["error"]
    outputs = data["outputs"]
    assert outputs["result"] == 42
    assert outputs["said"] == 'The result of the expression "(2 + 4) * 7" is 42'
    assert outputs["files"] == []
    assert outputs["weekday"] == "Monday"
    now = datetime.strptime(outputs["now"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - now) < timedelta(minutes=2)


async def test_an_unknown_tool_fails_the_node_naming_it(client: httpx.AsyncClient, owner_token: str) -> None:
    document = workflow("Missing", [], [tool_node("nope", "builtin", "time", "sundial")], {"x": ["nope", "text"]})
    _, key = await publish(client, owner_token, document)
    data = await run(client, key)
    assert data["status"] == "failed"
    assert "time/sundial" in data["error"]
    assert "has no tool 'sundial'" in data["error"]


async def test_an_agent_calls_the_real_built_in_tools(
    plait: Plait, client: httpx.AsyncClient, owner_token: str
) -> None:
    workspace_id = (await client.get("/console/api/workspaces/current", headers=auth(owner_token))).json()["id"]
    tools = [
        {"enabled": True, "type": "builtin", "provider_name": "time", "tool_name": "current_time", "parameters": {}},
        {
            "enabled": True,
            "type": "builtin",
            "provider_id": "langgenius/maths/maths",
            "provider_name": "maths",
            "tool_name": "eval_expression",
            "parameters": {},
        },
    ]
    agent = {
        "id": "agent",
        "data": {
            "type": "agent",
            "agent_strategy_provider_name": "langgenius/agent/agent",
            "agent_strategy_name": "function_calling",
            "agent_parameters": {
                "model": {"type": "constant", "value": {"provider": "fake", "model": "fake", "model_type": "llm"}},
                "tools": {"type": "constant", "value": tools},
                "instruction": {"type": "constant", "value": "Answer with the tools."},
                "query": {"type": "mixed", "value": "{{#start.question#}}"},
                "maximum_iterations": {"type": "constant", "value": 5},
            },
        },
    }
    document = workflow("Agent", ["question"], [agent], {"answer": ["agent", "text"]})["workflow"]
    model = ScriptedChatModel(
        {
            "agent": [
                {"tool_calls": [{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo", "format": "%Z"}}]},
                {"tool_calls": [{"name": "eval_expression", "arguments": {"expression": "6 * 7"}}]},
                "It is JST in Tokyo, and 6 * 7 is 42.",
            ]
        },
        capabilities=ModelCapabilities(tool_calling=True),
    )
    services = Services(models=FixedModels(model), tools=plait.tools.for_workspace(workspace_id))
    graph = compile_workflow(document, mode="workflow")
    events = [
        e async for e in WorkflowRun(graph, inputs={"question": "Time zone and 6*7?"}, services=services).events()
    ]
    finished = events[-1]
    assert isinstance(finished, WorkflowFinished)
    assert finished.status == "succeeded", finished.error
    assert finished.outputs["answer"] == "It is JST in Tokyo, and 6 * 7 is 42."
    offered = model.requests[0].tools
    assert [tool.name for tool in offered] == ["current_time", "eval_expression"]
    assert offered[0].parameters["properties"]["timezone"]["type"] == "string"
    # What the real tools answered is what the model read next.
    assert model.requests[1].messages[-1].text == "JST"
    assert model.requests[2].messages[-1].text == 'The result of the expression "6 * 7" is 42'
    assert [log.tool for log in events if isinstance(log, AgentLog) and log.status == "success"][:2] == [
        "current_time",
        "eval_expression",
    ]


ADDER = workflow(
    "Adder",
    ["a", "b"],
    [tool_node("calc", "builtin", "maths", "eval_expression", expression=mixed("{{#start.a#}} + {{#start.b#}}"))],
    {"sum": ["calc", "result"]},
)


async def runs_of(plait: Plait, app_id: str, count: int) -> list[WorkflowRunRow]:
    """The app's recorded runs, once ``count`` are in (records are written in batches)."""
    async with asyncio.timeout(10):
        while True:
            await plait.recorder.flush()
            async with plait.db.reader() as session:
                rows = list(
                    (await session.execute(select(WorkflowRunRow).where(WorkflowRunRow.app_id == app_id))).scalars()
                )
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.05)


async def test_a_workflow_calls_another_as_a_tool(plait: Plait, client: httpx.AsyncClient, owner_token: str) -> None:
    adder_id, _ = await publish(client, owner_token, ADDER)
    caller = workflow(
        "Caller",
        ["x"],
        [tool_node("add", "workflow", adder_id, "adder", a=mixed("{{#start.x#}}"), b="3")],
        {"result": ["add", "json"], "text": ["add", "text"]},
    )
    _, key = await publish(client, owner_token, caller)
    data = await run(client, key, {"x": "2"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"] == {"result": [{"sum": 5}], "text": json.dumps({"sum": 5})}
    # The called workflow's run is recorded like any run, one level deeper, by the tool's end user.
    (child,) = await runs_of(plait, adder_id, 1)
    assert child.status == "succeeded"
    async with plait.db.reader() as session:
        starter = await session.get(EndUser, child.created_by_end_user_id)
    assert starter is not None
    assert starter.session_id == WORKFLOW_TOOL_USER


async def test_a_registered_workflow_tool_is_listed_and_called_by_its_name(
    client: httpx.AsyncClient, owner_token: str
) -> None:
    adder_id, _ = await publish(client, owner_token, ADDER)
    created = await client.post(
        f"{TOOLS}/tool-provider/workflow/create",
        headers=auth(owner_token),
        json={
            "workflow_app_id": adder_id,
            "name": "adder_tool",
            "label": "Adder",
            "description": "Adds two numbers.",
            "parameters": [{"name": "a", "description": "The first number", "form": "llm"}],
        },
    )
    assert created.status_code == 200, created.text
    tool_id = created.json()["workflow_tool_id"]
    listed = (await client.get(f"{TOOLS}/tool-providers", headers=auth(owner_token))).json()
    mine = next(p for p in listed if p["type"] == "workflow")
    assert (mine["id"], mine["name"], mine["workflow_app_id"]) == (tool_id, "adder_tool", adder_id)
    (tool,) = mine["tools"]
    assert tool["name"] == "adder_tool"
    assert tool["input_schema"]["properties"]["a"] == {"type": "string", "description": "The first number"}
    assert [p["name"] for p in tool["parameters"]] == ["a", "b"]
    detail = (
        await client.get(
            f"{TOOLS}/tool-provider/workflow/get", headers=auth(owner_token), params={"workflow_app_id": adder_id}
        )
    ).json()
    assert detail["workflow_tool_id"] == tool_id
    assert detail["synced"] is True

    caller = workflow(
        "Named caller",
        [],
        [tool_node("add", "workflow", "adder_tool", "adder_tool", a="40", b="2")],
        {"r": ["add", "json"]},
    )
    _, key = await publish(client, owner_token, caller)
    assert (await run(client, key))["outputs"] == {"r": [{"sum": 42}]}

    renamed = await client.post(
        f"{TOOLS}/tool-provider/workflow/update",
        headers=auth(owner_token),
        json={"workflow_tool_id": tool_id, "name": "adder_tool", "label": "Sum", "description": "Sums."},
    )
    assert renamed.status_code == 200, renamed.text
    tools = await client.get(
        f"{TOOLS}/tool-provider/workflow/tools", headers=auth(owner_token), params={"workflow_tool_id": tool_id}
    )
    assert [(t["label"]["en_US"], t["description"]["en_US"]) for t in tools.json()] == [("Sum", "Sums.")]

    refused = await client.post(
        f"{TOOLS}/tool-provider/workflow/create",
        headers=auth(owner_token),
        json={"workflow_app_id": adder_id, "name": "bad", "parameters": [{"name": "zzz"}]},
    )
    assert refused.status_code == 400
    assert refused.json()["params"] == "parameters[0].name"
    deleted = await client.post(
        f"{TOOLS}/tool-provider/workflow/delete", headers=auth(owner_token), json={"workflow_tool_id": tool_id}
    )
    assert deleted.status_code == 200
    gone = await run(client, key)
    assert gone["status"] == "failed"
    assert "no workflow tool 'adder_tool'" in gone["error"]


async def test_a_workflow_that_calls_itself_is_stopped_by_the_call_depth_limit(
    plait: Plait, client: httpx.AsyncClient, owner_token: str
) -> None:
    # It names itself by the tool name it is registered under once published.
    looping = workflow("Loop", [], [tool_node("again", "workflow", "loop_tool", "loop_tool")], {"r": ["again", "json"]})
    app_id, key = await publish(client, owner_token, looping)
    created = await client.post(
        f"{TOOLS}/tool-provider/workflow/create",
        headers=auth(owner_token),
        json={"workflow_app_id": app_id, "name": "loop_tool"},
    )
    assert created.status_code == 200, created.text
    async with asyncio.timeout(60):
        data = await run(client, key)
    assert data["status"] == "failed"
    assert data["error"].endswith("the workflow 'loop_tool' failed: workflows call each other more than 5 levels deep")
    assert data["error"].count("loop_tool failed") == 1
    # The top run and five nested ones, plus the sixth that the limit refused to run.
    rows = await runs_of(plait, app_id, 7)
    assert sorted(row.status for row in rows) == ["failed"] * 7
