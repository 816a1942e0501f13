"""From DSL text to a compiled graph: app documents (workflow and advanced-chat), and the
bare graphs Dify's tests and graphon use (top-level ``nodes``/``edges``, or ``kind: graph``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from plait.engine.compile import CompiledGraph, compile_graph
from plait.engine.dsl import WORKFLOW_MODES, DslError, parse_app_document
from plait.engine.graph import read_graph


@dataclass(frozen=True)
class Workflow:
    name: str
    mode: str
    graph: CompiledGraph
    dsl_version: str | None


def compile_workflow(workflow: Mapping[str, Any], *, mode: str, path: str = "$.workflow") -> CompiledGraph:
    graph = workflow.get("graph")
    if not isinstance(graph, Mapping):
        raise DslError(f"{path}.graph", "must be a mapping")
    return compile_graph(
        read_graph(graph, path=f"{path}.graph"),
        mode=mode,
        environment_variables=workflow.get("environment_variables") or [],
        conversation_variables=workflow.get("conversation_variables") or [],
    )


def load_workflow(text: str | bytes, *, mode: str | None = None) -> Workflow:
    """Read and compile a workflow from DSL text, or raise :class:`DslError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None  # let the app-document reader produce the detailed error
    if isinstance(data, Mapping) and "app" not in data:
        if data.get("kind") == "graph" and isinstance(data.get("graph"), Mapping):
            return Workflow(
                "graph", mode or "advanced-chat", compile_workflow(data, mode=mode or "advanced-chat", path="$"), None
            )
        if isinstance(data.get("nodes"), list) and all(
            isinstance(node, Mapping) and isinstance(node.get("data"), Mapping) for node in data["nodes"]
        ):
            bare = {"graph": {"nodes": data["nodes"], "edges": data.get("edges") or []}}
            return Workflow(
                "graph", mode or "workflow", compile_workflow(bare, mode=mode or "workflow", path="$"), None
            )
    document = parse_app_document(text)
    if document.mode not in WORKFLOW_MODES or document.workflow is None:
        raise DslError("$.app.mode", f"{document.mode} apps have no workflow to run")
    graph = compile_workflow(document.workflow, mode=mode or document.mode)
    return Workflow(document.name, document.mode, graph, document.version)
