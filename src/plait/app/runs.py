"""Running workflows headless: check a DSL file, run it with given inputs, and turn run
events into JSON. ``plait dsl check`` and ``plait run`` use these; so will the API."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import Workflow, load_workflow
from plait.events import RunEvent
from plait.providers.base import ChatModel
from plait.providers.fake import FakeChatModel, ScriptedChatModel


@dataclass(frozen=True)
class CheckReport:
    name: str
    mode: str
    dsl_version: str | None
    node_count: int
    node_types: dict[str, int]
    warnings: list[str]


def check(text: str | bytes) -> CheckReport:
    """Import and compile a DSL document; raises ``DslError`` with a path when it cannot."""
    workflow = load_workflow(text)
    counts: dict[str, int] = {}
    graphs = [workflow.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.nodes.values():
            counts[node.spec.type] = counts.get(node.spec.type, 0) + 1
        graphs.extend(graph.children.values())
    return CheckReport(
        workflow.name,
        workflow.mode,
        workflow.dsl_version,
        sum(counts.values()),
        dict(sorted(counts.items())),
        list(workflow.graph.warnings),
    )


def chat_models(model: str | None, mock_llm: Mapping[str, Any] | None) -> ChatModel:
    """The model every LLM node of a headless run talks to. Until real providers are wired,
    that is the deterministic fake (``--model fake``), optionally scripted per node."""
    if model not in (None, "fake"):
        raise ValueError(f"model {model!r} is not available yet; use --model fake")
    fake = FakeChatModel()
    return ScriptedChatModel(mock_llm, fallback=fake) if mock_llm else fake


def event_json(event: RunEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


async def run(
    workflow: Workflow,
    *,
    inputs: Mapping[str, Any],
    query: str = "",
    services: Services,
    limits: RunLimits | None = None,
) -> AsyncIterator[RunEvent]:
    system = {"query": query, "files": [], "conversation_id": "", "user_id": "cli", "dialogue_count": 1}
    workflow_run = WorkflowRun(workflow.graph, inputs=inputs, system=system, services=services, limits=limits)
    async for event in workflow_run.events():
        yield event
