"""Schemathesis against Plait's own OpenAPI document: every operation of the Service and
console APIs, with generated requests that fit the schema and requests that break it, sent
with real app keys and a real console session. No request may get a 5xx, and every error
reply must be Dify's envelope ``{code, message, status}``.

Bounded and repeatable: a fixed number of examples per operation and generation mode,
derandomized (the same requests every run), no example database, and a time budget.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisException
from schemathesis import Case, GenerationMode

from plait.app.audit import CLI
from plait.app.bootstrap import Plait

from .test_service_chat import CHATFLOW
from .test_service_simple_apps import COMPLETION_APP
from .test_service_workflows import WORKFLOW_APP, Published, publish

EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 3}
BUDGET_SECONDS = 120
# Operations that would end the run's own session or app, not find bugs: covered elsewhere.
SKIPPED = {
    ("POST", "/console/api/logout"),
    ("DELETE", "/console/api/apps/{app_id}"),
    ("DELETE", "/v1/datasets/{dataset_id}"),
    ("DELETE", "/console/api/datasets/{dataset_id}"),
}
# Which app a path's operations act on (app keys for /v1, path ids for the console).
WORKFLOW_PATHS = ("/v1/workflows", "/v1/workflow/", "/workflow-app-logs", "/workflow-runs")
COMPLETION_PATHS = ("/v1/completion-messages", "/completion-conversations")


def _app_for(path: str, apps: dict[str, Published]) -> Published:
    if any(marker in path for marker in WORKFLOW_PATHS):
        return apps["workflow"]
    if any(marker in path for marker in COMPLETION_PATHS):
        return apps["completion"]
    return apps["chatflow"]


def _cases(operation: Any, mode: GenerationMode, count: int, path_parameters: dict[str, str]) -> list[Case]:
    found: list[Case] = []
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Case) -> None:
        found.append(case)

    with contextlib.suppress(HypothesisException):  # nothing to negate in an operation without parameters
        collect()
    return found[:count]


def _request(case: Case, headers: dict[str, str]) -> dict[str, Any]:
    """The case as keyword arguments for httpx (Schemathesis serialises for requests)."""
    sent = case.as_transport_kwargs(base_url="http://plait.test")
    request: dict[str, Any] = {
        "method": sent["method"],
        "url": sent["url"],
        "params": sent.get("params"),
        "headers": {**{key: str(value) for key, value in (sent.get("headers") or {}).items()}, **headers},
    }
    if "json" in sent:
        request["json"] = sent["json"]
    elif isinstance(sent.get("data"), bytes | str):
        request["content"] = sent["data"]
    elif sent.get("data") is not None:
        request["data"] = sent["data"]
    if sent.get("files"):
        request["files"] = sent["files"]
    return request


def _problem(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"status {response.status_code}: {response.text[:300]}"
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"status {response.status_code} without a JSON body: {response.text[:300]}"
    if not (
        isinstance(body, dict)
        and isinstance(body.get("code"), str)
        and isinstance(body.get("message"), str)
        and body.get("status") == response.status_code
    ):
        return f"status {response.status_code} outside Dify's envelope: {body}"
    return None


@pytest.fixture
async def apps(client: httpx.AsyncClient, plait: Plait, owner_token: str) -> dict[str, Published]:
    workspace_id = (
        await client.get("/console/api/workspaces/current", headers={"Authorization": f"Bearer {owner_token}"})
    ).json()["id"]
    published = {
        "chatflow": await publish(plait, CHATFLOW, workspace_id),
        "workflow": await publish(plait, WORKFLOW_APP, workspace_id),
        "completion": await publish(plait, COMPLETION_APP, workspace_id),
    }
    # Something to find: a conversation and a run.
    await client.post(
        "/v1/chat-messages", headers=published["chatflow"].auth, json={"query": "hi", "inputs": {}, "user": "u"}
    )
    await client.post(
        "/v1/workflows/run", headers=published["workflow"].auth, json={"inputs": {"name": "A"}, "user": "u"}
    )
    return published


@pytest.fixture
async def knowledge(client: httpx.AsyncClient, plait: Plait, apps: dict[str, Published]) -> tuple[dict[str, str], str]:
    """A ``ds-`` key and a dataset with an indexed document, for the Knowledge API's paths."""
    key = await plait.keys.create(apps["chatflow"].workspace_id, CLI, kind="dataset")
    auth = {"Authorization": f"Bearer {key.token}"}
    dataset = (await client.post("/v1/datasets", headers=auth, json={"name": "Fuzzed"})).json()
    await client.post(
        f"/v1/datasets/{dataset['id']}/document/create-by-text",
        headers=auth,
        json={"name": "Doc", "text": "Something to find.", "indexing_technique": "high_quality"},
    )
    await plait.indexing.queue.drain()
    return auth, dataset["id"]


async def test_no_request_gets_a_server_error(
    client: httpx.AsyncClient, owner_token: str, apps: dict[str, Published], knowledge: tuple[dict[str, str], str]
) -> None:
    dataset_auth, dataset_id = knowledge
    document = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    started = time.monotonic()
    problems: list[str] = []
    sent = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        method, path = operation.method.upper(), operation.path
        if (method, path) in SKIPPED or not path.startswith(("/v1", "/console/api")):
            continue
        app = _app_for(path, apps)
        headers = app.auth if path.startswith("/v1") else {"Authorization": f"Bearer {owner_token}"}
        if path.startswith("/v1/datasets"):
            headers = dataset_auth
        path_parameters = {"app_id": app.app_id} if "{app_id}" in path else {}
        if "{dataset_id}" in path:
            path_parameters["dataset_id"] = dataset_id
        for mode, count in EXAMPLES.items():
            if not mode.is_positive and not (len(operation.query) or len(operation.body)):
                continue  # a free-form path string cannot be made invalid; Hypothesis would search in vain
            for case in _cases(operation, mode, count, path_parameters):
                response = await client.request(**_request(case, headers))
                sent += 1
                problem = _problem(response)
                if problem:
                    problems.append(f"{method} {path} ({mode.value}) {response.request.url}: {problem}")
        assert time.monotonic() - started < BUDGET_SECONDS, f"over the time budget after {sent} requests"
    assert sent > len(operations)  # every operation got requests, most of them several
    assert problems == [], "\n".join(problems)
