"""graphon 0.8.0 peer (Dify's own workflow engine), driven with its default configuration.

Run with ``bench/.venvs/graphon/bin/python`` (Python 3.12); speaks the harness protocol on
stdin/stdout. The workload's DSL dict is read once with ``graphon.dsl.inspect`` (graphon's own
DSL reader: kind ``graph``, normalisation, supported-node check), playing the part of Plait's
compile-once. Every run then does what ``graphon.dsl.loads`` does after reading the text, and
what Dify does per run: a fresh variable pool seeded with the start inputs, ``InitParams``,
``RuntimeState``, ``SlimDslNodeFactory`` (default Jinja2 renderer, in-process), ``Graph.init``
and an ``Engine`` with the default 5 worker threads, whose ``run()`` generator is drained to
``GraphRunSucceededEvent``. Graph and engine are single-use in graphon, so they cannot be
built once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import harness
from graphon.dsl import DslImportPlan, LoadStatus, SlimDslNodeFactory, inspect
from graphon.dsl.entities import DslCredentials
from graphon.engine import Engine
from graphon.engine_events.graph import GraphRunSucceededEvent
from graphon.graph.graph import Graph
from graphon.runtime.init_params import InitParams
from graphon.runtime.runtime_state import RuntimeState
from graphon.runtime.variable_pool import VariablePool


def _plan(graph: Mapping[str, Any]) -> tuple[DslImportPlan, str]:
    """Read the DSL once (JSON is YAML) and find the start node, as ``loads`` would."""
    plan = inspect(json.dumps({"kind": "graph", "graph": graph}))
    if plan.load_status != LoadStatus.LOADABLE or plan.document.graph_config is None:
        raise RuntimeError(f"graphon cannot load this graph: {plan.load_reason}")
    starts = [node["id"] for node in plan.document.graph_config["nodes"] if node["data"]["type"] == "start"]
    return plan, starts[0]


def _run(plan: DslImportPlan, root: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """One run: build graph and engine from the read DSL, run, return the workflow outputs."""
    graph_config = plan.document.graph_config
    assert graph_config is not None
    workflow_id = str(uuid.uuid4())
    pool = VariablePool()
    for key, value in inputs.items():  # as graphon.dsl.importer._build_variable_pool
        pool.add((root, key), value)
        pool.add(("sys", key), value)
    state = RuntimeState(variable_pool=pool, start_at=time.time(), workflow_id=workflow_id)
    init_params = InitParams(workflow_id=workflow_id, graph_config=graph_config, run_context={}, call_depth=0)
    factory = SlimDslNodeFactory(
        graph_config=graph_config,
        init_params=init_params,
        runtime_state=state,
        credentials=DslCredentials(),
        dependencies=list(plan.dependencies),
    )
    graph = Graph.init(graph_config=graph_config, node_factory=factory, root_node_id=root)
    last = None
    for event in Engine(graph=graph, runtime_state=state).run():
        last = event
    if not isinstance(last, GraphRunSucceededEvent):
        raise RuntimeError(f"run did not succeed: {last!r}")
    return dict(last.outputs)


def make_engine(workload: Mapping[str, Any]) -> harness.Engine:
    plan, root = _plan(workload["graph"])

    def run_one(inputs: dict[str, Any]) -> dict[str, Any]:
        return _run(plan, root, inputs)

    return harness.Engine(run_one, harness.cycling_batch(run_one, workload["inputs"]))


if __name__ == "__main__":
    harness.serve("graphon", version("graphon"), make_engine)
