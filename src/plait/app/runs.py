"""Running workflows headless: check a DSL file, run it with given inputs, and turn run
events into JSON. ``plait dsl check`` and ``plait run`` use these; so will the API."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from plait.app.model_resolver import BUILTIN_DEFAULTS
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import FixedModels, Services
from plait.engine.workflow import Workflow, load_workflow
from plait.events import RunEvent
from plait.providers.fake import FakeChatModel, ScriptedChatModel
from plait.providers.pricing import PricedChatModel
from plait.providers.registry import installed


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


def chat_models(
    model: str | None, mock_llm: Mapping[str, Any] | None, *, local_credentials: Mapping[str, Any] | None = None
) -> FixedModels:
    """The models every LLM node of a headless run talks to: the deterministic fake
    (``--model fake``, the default), optionally scripted per node, or Plait's offline local
    models (``--model local``)."""
    if model == "local":
        spec = installed().get("local")
        if spec is None or spec.build_chat is None or spec.build_embedding is None:
            raise ValueError("the local models are not installed (make install)")
        credentials = dict(local_credentials or {})
        chat = spec.build_chat(credentials, BUILTIN_DEFAULTS["llm"][1], None, _NO_NETWORK)
        embedding = spec.build_embedding(credentials, BUILTIN_DEFAULTS["text-embedding"][1], None, _NO_NETWORK)
        return FixedModels(PricedChatModel(chat, None, "local"), embedding)
    if model not in (None, "fake"):
        raise ValueError(f"model {model!r} is not available here; use --model fake or --model local")
    fake = FakeChatModel()
    return FixedModels(ScriptedChatModel(mock_llm, fallback=fake) if mock_llm else fake)


class _NoNetwork:
    """The local models open no connection; anything that would is refused."""

    def sdk_client(self, *, timeout: float | None = None) -> Any:
        raise ValueError("the local models use no network")

    def httpx2_client(self, *, timeout: float | None = None) -> Any:
        raise ValueError("the local models use no network")

    async def request(self, method: str, url: str, **_: Any) -> Any:
        raise ValueError("the local models use no network")


_NO_NETWORK = _NoNetwork()


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
