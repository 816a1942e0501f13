"""Secret environment variables: usable by nodes, never shown in what a run reports for its
logs (node inputs and process data), and left out of DSL exports."""

from __future__ import annotations

import json
from typing import Any

import yaml

from plait.app.apps import Apps
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.engine.runtime import WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.events import NodeFinished, WorkflowFinished

SECRET = "sk-live-5f1d2c3b4a"
WORKFLOW: dict[str, Any] = {
    "environment_variables": [
        {"name": "API_KEY", "value": SECRET, "value_type": "secret"},
        {"name": "REGION", "value": "eu", "value_type": "string"},
    ],
    "conversation_variables": [],
    "features": {},
    "graph": {
        "nodes": [
            {"id": "start", "data": {"type": "start", "variables": []}},
            {
                "id": "t",
                "data": {
                    "type": "template-transform",
                    "template": "key={{ k }} region={{ r }}",
                    "variables": [
                        {"variable": "k", "value_selector": ["env", "API_KEY"]},
                        {"variable": "r", "value_selector": ["env", "REGION"]},
                    ],
                },
            },
            {"id": "end", "data": {"type": "end", "outputs": [{"variable": "len", "value_selector": ["t", "output"]}]}},
        ],
        "edges": [{"source": "start", "target": "t"}, {"source": "t", "target": "end"}],
    },
}


async def test_secrets_reach_nodes_but_not_the_logged_inputs() -> None:
    graph = compile_workflow(WORKFLOW, mode="workflow")
    events = [event async for event in WorkflowRun(graph, inputs={}, services=Services()).events()]
    finished = events[-1]
    assert isinstance(finished, WorkflowFinished)
    assert finished.outputs == {"len": f"key={SECRET} region=eu"}  # the node used the real value
    template = next(e for e in events if isinstance(e, NodeFinished) and e.node_id == "t")
    assert SECRET not in json.dumps(template.inputs)
    assert template.inputs == {"k": "******", "r": "eu"}


async def test_exports_leave_secret_values_out(plait: Plait) -> None:
    owner = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    document = {"version": "0.6.0", "kind": "app", "app": {"name": "Keys", "mode": "workflow"}, "workflow": WORKFLOW}
    apps: Apps = plait.apps
    result = await apps.import_dsl(owner.workspace_id, CLI, yaml.safe_dump(document))
    exported = yaml.safe_load(await apps.export_dsl(owner.workspace_id, result.app_id))
    variables = {var["name"]: var["value"] for var in exported["workflow"]["environment_variables"]}
    assert variables == {"API_KEY": "", "REGION": "eu"}
    with_secrets = yaml.safe_load(await apps.export_dsl(owner.workspace_id, result.app_id, include_secrets=True))
    assert {var["name"]: var["value"] for var in with_secrets["workflow"]["environment_variables"]}["API_KEY"] == SECRET
