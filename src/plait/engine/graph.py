"""A workflow's graph as read from the DSL: nodes and edges, before compilation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plait.engine.dsl import DslError

NOTE_TYPES = frozenset({"custom-note"})


@dataclass(frozen=True, slots=True)
class NodeSpec:
    id: str
    type: str
    data: Mapping[str, Any]
    parent_id: str | None
    path: str  # JSON path of the node in the document, for errors


@dataclass(frozen=True, slots=True)
class EdgeSpec:
    id: str
    source: str
    target: str
    handle: str
    path: str


@dataclass(frozen=True, slots=True)
class GraphSpec:
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]


def read_graph(graph: Mapping[str, Any], *, path: str = "$.workflow.graph") -> GraphSpec:
    """Read ``graph`` (``{nodes, edges}``), dropping sticky notes, checking the shape."""
    nodes: list[NodeSpec] = []
    seen: set[str] = set()
    raw_nodes = graph.get("nodes") or []
    if not isinstance(raw_nodes, list):
        raise DslError(f"{path}.nodes", "must be a list")
    for index, raw in enumerate(raw_nodes):
        where = f"{path}.nodes[{index}]"
        if not isinstance(raw, Mapping):
            raise DslError(where, "must be a mapping")
        if raw.get("type") in NOTE_TYPES:
            continue
        data = raw.get("data")
        if not isinstance(data, Mapping):
            raise DslError(f"{where}.data", "must be a mapping with the node's type and settings")
        node_id = raw.get("id")
        if not isinstance(node_id, str | int) or str(node_id) == "":
            raise DslError(f"{where}.id", "must be a non-empty string")
        node_id = str(node_id)
        if node_id in seen:
            raise DslError(f"{where}.id", f"duplicate node id {node_id!r}")
        seen.add(node_id)
        node_type = data.get("type")
        if not isinstance(node_type, str) or not node_type:
            raise DslError(f"{where}.data.type", "must name the node type")
        parent = raw.get("parentId")
        if not parent and data.get("isInIteration"):
            parent = data.get("iteration_id")
        if not parent and data.get("isInLoop"):
            parent = data.get("loop_id")
        nodes.append(NodeSpec(node_id, node_type, data, str(parent) if parent else None, where))

    edges: list[EdgeSpec] = []
    raw_edges = graph.get("edges") or []
    if not isinstance(raw_edges, list):
        raise DslError(f"{path}.edges", "must be a list")
    for index, raw in enumerate(raw_edges):
        where = f"{path}.edges[{index}]"
        if not isinstance(raw, Mapping):
            raise DslError(where, "must be a mapping")
        source, target = raw.get("source"), raw.get("target")
        if source is None or target is None:
            raise DslError(where, "an edge needs a source and a target")
        handle = raw.get("sourceHandle") or "source"
        edges.append(EdgeSpec(str(raw.get("id") or f"{source}-{target}"), str(source), str(target), str(handle), where))
    return GraphSpec(tuple(nodes), tuple(edges))
