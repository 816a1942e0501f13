"""A workspace's own tool providers through the console, then called by workflow tool nodes:
an OpenAPI provider against a real API on loopback (what it received, the key sealed at
rest and masked when read), an MCP server (listed by connecting, called from a workflow),
isolation between workspaces, roles, and the egress guard on a provider's server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plait.app.bootstrap import Plait
from plait.app.run_files import RunFiles
from plait.storage.db.tables import CustomToolProvider
from plait.storage.files import LocalFileStore
from tests.api.tool_workflows import TOOLS, auth, member, owner_session, publish, run, tool_node, workflow
from tests.conftest import StartPlait
from tests.tools.servers import serving

LOOPBACK = {"PLAIT_EGRESS_ALLOW_LOOPBACK": "true"}
API_KEY = "pet-key-0123456789"
REPORT = b"pet,age\nRex,3\n"
RECEIVED: list[dict[str, Any]] = []
MCP_HEADERS: list[dict[str, str]] = []


async def pet(request: Request) -> Response:
    RECEIVED.append({"path": request.url.path, "query": dict(request.query_params), "headers": dict(request.headers)})
    return JSONResponse({"id": int(request.path_params["pet_id"]), "name": "Rex"})


async def order(request: Request) -> Response:
    body = await request.json()
    RECEIVED.append({"path": request.url.path, "body": body, "headers": dict(request.headers)})
    return JSONResponse({"ordered": body["quantity"]}, status_code=201)


async def report(request: Request) -> Response:
    RECEIVED.append({"path": request.url.path, "headers": dict(request.headers)})
    return Response(REPORT, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="r.csv"'})


async def page(request: Request) -> Response:
    html = (
        "<html><head><title>T</title><script>x()</script></head><body><h1>Pets</h1><p>Rex &amp; Tom</p></body></html>"
    )
    return Response(html, media_type="text/html")


@pytest.fixture(scope="module")
def pet_api() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/v1/pets/{pet_id}", pet, methods=["GET"]),
            Route("/v1/orders", order, methods=["POST"]),
            Route("/v1/report", report, methods=["GET"]),
            Route("/page", page),
        ]
    )
    with serving(app) as base:
        yield base


def pet_schema(base: str) -> str:
    return json.dumps(
        {
            "openapi": "3.0.0",
            "info": {"title": "Pets", "description": "A pet shop.", "version": "1"},
            "servers": [{"url": f"{base}/v1"}],
            "paths": {
                "/pets/{pet_id}": {
                    "get": {
                        "operationId": "getPet",
                        "summary": "One pet.",
                        "parameters": [
                            {"name": "pet_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                            {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                        ],
                    }
                },
                "/report": {"get": {"operationId": "getReport", "summary": "A CSV report."}},
                "/orders": {
                    "post": {
                        "operationId": "placeOrder",
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"quantity": {"type": "integer"}},
                                        "required": ["quantity"],
                                    }
                                }
                            },
                        },
                    }
                },
            },
        }
    )


def api_provider(base: str, **overrides: Any) -> dict[str, Any]:
    return {
        "provider": "petstore",
        "schema_type": "openapi",
        "schema": pet_schema(base),
        "credentials": {
            "auth_type": "api_key_header",
            "api_key_header": "X-Api-Key",
            "api_key_header_prefix": "custom",
            "api_key_value": API_KEY,
        },
        "headers": {"X-Team": "team-secret-42"},
        "icon": {"background": "#fff", "content": "🐶"},
        "privacy_policy": "https://example.com/privacy",
        "custom_disclaimer": "",
        "labels": ["pets"],
        **overrides,
    }


PET_WORKFLOW = workflow(
    "Pet lookup",
    ["pet"],
    [
        tool_node(
            "lookup", "api", "petstore", "getPet", pet_id={"type": "mixed", "value": "{{#start.pet#}}"}, verbose=True
        )
    ],
    {"pet": ["lookup", "json"], "text": ["lookup", "text"]},
)


async def test_an_openapi_provider_is_saved_sealed_and_called_from_a_workflow(
    start_plait: StartPlait, pet_api: str
) -> None:
    plait, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    added = await http.post(f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=api_provider(pet_api))
    assert added.status_code == 200, added.text

    # At rest, every secret is sealed; nothing holds the key in clear.
    async with plait.db.reader() as session:
        row = (await session.execute(select(CustomToolProvider))).scalar_one()
    assert row.provider_type == "api"
    assert row.config["credentials"]["api_key_value"].startswith("plait:v1:")
    assert row.config["headers"]["X-Team"].startswith("plait:v1:")
    assert API_KEY not in json.dumps(row.config)

    # Read back, masked.
    shown = (
        await http.get(f"{TOOLS}/tool-provider/api/get", headers=auth(token), params={"provider": "petstore"})
    ).json()
    masked_key = shown["credentials"]["api_key_value"]
    assert masked_key != API_KEY
    assert masked_key.startswith(API_KEY[:6])
    assert "*" in masked_key
    assert shown["headers"]["X-Team"] != "team-secret-42"
    assert shown["credentials"]["api_key_header"] == "X-Api-Key"
    assert [tool["name"] for tool in shown["tools"]] == ["getPet", "getReport", "placeOrder"]
    assert shown["description"]["en_US"] == "A pet shop."

    RECEIVED.clear()
    _, key = await publish(http, token, PET_WORKFLOW)
    data = await run(http, key, {"pet": "7"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["pet"] == [{"id": 7, "name": "Rex"}]
    (seen,) = RECEIVED
    assert seen["path"] == "/v1/pets/7"
    assert seen["query"] == {"verbose": "true"}
    assert seen["headers"]["x-api-key"] == API_KEY
    assert seen["headers"]["x-team"] == "team-secret-42"

    # Sending back the masked values keeps the stored secrets.
    update = api_provider(pet_api, original_provider="petstore", labels=["pets", "shop"])
    update["credentials"] = {**update["credentials"], "api_key_value": masked_key}
    update["headers"] = {"X-Team": shown["headers"]["X-Team"]}
    updated = await http.post(f"{TOOLS}/tool-provider/api/update", headers=auth(token), json=update)
    assert updated.status_code == 200, updated.text
    RECEIVED.clear()
    assert (await run(http, key, {"pet": "8"}))["status"] == "succeeded"
    assert RECEIVED[0]["headers"]["x-api-key"] == API_KEY
    assert RECEIVED[0]["headers"]["x-team"] == "team-secret-42"
    async with plait.db.reader() as session:
        row = (await session.execute(select(CustomToolProvider))).scalar_one()
    assert row.config["labels"] == ["pets", "shop"]

    # A provider is also named by its id, and its tools are listed for the console.
    listed = (await http.get(f"{TOOLS}/tool-providers", headers=auth(token))).json()
    mine = next(p for p in listed if p["type"] == "api")
    assert (mine["id"], mine["name"]) == (row.id, "petstore")
    assert {"time", "maths", "json_process", "webscraper"} <= {p["name"] for p in listed if p["type"] == "builtin"}
    order_flow = workflow(
        "Order", [], [tool_node("buy", "api", row.id, "placeOrder", quantity="3")], {"r": ["buy", "json"]}
    )
    _, order_key = await publish(http, token, order_flow)
    RECEIVED.clear()
    assert (await run(http, order_key))["outputs"] == {"r": [{"ordered": 3}]}
    assert RECEIVED[0]["body"] == {"quantity": 3}


async def test_a_file_a_tool_returns_is_stored_as_a_tool_file(start_plait: StartPlait, pet_api: str) -> None:
    plait, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    assert (
        await http.post(f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=api_provider(pet_api))
    ).is_success
    document = workflow("Report", [], [tool_node("get", "api", "petstore", "getReport")], {"files": ["get", "files"]})
    _, key = await publish(http, token, document)
    data = await run(http, key)
    assert data["status"] == "succeeded", data["error"]
    (file,) = data["outputs"]["files"]
    assert file["dify_model_identity"] == "__dify__file__"
    assert (file["transfer_method"], file["filename"], file["extension"]) == ("tool_file", "r.csv", ".csv")
    assert (file["mime_type"], file["size"], file["type"]) == ("text/csv", len(REPORT), "document")
    # The bytes are in the file store, readable by later nodes as any file of the workspace.
    workspace_id = (await http.get("/console/api/workspaces/current", headers=auth(token))).json()["id"]
    assert file["tenant_id"] == workspace_id
    files = RunFiles(plait.db, LocalFileStore(Path(plait.settings.data_dir) / "files"), plait.egress, max_bytes=1024)
    assert await files.reader(workspace_id).read(file) == REPORT


async def test_the_webscraper_reads_pages_with_the_document_parsers_html_extractor(
    start_plait: StartPlait, pet_api: str
) -> None:
    _, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    document = workflow(
        "Scrape",
        [],
        [tool_node("scrape", "builtin", "webscraper", "webscraper", url=f"{pet_api}/page")],
        {"t": ["scrape", "text"]},
    )
    _, key = await publish(http, token, document)
    data = await run(http, key)
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["t"] == "# Pets\n\nRex & Tom"


async def test_schemas_are_checked_when_saved_and_can_be_tried_first(start_plait: StartPlait, pet_api: str) -> None:
    _, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    broken = json.loads(pet_schema(pet_api))
    broken["paths"]["/pets/{pet_id}"]["get"]["parameters"] = []
    refused = await http.post(
        f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=api_provider(pet_api, schema=json.dumps(broken))
    )
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "invalid_param"
    assert body["params"] == "schema"
    assert "paths./pets/{pet_id}.get.parameters" in body["message"]
    assert "'pet_id' is not declared" in body["message"]
    no_key = api_provider(pet_api, credentials={"auth_type": "api_key_header", "api_key_value": ""})
    refused = await http.post(f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=no_key)
    assert refused.status_code == 400
    assert refused.json()["params"] == "credentials.api_key_value"

    parsed = await http.post(
        f"{TOOLS}/tool-provider/api/schema", headers=auth(token), json={"schema": pet_schema(pet_api)}
    )
    assert parsed.status_code == 200, parsed.text
    operations = parsed.json()["parameters_schema"]
    assert [(o["operation_id"], o["method"]) for o in operations] == [
        ("getPet", "get"),
        ("getReport", "get"),
        ("placeOrder", "post"),
    ]
    assert operations[0]["parameters"][0]["name"] == "pet_id"

    RECEIVED.clear()
    tried = await http.post(
        f"{TOOLS}/tool-provider/api/test/pre",
        headers=auth(token),
        json={
            "tool_name": "getPet",
            "credentials": api_provider(pet_api)["credentials"],
            "parameters": {"pet_id": 3},
            "schema_type": "openapi",
            "schema": pet_schema(pet_api),
        },
    )
    assert tried.status_code == 200, tried.text
    assert json.loads(tried.json()["result"]) == {"id": 3, "name": "Rex"}
    assert RECEIVED[0]["headers"]["x-api-key"] == API_KEY
    missing = await http.post(
        f"{TOOLS}/tool-provider/api/test/pre",
        headers=auth(token),
        json={"tool_name": "getPet", "provider_name": "not-saved-yet", "parameters": {}, "schema": pet_schema(pet_api)},
    )
    assert "parameter 'pet_id' is required" in missing.json()["error"]

    # Trying a saved provider's operation with its masked key uses the stored key.
    assert (
        await http.post(f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=api_provider(pet_api))
    ).is_success
    shown = (
        await http.get(f"{TOOLS}/tool-provider/api/get", headers=auth(token), params={"provider": "petstore"})
    ).json()
    RECEIVED.clear()
    tried = await http.post(
        f"{TOOLS}/tool-provider/api/test/pre",
        headers=auth(token),
        json={
            "tool_name": "getPet",
            "provider_name": "petstore",
            "credentials": shown["credentials"],
            "parameters": {"pet_id": 4},
            "schema": pet_schema(pet_api),
        },
    )
    assert json.loads(tried.json()["result"])["id"] == 4
    assert RECEIVED[0]["headers"]["x-api-key"] == API_KEY


def mcp_app() -> Any:
    server = MCPServer("plait-tools-test")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @server.tool(description="Greet someone.")
    def greet(name: str) -> str:
        return f"Hello, {name}!"

    app = server.streamable_http_app()

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            MCP_HEADERS.append({key.decode(): value.decode() for key, value in scope["headers"]})
        await app(scope, receive, send)

    return asgi


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with serving(mcp_app()) as base:
        yield f"{base}/mcp"


async def test_an_mcp_server_is_listed_by_connecting_and_called_from_a_workflow(
    start_plait: StartPlait, mcp_url: str
) -> None:
    plait, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    MCP_HEADERS.clear()
    added = await http.post(
        f"{TOOLS}/tool-provider/mcp",
        headers=auth(token),
        json={
            "name": "Calculator",
            "server_url": mcp_url,
            "server_identifier": "calc",
            "headers": {"Authorization": "Bearer mcp-token-123456"},
            "timeout": 10,
        },
    )
    assert added.status_code == 200, added.text
    provider = added.json()
    assert MCP_HEADERS == []  # saving connects nowhere
    assert provider["type"] == "mcp"
    assert provider["tools"] == []
    assert provider["server_url"].endswith("/******")
    assert provider["headers"]["Authorization"] != "Bearer mcp-token-123456"
    async with plait.db.reader() as session:
        row = (await session.execute(select(CustomToolProvider))).scalar_one()
    assert row.config["server_url"].startswith("plait:v1:")
    assert row.config["headers"]["Authorization"].startswith("plait:v1:")

    add = tool_node("add", "mcp", "calc", "add", a={"type": "mixed", "value": "{{#start.a#}}"}, b=3)
    adder = workflow("MCP adder", ["a"], [add], {"sum": ["add", "json"], "text": ["add", "text"]})
    _, key = await publish(http, token, adder)
    assert MCP_HEADERS == []  # nor does importing and publishing a workflow that uses it

    listed = await http.get(f"{TOOLS}/tool-provider/mcp/tools/{provider['id']}", headers=auth(token))
    assert listed.status_code == 200, listed.text
    tools = {tool["name"]: tool for tool in listed.json()}
    assert set(tools) == {"add", "greet"}
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert MCP_HEADERS
    assert all(headers.get("authorization") == "Bearer mcp-token-123456" for headers in MCP_HEADERS)
    # The listing is kept, so the providers list shows it without connecting.
    providers = (await http.get(f"{TOOLS}/tool-providers", headers=auth(token))).json()
    assert {t["name"] for t in next(p for p in providers if p["type"] == "mcp")["tools"]} == {"add", "greet"}

    # Updating with the masked URL and header keeps them.
    kept = await http.put(
        f"{TOOLS}/tool-provider/mcp",
        headers=auth(token),
        json={
            "provider_id": provider["id"],
            "name": "Calculator",
            "server_url": provider["server_url"],
            "server_identifier": "calc",
            "headers": provider["headers"],
            "timeout": 10,
        },
    )
    assert kept.status_code == 200, kept.text

    MCP_HEADERS.clear()
    data = await run(http, key, {"a": "2"})
    assert data["status"] == "succeeded", data["error"]
    assert data["outputs"]["sum"] == [{"sum": 5}]
    assert all(headers.get("authorization") == "Bearer mcp-token-123456" for headers in MCP_HEADERS)

    deleted = await http.request(
        "DELETE", f"{TOOLS}/tool-provider/mcp", headers=auth(token), json={"provider_id": provider["id"]}
    )
    assert deleted.status_code == 200
    gone = await run(http, key, {"a": "2"})
    assert gone["status"] == "failed"
    assert "no MCP tool provider 'calc'" in gone["error"]


async def test_another_workspaces_providers_are_invisible_and_uncallable(
    start_plait: StartPlait, pet_api: str, mcp_url: str
) -> None:
    plait, http = await start_plait(**LOOPBACK)
    token = await owner_session(http)
    assert (
        await http.post(f"{TOOLS}/tool-provider/api/add", headers=auth(token), json=api_provider(pet_api))
    ).status_code == 200
    mcp = await http.post(f"{TOOLS}/tool-provider/mcp", headers=auth(token), json={"name": "m", "server_url": mcp_url})
    mcp_id = mcp.json()["id"]
    async with plait.db.reader() as session:
        pet_id = (
            await session.execute(select(CustomToolProvider.id).where(CustomToolProvider.provider_type == "api"))
        ).scalar_one()

    other = await member(plait, http, "other@example.com", "owner")
    listed = (await http.get(f"{TOOLS}/tool-providers", headers=auth(other))).json()
    assert {p["type"] for p in listed} == {"builtin"}
    for path, params in (
        ("tool-provider/api/get", {"provider": "petstore"}),
        ("tool-provider/api/get", {"provider": pet_id}),
        ("tool-provider/api/tools", {"provider": "petstore"}),
    ):
        response = await http.get(f"{TOOLS}/{path}", headers=auth(other), params=params)
        assert response.status_code == 404, (path, response.text)
    assert (await http.get(f"{TOOLS}/tool-provider/mcp/tools/{mcp_id}", headers=auth(other))).status_code == 404
    deleted = await http.post(f"{TOOLS}/tool-provider/api/delete", headers=auth(other), json={"provider": "petstore"})
    assert deleted.status_code == 404

    RECEIVED.clear()
    stolen = workflow("Stolen", [], [tool_node("lookup", "api", pet_id, "getPet", pet_id=1)], {"r": ["lookup", "json"]})
    _, key = await publish(http, other, stolen)
    data = await run(http, key)
    assert data["status"] == "failed"
    assert "no API tool provider" in data["error"]
    assert RECEIVED == []
    # Still there for its own workspace.
    assert (
        await http.get(f"{TOOLS}/tool-provider/api/get", headers=auth(token), params={"provider": "petstore"})
    ).status_code == 200


async def test_only_editors_change_tool_providers(plait: Plait, client: httpx.AsyncClient, owner_token: str) -> None:
    workspace_id = (await client.get("/console/api/workspaces/current", headers=auth(owner_token))).json()["id"]
    reader = await member(plait, client, "reader@example.com", "normal", workspace_id)
    editor = await member(plait, client, "editor@example.com", "editor", workspace_id)
    body = api_provider("http://127.0.0.1:9")
    refused = await client.post(f"{TOOLS}/tool-provider/api/add", headers=auth(reader), json=body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    mcp = {"name": "m", "server_url": "http://127.0.0.1:9/mcp"}
    assert (await client.post(f"{TOOLS}/tool-provider/mcp", headers=auth(reader), json=mcp)).status_code == 403
    assert (await client.get(f"{TOOLS}/tool-providers", headers=auth(reader))).status_code == 200
    builtin = await client.get(f"{TOOLS}/tool-provider/builtin/langgenius/time/time/tools", headers=auth(reader))
    assert "current_time" in [tool["name"] for tool in builtin.json()]
    unknown = await client.get(f"{TOOLS}/tool-provider/builtin/sundial/tools", headers=auth(reader))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "tool_not_found")
    assert (await client.post(f"{TOOLS}/tool-provider/api/add", headers=auth(editor), json=body)).status_code == 200
    again = await client.post(f"{TOOLS}/tool-provider/api/add", headers=auth(editor), json=body)
    assert again.status_code == 409
    assert (await client.get(f"{TOOLS}/tool-providers")).status_code == 401


async def test_the_egress_refuses_a_loopback_server_unless_allowed(
    client: httpx.AsyncClient, owner_token: str, pet_api: str
) -> None:
    # The shared fixture's Plait has the production egress policy: loopback is refused.
    added = await client.post(f"{TOOLS}/tool-provider/api/add", headers=auth(owner_token), json=api_provider(pet_api))
    assert added.status_code == 200, added.text  # saving connects nowhere, so it cannot be refused yet
    RECEIVED.clear()
    _, key = await publish(client, owner_token, PET_WORKFLOW)
    data = await run(client, key, {"pet": "1"})
    assert data["status"] == "failed"
    assert "refused" in data["error"]
    assert "loopback" in data["error"]
    assert RECEIVED == []
