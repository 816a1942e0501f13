"""The HTTP request node through Plait's real egress client, against a server on loopback:
requests are built from templates, and the default policy refuses this machine's addresses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from plait.egress import Egress, EgressPolicy
from plait.engine.runtime import WorkflowRun
from plait.engine.services import Services
from plait.engine.workflow import compile_workflow
from plait.events import WorkflowFinished


class Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.received.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        payload = json.dumps({"echo": body, "path": self.path}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Recorder.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def workflow(url: str, **http: Any) -> dict[str, Any]:
    return {
        "graph": {
            "nodes": [
                {"id": "start", "data": {"type": "start", "variables": [{"variable": "name", "type": "text-input"}]}},
                {"id": "http", "data": {"type": "http-request", "url": url, **http}},
                {
                    "id": "end",
                    "data": {
                        "type": "end",
                        "outputs": [
                            {"variable": "status", "value_selector": ["http", "status_code"]},
                            {"variable": "body", "value_selector": ["http", "body"]},
                        ],
                    },
                },
            ],
            "edges": [{"source": "start", "target": "http"}, {"source": "http", "target": "end"}],
        }
    }


async def run(definition: dict[str, Any], policy: EgressPolicy) -> WorkflowFinished:
    async with Egress(policy) as egress:
        graph = compile_workflow(definition, mode="workflow")
        services = Services(http=lambda _node_id: egress)
        events = [event async for event in WorkflowRun(graph, inputs={"name": "ada"}, services=services).events()]
    finished = events[-1]
    assert isinstance(finished, WorkflowFinished)
    return finished


async def test_a_request_is_built_from_templates_and_sent(server: str) -> None:
    definition = workflow(
        server + "/users/{{#start.name#}}",
        method="post",
        headers="X-Team:{{#start.name#}}-team",
        params="verbose:1",
        body={"type": "json", "data": '{"name": "{{#start.name#}}"}'},
        authorization={"type": "api-key", "config": {"type": "bearer", "api_key": "k-123"}},
    )
    finished = await run(definition, EgressPolicy(allow_loopback=True))
    assert finished.status == "succeeded", finished.error
    assert finished.outputs["status"] == 201
    assert json.loads(finished.outputs["body"]) == {"echo": '{"name": "ada"}', "path": "/users/ada?verbose=1"}
    sent = Recorder.received[0]
    assert sent["method"] == "POST"
    assert sent["headers"]["X-Team"] == "ada-team"
    assert sent["headers"]["Authorization"] == "Bearer k-123"


async def test_the_default_policy_refuses_this_machine(server: str) -> None:
    finished = await run(workflow(server + "/"), EgressPolicy())
    assert finished.status == "failed"
    assert "127.0.0.1" in (finished.error or "")
    assert Recorder.received == []


async def test_a_refused_request_takes_the_default_value(server: str) -> None:
    definition = workflow(
        server + "/",
        error_strategy="default-value",
        default_value=[{"key": "status_code", "type": "number", "value": 599}, {"key": "body", "value": "denied"}],
    )
    finished = await run(definition, EgressPolicy())
    assert finished.status == "partial-succeeded"
    assert finished.outputs == {"status": 599, "body": "denied"}
    assert Recorder.received == []
