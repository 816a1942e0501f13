"""LangGraph peer: the same workflows as plain functions in StateGraphs compiled once.

Run with ``bench/.venvs/langgraph/bin/python`` (langgraph 1.2.22 + jinja2); speaks the
harness protocol on stdin/stdout. Each workload is written the way a LangGraph user would
write it, with the smallest state that carries the data (one ``text`` key along a chain, a
merged ``outputs`` dict for the fan-out): a mechanical one-state-key-per-DSL-node translation
was tried first and made LangGraph ~2x slower, which would flatter Plait. The work per node is
the DSL's: the same number of nodes (start and end included), each template node renders its
DSL node's Jinja2 template (compiled once, plain ``jinja2.Environment``), the if-else node
evaluates the DSL condition and a conditional edge routes on the result. Runs use the
ordinary synchronous ``invoke``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import version
from itertools import pairwise
from typing import Annotated, Any, TypedDict

import harness
from jinja2 import Environment, Template
from langgraph.graph import END, START, StateGraph

_jinja = Environment(autoescape=False, keep_trailing_newline=True)  # plain text, not HTML
Build = Callable[[Mapping[str, Any]], harness.RunOne]


class ChainState(TypedDict, total=False):
    text: str
    branch: float
    selected: str
    result: str


def _merge(left: dict[str, str], right: dict[str, str]) -> dict[str, str]:
    return {**left, **right}


class FanOutState(TypedDict, total=False):
    text: str
    outputs: Annotated[dict[str, str], _merge]


def _nodes(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {node["id"]: node["data"] for node in graph["nodes"]}


def _template(data: Mapping[str, Any]) -> Template:
    return _jinja.from_string(data["template"])


class _RenderStep:
    """A chain template node: render the DSL node's template over the text so far."""

    def __init__(self, template: Template) -> None:
        self.template = template

    def __call__(self, state: ChainState) -> ChainState:
        return {"text": self.template.render(x=state["text"])}


def _start(state: ChainState) -> ChainState:
    return {"text": state["text"]}


def _chain(graph: Mapping[str, Any]) -> harness.RunOne:
    """W1: start → t1 … t10 → end, the text threaded through the templates."""
    nodes = _nodes(graph)
    ids = [node_id for node_id, data in nodes.items() if data["type"] == "template-transform"]
    builder = StateGraph(ChainState)
    builder.add_node("start", _start)
    for node_id in ids:
        builder.add_node(node_id, _RenderStep(_template(nodes[node_id])))
    builder.add_node("end", lambda state: {"result": state["text"]})
    path = ["start", *ids, "end"]
    builder.add_edge(START, "start")
    for source, target in pairwise(path):
        builder.add_edge(source, target)
    builder.add_edge("end", END)
    app = builder.compile()
    return lambda inputs: {"result": app.invoke({"text": inputs["text"]})["result"]}


def _branch(graph: Mapping[str, Any]) -> harness.RunOne:
    """W2: start → if-else → a1-a3 or b1-b3 → aggregator → end."""
    nodes = _nodes(graph)
    case = nodes["if"]["cases"][0]
    condition = case["conditions"][0]
    if condition["comparison_operator"] != "=" or condition["varType"] != "number":
        raise ValueError("only the numeric '=' condition of W2 is translated")
    expected, case_id = float(condition["value"]), case["case_id"]

    def if_else(state: ChainState) -> ChainState:
        return {"selected": case_id if state["branch"] == expected else "false"}

    builder = StateGraph(ChainState)
    builder.add_node("start", _start)
    builder.add_node("if", if_else)
    builder.add_edge(START, "start")
    builder.add_edge("start", "if")
    firsts = {}
    for side, handle in (("a", case_id), ("b", "false")):
        path = [f"{side}{index}" for index in (1, 2, 3)]
        for node_id in path:
            builder.add_node(node_id, _RenderStep(_template(nodes[node_id])))
        for source, target in pairwise(path):
            builder.add_edge(source, target)
        builder.add_edge(path[-1], "agg")
        firsts[handle] = path[0]
    builder.add_conditional_edges("if", lambda state: state["selected"], firsts)
    builder.add_node("agg", lambda state: {"result": state["text"]})
    builder.add_node("end", lambda state: {"result": state["result"]})
    builder.add_edge("agg", "end")
    builder.add_edge("end", END)
    app = builder.compile()
    return lambda inputs: {"result": app.invoke({"text": inputs["text"], "branch": inputs["branch"]})["result"]}


def _fan_out(graph: Mapping[str, Any]) -> harness.RunOne:
    """W3: start → p1 … p8 in parallel (one superstep) → end, outputs merged by a reducer."""
    nodes = _nodes(graph)
    ids = [node_id for node_id, data in nodes.items() if data["type"] == "template-transform"]
    builder = StateGraph(FanOutState)
    builder.add_node("start", lambda state: {"text": state["text"]})
    builder.add_edge(START, "start")
    for node_id in ids:
        template, key = _template(nodes[node_id]), f"o_{node_id}"
        builder.add_node(node_id, lambda state, t=template, k=key: {"outputs": {k: t.render(x=state["text"])}})
        builder.add_edge("start", node_id)
    builder.add_node("end", lambda state: {"outputs": {}})
    builder.add_edge(ids, "end")  # join: end runs once, after every branch
    builder.add_edge("end", END)
    app = builder.compile()
    return lambda inputs: app.invoke({"text": inputs["text"], "outputs": {}})["outputs"]


BUILDERS: dict[str, Build] = {"W1": _chain, "W2": _branch, "W3": _fan_out}


def make_engine(workload: Mapping[str, Any]) -> harness.Engine:
    run_one = BUILDERS[workload["name"]](workload["graph"])
    return harness.Engine(run_one, harness.cycling_batch(run_one, workload["inputs"]))


if __name__ == "__main__":
    harness.serve("langgraph", version("langgraph"), make_engine)
