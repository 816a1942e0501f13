"""The three benchmark workloads, each built once as a Dify DSL graph dict.

The same dict goes to Plait and to graphon (Dify's own engine) so both execute literally the
same workflow; the LangGraph runner translates the same dict into plain functions. Node and
edge shapes follow Dify's exported DSL (see /work/shared/fixtures/dify-dsl/*.yml): ``id`` +
``data`` with ``data.type``, edges with ``sourceHandle`` (``source``, or the if-else case id /
``false`` for ELSE).

Nodes do trivial string work: each template-transform renders ``{{ x }}-<tag>`` over the
previous node's output, so the engines' per-node overhead dominates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

START = "start"
END = "end"
TEXT = "hello"


@dataclass(frozen=True)
class Workload:
    """A graph plus the inputs to cycle through and the outputs each input must produce."""

    name: str
    description: str
    graph: dict[str, Any]
    inputs: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    executed_nodes: int  # nodes that actually run per run (start and end included)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _node(node_id: str, title: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": node_id, "type": "custom", "data": {"title": title, "desc": "", "selected": False, **data}}


def _edge(source: str, target: str, source_type: str, target_type: str, handle: str = "source") -> dict[str, Any]:
    return {
        "id": f"{source}-{handle}-{target}-target",
        "type": "custom",
        "source": source,
        "sourceHandle": handle,
        "target": target,
        "targetHandle": "target",
        "data": {"sourceType": source_type, "targetType": target_type, "isInIteration": False, "isInLoop": False},
        "zIndex": 0,
    }


def _start(variables: list[tuple[str, str]]) -> dict[str, Any]:
    declared: list[dict[str, Any]] = [
        {"variable": name, "label": name, "type": kind, "required": True, "max_length": None, "options": []}
        for name, kind in variables
    ]
    return _node(START, "Start", {"type": "start", "variables": declared})


def _template(node_id: str, source: str, source_var: str) -> dict[str, Any]:
    return _node(
        node_id,
        f"Template {node_id}",
        {
            "type": "template-transform",
            "template": "{{ x }}-" + node_id,
            "variables": [{"variable": "x", "value_selector": [source, source_var], "value_type": "string"}],
        },
    )


def _end(outputs: dict[str, list[str]]) -> dict[str, Any]:
    declared = [
        {"variable": name, "value_selector": selector, "value_type": "string"} for name, selector in outputs.items()
    ]
    return _node(END, "End", {"type": "end", "outputs": declared})


def chain(length: int = 10) -> Workload:
    """W1: start → t1 → … → t<length> → end, each template over the previous output."""
    ids = [f"t{i}" for i in range(1, length + 1)]
    nodes = [_start([("text", "text-input")])]
    edges = []
    previous, previous_var, previous_type = START, "text", "start"
    for node_id in ids:
        nodes.append(_template(node_id, previous, previous_var))
        edges.append(_edge(previous, node_id, previous_type, "template-transform"))
        previous, previous_var, previous_type = node_id, "output", "template-transform"
    nodes.append(_end({"result": [previous, "output"]}))
    edges.append(_edge(previous, END, previous_type, "end"))
    return Workload(
        "W1",
        f"chain of {length} template-transform nodes",
        {"nodes": nodes, "edges": edges},
        [{"text": TEXT}],
        [{"result": "-".join([TEXT, *ids])}],
        length + 2,
    )


def branch(depth: int = 3) -> Workload:
    """W2: start → if-else (number input ``branch`` = 1?) → one of two template chains of
    ``depth`` → variable-aggregator → end. The condition compares a number, not a string
    length, because graphon's if-else has no length operator. Inputs alternate the branch."""
    ids = {side: [f"{side}{i}" for i in range(1, depth + 1)] for side in ("a", "b")}
    condition = {
        "id": "c1",
        "varType": "number",
        "variable_selector": [START, "branch"],
        "comparison_operator": "=",
        "value": "1",
    }
    nodes = [
        _start([("text", "text-input"), ("branch", "number")]),
        _node(
            "if",
            "IF/ELSE",
            {"type": "if-else", "cases": [{"case_id": "true", "logical_operator": "and", "conditions": [condition]}]},
        ),
    ]
    edges = [_edge(START, "if", "start", "if-else")]
    for side, handle in (("a", "true"), ("b", "false")):
        previous, previous_var = START, "text"
        for position, node_id in enumerate(ids[side]):
            nodes.append(_template(node_id, previous, previous_var))
            if position == 0:
                edges.append(_edge("if", node_id, "if-else", "template-transform", handle))
            else:
                edges.append(_edge(previous, node_id, "template-transform", "template-transform"))
            previous, previous_var = node_id, "output"
        edges.append(_edge(previous, "agg", "template-transform", "variable-aggregator"))
    nodes.append(
        _node(
            "agg",
            "Variable Aggregator",
            {
                "type": "variable-aggregator",
                "output_type": "string",
                "variables": [[ids["a"][-1], "output"], [ids["b"][-1], "output"]],
            },
        )
    )
    nodes.append(_end({"result": ["agg", "output"]}))
    edges.append(_edge("agg", END, "variable-aggregator", "end"))
    return Workload(
        "W2",
        f"if-else into one of two {depth}-template branches, variable-aggregator",
        {"nodes": nodes, "edges": edges},
        [{"text": TEXT, "branch": 1}, {"text": TEXT, "branch": 0}],
        [{"result": "-".join([TEXT, *ids["a"]])}, {"result": "-".join([TEXT, *ids["b"]])}],
        depth + 4,
    )


def fan_out(width: int = 8) -> Workload:
    """W3: start → ``width`` parallel templates → end. The End node collects every branch
    (a variable-aggregator would keep only the first non-empty input, in Dify and graphon
    alike, so it could not gather a fan-out)."""
    ids = [f"p{i}" for i in range(1, width + 1)]
    nodes = [_start([("text", "text-input")])]
    edges = []
    for node_id in ids:
        nodes.append(_template(node_id, START, "text"))
        edges.append(_edge(START, node_id, "start", "template-transform"))
        edges.append(_edge(node_id, END, "template-transform", "end"))
    nodes.append(_end({f"o_{node_id}": [node_id, "output"] for node_id in ids}))
    return Workload(
        "W3",
        f"fan-out of {width} parallel template nodes collected at End",
        {"nodes": nodes, "edges": edges},
        [{"text": TEXT}],
        [{f"o_{node_id}": f"{TEXT}-{node_id}" for node_id in ids}],
        width + 2,
    )


def all_workloads() -> list[Workload]:
    return [chain(), branch(), fan_out()]
