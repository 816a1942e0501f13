"""Small builders for workflow definitions in engine tests."""

from __future__ import annotations

from typing import Any

from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.events import RunEvent, WorkflowFinished


def graph(nodes: list[dict[str, Any]], edges: list[tuple[str, str] | tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "graph": {
            "nodes": [{"id": node.pop("id"), "data": node} for node in nodes],
            "edges": [
                {
                    "id": f"e{i}",
                    "source": edge[0],
                    "target": edge[1],
                    "sourceHandle": edge[2] if len(edge) > 2 else "source",
                }
                for i, edge in enumerate(edges)
            ],
        }
    }


def start(*variables: str) -> dict[str, Any]:
    return {"id": "start", "type": "start", "variables": [{"variable": v, "type": "text-input"} for v in variables]}


def end(**outputs: list[str]) -> dict[str, Any]:
    return {"id": "end", "type": "end", "outputs": [{"variable": k, "value_selector": v} for k, v in outputs.items()]}


def template(node_id: str, text: str, **variables: list[str]) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "template-transform",
        "template": text,
        "variables": [{"variable": k, "value_selector": v} for k, v in variables.items()],
    }


def llm(node_id: str = "llm", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "llm", "model": {"provider": "fake", "name": "fake"}, "prompt_template": [], **data}


async def run(
    definition: dict[str, Any], inputs: dict[str, Any] | None = None, services: Services | None = None, **limits: Any
) -> list[RunEvent]:
    compiled = compile_workflow(definition, mode="workflow")
    workflow_run = WorkflowRun(
        compiled, inputs=inputs or {}, services=services or Services(), limits=RunLimits(**limits)
    )
    return [event async for event in workflow_run.events()]


def finished(events: list[RunEvent]) -> WorkflowFinished:
    last = events[-1]
    assert isinstance(last, WorkflowFinished)
    return last
