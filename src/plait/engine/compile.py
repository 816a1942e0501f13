"""Compile a graph: every static check happens here, at import and publish time, never in
the middle of a run. Errors carry the JSON path of what is wrong.

Checked: node types exist and their settings are valid, edges join existing nodes, the graph
(and each container's child graph) has no cycle, there is one entry node, and every variable
a node reads can exist. The result is what the runtime walks: node objects, edges indexed by
node, the order of Answer/End nodes, and a compiled child graph per iteration and loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from plait.engine.dsl import DslError
from plait.engine.graph import EdgeSpec, GraphSpec, NodeSpec
from plait.engine.nodes.base import FAIL_BRANCH, SOURCE, Node
from plait.engine.registry import lookup
from plait.engine.variables import CONVERSATION, ENVIRONMENT, SYSTEM

ENTRY_TYPES = frozenset({"start"})
CONTAINER_ENTRY_TYPES = frozenset({"iteration-start", "loop-start"})
RESPONSE_TYPES = frozenset({"answer", "end"})
# Owners of selectors that are not node ids: Dify's reserved prefixes.
RESERVED_OWNERS = frozenset({SYSTEM, ENVIRONMENT, CONVERSATION, "userinput", "rag"})


@dataclass(frozen=True, slots=True)
class Edge:
    id: str
    source: str
    target: str
    handle: str


@dataclass
class CompiledGraph:
    mode: str
    root: str
    nodes: dict[str, Node]
    in_edges: dict[str, list[Edge]]
    out_edges: dict[str, list[Edge]]
    response_order: list[str]
    children: dict[str, CompiledGraph] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    conversation_defaults: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()


def _instantiate(spec: NodeSpec) -> Node:
    cls = lookup(spec.type)
    if cls is None:
        raise DslError(f"{spec.path}.data.type", f"unknown node type {spec.type!r}")
    try:
        config = cls.Config.model_validate(dict(spec.data))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DslError(f"{spec.path}.data.{where}" if where else f"{spec.path}.data", first["msg"]) from None
    return cls(spec, config)


def _topological(node_ids: Sequence[str], edges: Iterable[Edge], where: Mapping[str, str]) -> list[str]:
    indegree = dict.fromkeys(node_ids, 0)
    targets: dict[str, list[str]] = {node_id: [] for node_id in node_ids}
    for edge in edges:
        indegree[edge.target] += 1
        targets[edge.source].append(edge.target)
    ready = [node_id for node_id in node_ids if indegree[node_id] == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for target in targets[current]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    if len(order) != len(node_ids):
        stuck = next(node_id for node_id in node_ids if indegree[node_id] > 0)
        raise DslError(where[stuck], f"node {stuck!r} is on a cycle; only loop nodes may repeat work")
    return order


def _compile_level(
    specs: list[NodeSpec],
    edge_specs: list[EdgeSpec],
    *,
    mode: str,
    root: str,
    all_nodes: Mapping[str, Node],
    children_of: Mapping[str, list[NodeSpec]],
    edges_of: Mapping[str | None, list[EdgeSpec]],
    warnings: list[str],
) -> CompiledGraph:
    ids = [spec.id for spec in specs]
    nodes = {node_id: all_nodes[node_id] for node_id in ids}
    in_edges: dict[str, list[Edge]] = {node_id: [] for node_id in ids}
    out_edges: dict[str, list[Edge]] = {node_id: [] for node_id in ids}
    edges: list[Edge] = []
    for spec in edge_specs:
        edge = Edge(spec.id, spec.source, spec.target, spec.handle)
        source = nodes[spec.source]
        if not source.is_branch and spec.handle not in (SOURCE, FAIL_BRANCH):
            warnings.append(f"{spec.path}: handle {spec.handle!r} of a non-branching node is treated as 'source'")
            edge = Edge(spec.id, spec.source, spec.target, SOURCE)
        edges.append(edge)
        in_edges[spec.target].append(edge)
        out_edges[spec.source].append(edge)
    order = _topological(ids, edges, {spec.id: spec.path for spec in specs})
    graph = CompiledGraph(mode, root, nodes, in_edges, out_edges, [], warnings=warnings)
    for node_id in ids:
        node = nodes[node_id]
        if node.is_container:
            child_specs = children_of.get(node_id, [])
            child_root = str(getattr(node.config, "start_node_id", "") or "")
            entries = [spec.id for spec in child_specs if spec.type in CONTAINER_ENTRY_TYPES]
            if child_root not in {spec.id for spec in child_specs}:
                if not entries:
                    raise DslError(f"{node.spec.path}.data.start_node_id", "the container has no start node inside it")
                child_root = entries[0]
            graph.children[node_id] = _compile_level(
                child_specs,
                edges_of.get(node_id, []),
                mode=mode,
                root=child_root,
                all_nodes=all_nodes,
                children_of=children_of,
                edges_of=edges_of,
                warnings=warnings,
            )
    # Answer/End nodes in order, and the containers holding some: what streams inside a
    # container comes before what follows it.
    graph.response_order = [
        node_id
        for node_id in order
        if nodes[node_id].spec.type in RESPONSE_TYPES
        or (node_id in graph.children and graph.children[node_id].response_order)
    ]
    return graph


def _check_references(
    spec: GraphSpec, nodes: Mapping[str, Node], env: Mapping[str, Any], conv: Mapping[str, Any]
) -> None:
    for node_spec in spec.nodes:
        node = nodes[node_spec.id]
        for selector in node.references():
            if len(selector) < 2:
                raise DslError(f"{node_spec.path}.data", f"variable reference {list(selector)} is incomplete")
            owner, name = selector[0], selector[1]
            where = f"{node_spec.path}.data"
            if owner == ENVIRONMENT and name not in env:
                raise DslError(where, f"environment variable {name!r} does not exist")
            if owner == CONVERSATION and name not in conv:
                raise DslError(where, f"conversation variable {name!r} does not exist")
            if owner in RESERVED_OWNERS:
                continue
            source = nodes.get(owner)
            if source is None:
                raise DslError(where, f"{'.'.join(selector)} refers to node {owner!r}, which does not exist")
            names = source.output_names()
            if names is not None and source.config.error_strategy:
                # A node with an error strategy also outputs why it failed, and its defaults.
                defaults = [str(item.get("key")) for item in source.config.default_value or []]
                names = [*names, "error_message", "error_type", *defaults]
            if names is not None and name not in names:
                raise DslError(where, f"{'.'.join(selector)}: node {owner!r} has no output {name!r}")


def compile_graph(
    spec: GraphSpec,
    *,
    mode: str,
    environment_variables: Sequence[Mapping[str, Any]] = (),
    conversation_variables: Sequence[Mapping[str, Any]] = (),
) -> CompiledGraph:
    warnings: list[str] = []
    all_nodes = {node_spec.id: _instantiate(node_spec) for node_spec in spec.nodes}
    for edge in spec.edges:
        for end in (edge.source, edge.target):
            if end not in all_nodes:
                raise DslError(edge.path, f"edge {edge.id!r} refers to node {end!r}, which does not exist")
    parents = {node_spec.id: node_spec.parent_id for node_spec in spec.nodes}
    for node_spec in spec.nodes:
        if node_spec.parent_id is not None and node_spec.parent_id not in all_nodes:
            raise DslError(node_spec.path, f"node is inside {node_spec.parent_id!r}, which does not exist")
    children_of: dict[str, list[NodeSpec]] = {}
    top: list[NodeSpec] = []
    for node_spec in spec.nodes:
        (children_of.setdefault(node_spec.parent_id, []) if node_spec.parent_id else top).append(node_spec)
    edges_of: dict[str | None, list[EdgeSpec]] = {}
    for edge in spec.edges:
        source_parent, target_parent = parents[edge.source], parents[edge.target]
        if source_parent != target_parent:
            raise DslError(edge.path, "an edge may not cross the border of an iteration or loop")
        edges_of.setdefault(source_parent, []).append(edge)

    entries = [node_spec.id for node_spec in top if node_spec.type in ENTRY_TYPES]
    if not entries:
        raise DslError("$.workflow.graph.nodes", "the graph has no start node")
    if len(entries) > 1:
        raise DslError("$.workflow.graph.nodes", f"the graph has several start nodes: {', '.join(entries)}")

    environment = {str(var.get("name")): var.get("value") for var in environment_variables if var.get("name")}
    conversation = {str(var.get("name")): var.get("value") for var in conversation_variables if var.get("name")}
    _check_references(spec, all_nodes, environment, conversation)
    graph = _compile_level(
        top,
        edges_of.get(None, []),
        mode=mode,
        root=entries[0],
        all_nodes=all_nodes,
        children_of=children_of,
        edges_of=edges_of,
        warnings=warnings,
    )
    graph.environment = environment
    graph.conversation_defaults = conversation
    graph.secret_names = frozenset(
        str(var.get("name")) for var in environment_variables if var.get("value_type") == "secret" and var.get("name")
    )
    for node in all_nodes.values():
        warnings.extend(node.warnings())
    for node_id in graph.response_order:
        node_type = graph.nodes[node_id].spec.type
        if mode == "workflow" and node_type == "answer":
            warnings.append(f"node {node_id!r}: answer nodes belong in chatflows (advanced-chat)")
        if mode == "advanced-chat" and node_type == "end":
            warnings.append(f"node {node_id!r}: end nodes belong in workflows")
    return graph
