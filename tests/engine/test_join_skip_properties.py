"""Join and skip semantics, checked on random graphs against a direct statement of Dify's
rule: a node runs when at least one incoming edge was taken (once all are resolved); an edge
is taken when its source ran and, for a branching node, the edge leaves the chosen handle.
Everything else is skipped, and every node that runs runs exactly once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from plait.engine.runtime import WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.events import NodeFinished, NodeStarted, WorkflowFinished


@dataclass(frozen=True)
class RandomGraph:
    branching: tuple[bool, ...]  # per node after start: an if-else node or a plain one
    edges: tuple[tuple[int, int, str], ...]  # (source, target, handle)
    choices: tuple[bool, ...]  # per node: which way an if-else goes (True: case "yes")


@st.composite
def graphs(draw: st.DrawFn) -> RandomGraph:
    size = draw(st.integers(min_value=2, max_value=12))
    branching = tuple(draw(st.booleans()) for _ in range(size))
    edges: list[tuple[int, int, str]] = []
    for target in range(1, size):
        sources = draw(st.sets(st.integers(min_value=0, max_value=target - 1), min_size=1, max_size=3))
        for source in sorted(sources):
            handle = draw(st.sampled_from(["yes", "false"])) if source and branching[source] else "source"
            edges.append((source, target, handle))
    choices = tuple(draw(st.booleans()) for _ in range(size))
    return RandomGraph(branching, tuple(edges), choices)


def node_id(index: int) -> str:
    return "start" if index == 0 else f"n{index}"


def definition(graph: RandomGraph) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "data": {"type": "start", "variables": []}}]
    for index in range(1, len(graph.branching)):
        if graph.branching[index]:
            condition = {"variable_selector": ["start", f"go{index}"], "comparison_operator": "is", "value": "yes"}
            data: dict[str, Any] = {
                "type": "if-else",
                "cases": [{"case_id": "yes", "logical_operator": "and", "conditions": [condition]}],
            }
        else:
            data = {"type": "template-transform", "template": "x", "variables": []}
        nodes.append({"id": node_id(index), "data": data})
    edges = [
        {"id": f"e{i}", "source": node_id(s), "target": node_id(t), "sourceHandle": h}
        for i, (s, t, h) in enumerate(graph.edges)
    ]
    return {"graph": {"nodes": nodes, "edges": edges}}


def expected_to_run(graph: RandomGraph) -> set[str]:
    ran = {0}
    for target in range(1, len(graph.branching)):
        for source, edge_target, handle in graph.edges:
            if edge_target != target or source not in ran:
                continue
            chosen = ("yes" if graph.choices[source] else "false") if source and graph.branching[source] else "source"
            if handle == chosen:
                ran.add(target)
                break
    return {node_id(index) for index in ran}


async def run(graph: RandomGraph) -> list[Any]:
    compiled = compile_workflow(definition(graph), mode="workflow")
    inputs = {f"go{index}": "yes" if choice else "no" for index, choice in enumerate(graph.choices)}
    return [event async for event in WorkflowRun(compiled, inputs=inputs, services=Services()).events()]


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_nodes_run_exactly_when_an_incoming_edge_is_taken(graph: RandomGraph) -> None:
    events = asyncio.run(run(graph))
    finished = events[-1]
    assert isinstance(finished, WorkflowFinished)
    assert finished.status == "succeeded", finished.error
    started = [event.node_id for event in events if isinstance(event, NodeStarted)]
    completed = [event.node_id for event in events if isinstance(event, NodeFinished)]
    assert len(started) == len(set(started)), "a node ran twice"
    assert set(started) == set(completed) == expected_to_run(graph)


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_a_node_starts_only_after_the_nodes_it_waits_for(graph: RandomGraph) -> None:
    events = asyncio.run(run(graph))
    position = {event.node_id: i for i, event in enumerate(events) if isinstance(event, NodeFinished)}
    starts = {event.node_id: i for i, event in enumerate(events) if isinstance(event, NodeStarted)}
    for source, target, _ in graph.edges:
        if node_id(target) in starts and node_id(source) in position:
            assert position[node_id(source)] < starts[node_id(target)]
