"""Static checks at import time: each problem is refused with the JSON path of what is
wrong, before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from plait.engine.dsl import DslError
from plait.engine.workflow import compile_workflow


def build(nodes: list[dict[str, Any]], edges: list[tuple[str, str]], **workflow: Any) -> dict[str, Any]:
    return {
        "graph": {
            "nodes": [{"id": node_id, "data": data} for node_id, data in nodes],
            "edges": [{"id": f"{s}-{t}", "source": s, "target": t} for s, t in edges],
        },
        **workflow,
    }


START = ("start", {"type": "start", "variables": [{"variable": "q", "type": "text-input"}]})


def end(*selector: str) -> tuple[str, dict[str, Any]]:
    return ("end", {"type": "end", "outputs": [{"variable": "o", "value_selector": list(selector)}]})


@pytest.mark.parametrize(
    ("workflow", "path", "words"),
    [
        (
            build([START, ("x", {"type": "teleport"})], [("start", "x")]),
            "$.workflow.graph.nodes[1].data.type",
            "unknown node type",
        ),
        (
            build([START, end("start", "q")], [("start", "ghost")]),
            "$.workflow.graph.edges[0]",
            "'ghost', which does not exist",
        ),
        (build([end("start", "q")], []), "$.workflow.graph.nodes", "no start node"),
        (build([START, ("s2", {"type": "start"})], []), "$.workflow.graph.nodes", "several start nodes"),
        (build([START, end("ghost", "text")], [("start", "end")]), "$.workflow.graph.nodes[1].data", "ghost"),
        (
            build(
                [
                    START,
                    end("start", "q"),
                    (
                        "t",
                        {
                            "type": "template-transform",
                            "template": "",
                            "variables": [{"variable": "v", "value_selector": ["end", "nope"]}],
                        },
                    ),
                ],
                [("start", "end"), ("start", "t")],
            ),
            "$.workflow.graph.nodes[2].data",
            "no output 'nope'",
        ),
        (
            build([START, end("env", "API_KEY")], [("start", "end")]),
            "$.workflow.graph.nodes[1].data",
            "environment variable 'API_KEY'",
        ),
        (
            build([START, end("conversation", "memo")], [("start", "end")]),
            "$.workflow.graph.nodes[1].data",
            "conversation variable 'memo'",
        ),
        (
            build(
                [
                    START,
                    ("a", {"type": "template-transform", "template": "a"}),
                    ("b", {"type": "template-transform", "template": "b"}),
                ],
                [("start", "a"), ("a", "b"), ("b", "a")],
            ),
            "$.workflow.graph.nodes[1]",
            "cycle",
        ),
        (
            build(
                [
                    START,
                    (
                        "if",
                        {
                            "type": "if-else",
                            "cases": [
                                {
                                    "case_id": "c",
                                    "conditions": [
                                        {
                                            "variable_selector": ["start", "q"],
                                            "comparison_operator": "resembles",
                                            "value": "x",
                                        }
                                    ],
                                }
                            ],
                        },
                    ),
                ],
                [("start", "if")],
            ),
            "$.workflow.graph.nodes[1].data.cases.0.conditions.0",
            "unknown comparison operator",
        ),
    ],
    ids=[
        "unknown-type",
        "dangling-edge",
        "no-start",
        "two-starts",
        "missing-node",
        "missing-output",
        "missing-env",
        "missing-conversation-variable",
        "cycle",
        "bad-operator",
    ],
)
def test_problems_are_refused_with_their_path(workflow: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(DslError) as raised:
        compile_workflow(workflow, mode="workflow")
    assert raised.value.path == path
    assert words in raised.value.message


def test_an_edge_may_not_cross_into_a_container() -> None:
    workflow = build(
        [
            START,
            ("it", {"type": "iteration", "iterator_selector": ["start", "q"], "start_node_id": "its"}),
            ("its", {"type": "iteration-start", "isInIteration": True, "iteration_id": "it"}),
        ],
        [("start", "its")],
    )
    with pytest.raises(DslError, match="border of an iteration or loop"):
        compile_workflow(workflow, mode="workflow")


def test_declared_variables_and_reserved_owners_resolve() -> None:
    workflow = build(
        [
            START,
            (
                "end",
                {
                    "type": "end",
                    "outputs": [
                        {"variable": "a", "value_selector": ["env", "API_KEY"]},
                        {"variable": "b", "value_selector": ["conversation", "memo"]},
                        {"variable": "c", "value_selector": ["sys", "query"]},
                    ],
                },
            ),
        ],
        [("start", "end")],
        environment_variables=[{"name": "API_KEY", "value": "k", "value_type": "secret"}],
        conversation_variables=[{"name": "memo", "value": "", "value_type": "string"}],
    )
    graph = compile_workflow(workflow, mode="workflow")
    assert graph.environment == {"API_KEY": "k"}
    assert graph.conversation_defaults == {"memo": ""}


def test_plugin_tools_import_with_a_warning() -> None:
    tool = {"type": "tool", "provider_id": "acme/search/search", "provider_type": "builtin", "tool_name": "web"}
    graph = compile_workflow(build([START, ("tool", tool)], [("start", "tool")]), mode="workflow")
    assert any("acme/search/search/web" in warning for warning in graph.warnings)


def test_sticky_notes_are_ignored() -> None:
    workflow = build([START, end("start", "q")], [("start", "end")])
    workflow["graph"]["nodes"].append({"id": "note", "type": "custom-note", "data": {"text": "remember"}})
    assert set(compile_workflow(workflow, mode="workflow").nodes) == {"start", "end"}
