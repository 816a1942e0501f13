"""OpenAPI tools against a real API on loopback, through the real egress: what the server
receives (path, query, headers, body, key) and what the tool makes of the answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from plait.egress import Egress
from plait.tools import ToolArgumentError, ToolCallFailed, ToolDefinitionError, ToolFile
from plait.tools.http import HttpClient
from plait.tools.openapi import ApiKey, OpenAPIProvider
from tests.tools.servers import serving

RECEIVED: list[dict[str, Any]] = []


async def record(request: Request) -> dict[str, Any]:
    body = await request.body()
    seen = {
        "method": request.method,
        "raw_path": request.scope["raw_path"].decode(),
        "query": dict(request.query_params),
        "headers": dict(request.headers),
        "body": body.decode(),
    }
    RECEIVED.append(seen)
    return seen


async def pet(request: Request) -> Response:
    await record(request)
    return JSONResponse({"id": request.path_params["pet_id"], "name": "Rex"})


async def pets(request: Request) -> Response:
    seen = await record(request)
    if request.method == "POST":
        return JSONResponse({"created": json.loads(seen["body"] or "null")}, status_code=201)
    return JSONResponse([{"id": 1}, {"id": 2}])


async def report(request: Request) -> Response:
    await record(request)
    return PlainTextResponse("all good")


async def download(request: Request) -> Response:
    await record(request)
    return Response(
        b"a,b\n1,2\n", media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="r.csv"'}
    )


async def fail(request: Request) -> Response:
    seen = await record(request)
    return JSONResponse({"error": "boom", "echo": seen["query"]}, status_code=500)


async def form(request: Request) -> Response:
    await record(request)
    return PlainTextResponse("received")


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/v1/pets/{pet_id:path}", pet, methods=["GET"]),
            Route("/v1/pets", pets, methods=["GET", "POST"]),
            Route("/v1/report", report),
            Route("/v1/download", download),
            Route("/v1/fail", fail),
            Route("/v1/form", form, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serving(app()) as url:
        yield url


@pytest.fixture(autouse=True)
def fresh_record() -> None:
    RECEIVED.clear()


def document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Pet store", "description": "Pets for tests.", "version": "1"},
        "servers": [{"url": f"{server}/{{version}}", "variables": {"version": {"default": "v1"}}}],
        "paths": {
            "/pets/{petId}": {
                "parameters": [{"$ref": "#/components/parameters/PetId"}],
                "get": {
                    "operationId": "getPet",
                    "summary": "Get a pet",
                    "parameters": [
                        {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "fields", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                        {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                        {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                    ],
                },
            },
            "/pets": {
                "get": {"operationId": "listPets", "description": "All the pets."},
                "post": {
                    "operationId": "createPet",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
                    },
                },
            },
            "/report": {"get": {"summary": "No operationId"}},
            "/download": {"get": {"operationId": "download"}},
            "/fail": {"get": {"operationId": "fail", "parameters": [{"name": "q", "in": "query"}]}},
            "/form": {
                "post": {
                    "operationId": "submitForm",
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {"type": "object", "properties": {"color": {"type": "string"}}}
                            }
                        }
                    },
                }
            },
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {}}}},
                }
            },
        },
        "components": {
            "parameters": {"PetId": {"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}},
            "schemas": {
                "NewPet": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "age": {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True},
                        "parent": {"$ref": "#/components/schemas/NewPet"},
                    },
                }
            },
        },
    }


def provider(egress: HttpClient, server: str, auth: ApiKey | None = None) -> OpenAPIProvider:
    return OpenAPIProvider("petstore", yaml.safe_dump(document(server), sort_keys=False), http=egress, auth=auth)


def test_every_operation_is_a_tool(egress: Egress) -> None:
    tools = provider(egress, "https://api.example.com")
    assert [tool.name for tool in tools.tools] == [
        "getPet",
        "listPets",
        "createPet",
        "report_get",
        "download",
        "fail",
        "submitForm",
    ]
    assert tools.label == "Pet store"
    assert tools.warnings == ("POST /upload was skipped: its request body is not JSON or a form",)


def test_the_parameters_schema_a_model_sees(egress: Egress) -> None:
    tools = provider(egress, "https://api.example.com")
    get_pet = tools.tool("getPet").parameters
    assert get_pet["required"] == ["petId"]
    assert set(get_pet["properties"]) == {"petId", "verbose", "fields", "X-Request-Id", "session"}
    create = tools.tool("createPet").parameters
    assert create["required"] == ["name"]
    age = create["properties"]["age"]
    assert age == {"type": ["integer", "null"], "exclusiveMinimum": 0}
    # The recursive reference is cut where it recurs.
    assert create["properties"]["parent"] == {"description": "(recursive: #/components/schemas/NewPet)"}


async def test_path_query_header_cookie_and_a_bearer_key(egress: Egress, api: str) -> None:
    tools = provider(egress, api, ApiKey("s3cret", prefix="Bearer"))
    output = await tools.tool("getPet").invoke(
        {"petId": "a b/c", "verbose": "true", "fields": ["name", "id"], "X-Request-Id": 42, "session": "x y"}
    )
    (seen,) = RECEIVED
    assert seen["method"] == "GET"
    assert seen["raw_path"] == "/v1/pets/a%20b%2Fc"
    assert seen["query"] == {"verbose": "true", "fields": "id"}  # repeated: fields=name&fields=id
    assert seen["headers"]["x-request-id"] == "42"
    assert seen["headers"]["cookie"] == "session=x%20y"
    assert seen["headers"]["authorization"] == "Bearer s3cret"
    assert output.json == [{"id": "a b/c", "name": "Rex"}]
    assert json.loads(output.text) == {"id": "a b/c", "name": "Rex"}


async def test_a_json_body_from_the_body_properties(egress: Egress, api: str) -> None:
    tools = provider(egress, api, ApiKey("k", name="X-Api-Key"))
    output = await tools.tool("createPet").invoke({"name": "Rex", "age": "3"})
    (seen,) = RECEIVED
    assert seen["method"] == "POST"
    assert json.loads(seen["body"]) == {"name": "Rex", "age": 3}
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-api-key"] == "k"
    assert output.json == [{"created": {"name": "Rex", "age": 3}}]


async def test_a_form_body_and_an_api_key_in_the_query(egress: Egress, api: str) -> None:
    tools = provider(egress, api, ApiKey("q-key", location="query", name="api_key"))
    await tools.tool("submitForm").invoke({"color": "red"})
    (seen,) = RECEIVED
    assert seen["body"] == "color=red"
    assert seen["query"] == {"api_key": "q-key"}
    assert "authorization" not in seen["headers"]


async def test_answers_become_text_json_or_files(egress: Egress, api: str) -> None:
    tools = provider(egress, api)
    listed = await tools.tool("listPets").invoke({})
    assert listed.json == [{"id": 1}, {"id": 2}]
    text = await tools.tool("report_get").invoke({})
    assert (text.text, text.json) == ("all good", [])
    file = await tools.tool("download").invoke({})
    assert file.files == [ToolFile(name="r.csv", mime_type="text/csv", content=b"a,b\n1,2\n")]


async def test_an_error_status_is_a_failure_that_never_shows_the_key(egress: Egress, api: str) -> None:
    tools = provider(egress, api, ApiKey("top-secret", location="query", name="key"))
    with pytest.raises(ToolCallFailed) as raised:
        await tools.tool("fail").invoke({"q": "x"})
    assert raised.value.remote_status == 500
    assert raised.value.retryable
    assert raised.value.message.startswith("tool 'fail': the API answered HTTP 500: ")
    assert "top-secret" not in raised.value.message
    assert "***" in raised.value.message


async def test_arguments_are_checked_before_anything_is_sent(egress: Egress, api: str) -> None:
    tools = provider(egress, api)
    with pytest.raises(ToolArgumentError, match="parameter 'name' is required"):
        await tools.tool("createPet").invoke({"age": 3})
    with pytest.raises(ToolArgumentError, match=r"must be (at least|above)"):
        await tools.tool("createPet").invoke({"name": "Rex", "age": 0})
    with pytest.raises(ToolArgumentError, match="contains a line break"):
        await tools.tool("getPet").invoke({"petId": "1", "X-Request-Id": "a\r\nInjected: yes"})
    assert RECEIVED == []


async def test_swagger_2(egress: Egress, api: str) -> None:
    host = api.removeprefix("http://")
    swagger = {
        "swagger": "2.0",
        "info": {"title": "Old store"},
        "host": host,
        "basePath": "/v1",
        "schemes": ["http"],
        "paths": {
            "/pets": {
                "post": {
                    "operationId": "createPet",
                    "parameters": [
                        {"name": "pet", "in": "body", "required": True, "schema": {"$ref": "#/definitions/Pet"}}
                    ],
                }
            },
            "/pets/{petId}": {
                "get": {"operationId": "getPet", "parameters": [{"name": "petId", "in": "path", "type": "integer"}]}
            },
        },
        "definitions": {"Pet": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    tools = OpenAPIProvider("old", json.dumps(swagger), http=egress)
    assert tools.tool("getPet").parameters["properties"]["petId"] == {"type": "integer"}
    await tools.tool("createPet").invoke({"name": "Rex"})
    await tools.tool("getPet").invoke({"petId": "7"})
    assert [(seen["method"], seen["raw_path"], seen["body"]) for seen in RECEIVED] == [
        ("POST", "/v1/pets", '{"name":"Rex"}'),
        ("GET", "/v1/pets/7", ""),
    ]


async def test_a_private_address_is_refused_by_the_egress(strict_egress: Egress, api: str) -> None:
    with pytest.raises(ToolCallFailed, match=r"tool 'listPets': egress to 127\.0\.0\.1 is refused"):
        await provider(strict_egress, api).tool("listPets").invoke({})


def broken(change: dict[str, Any]) -> dict[str, Any]:
    base = {
        "openapi": "3.1.0",
        "info": {"title": "t"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": {"/a": {"get": {"operationId": "a"}}},
    }
    return {**base, **change}


@pytest.mark.parametrize(
    ("schema", "message", "path"),
    [
        ("openapi: [", "neither valid JSON nor valid YAML", None),
        ("- a list", "must be a JSON or YAML object", None),
        ({"info": {}}, "neither OpenAPI 3.x nor Swagger 2.0", None),
        (broken({"servers": []}), "names no server", "servers"),
        (broken({"servers": [{"url": "/relative"}]}), "not an absolute http(s) URL", "servers[0].url"),
        (broken({"paths": {}}), "no paths", "paths"),
        (broken({"paths": {"/a": {"fetch": {}}}}), "'fetch' is not an HTTP method", "paths./a.fetch"),
        (broken({"paths": {"a": {}}}), "does not start with '/'", "paths.a"),
        (
            broken({"paths": {"/a/{id}": {"get": {"operationId": "a"}}}}),
            "path parameter 'id' is not declared",
            "paths./a/{id}.get.parameters",
        ),
        (
            broken({"paths": {"/a": {"get": {"operationId": "x"}, "post": {"operationId": "x"}}}}),
            "'x' is used twice",
            "paths./a.post.operationId",
        ),
        (
            broken({"paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}}}),
            "'#/components/parameters/Nope' does not resolve",
            "paths./a.get.parameters[0]",
        ),
        (
            broken({"paths": {"/a": {"get": {"parameters": [{"$ref": "https://evil.example/p.json"}]}}}}),
            "is not local",
            "paths./a.get.parameters[0]",
        ),
        (
            broken(
                {
                    "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/A"}]}}},
                    "components": {
                        "parameters": {
                            "A": {"$ref": "#/components/parameters/B"},
                            "B": {"$ref": "#/components/parameters/A"},
                        }
                    },
                }
            ),
            "form a cycle",
            "paths./a.get.parameters[0]",
        ),
        (
            broken({"paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "body"}]}}}}),
            "'in' must be one of path, query, header, cookie",
            "paths./a.get.parameters[0]",
        ),
        (
            broken(
                {
                    "paths": {
                        "/a": {
                            "post": {
                                "parameters": [{"name": "name", "in": "query"}],
                                "requestBody": {
                                    "content": {
                                        "application/json": {
                                            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}
                                        }
                                    }
                                },
                            }
                        }
                    }
                }
            ),
            "name is both a parameter and a body property",
            "paths./a.post",
        ),
    ],
)
def test_a_bad_document_is_refused_with_a_path(schema: Any, message: str, path: str | None, egress: Egress) -> None:
    source = schema if isinstance(schema, str) else json.dumps(schema)
    with pytest.raises(ToolDefinitionError) as raised:
        OpenAPIProvider("bad", source, http=egress)
    assert message in raised.value.message
    assert raised.value.path == path


def test_references_that_fan_out_are_capped(egress: Egress) -> None:
    # Each level refers to the one below ten times: 10**6 nodes if it were all inlined.
    schemas = {
        f"L{level}": {
            "type": "object",
            "properties": {f"p{i}": {"$ref": f"#/components/schemas/L{level + 1}"} for i in range(10)},
        }
        for level in range(6)
    }
    schemas["L6"] = {"type": "string"}
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/L0"}}}}
    schema = broken({"paths": {"/a": {"post": {"requestBody": body}}}, "components": {"schemas": schemas}})
    with pytest.raises(ToolDefinitionError, match="expand to more than"):
        OpenAPIProvider("bomb", schema, http=egress)


def test_dify_credentials() -> None:
    assert ApiKey.from_dify({"auth_type": "none"}) is None
    header = ApiKey.from_dify(
        {"auth_type": "api_key", "api_key_header": "X-Key", "api_key_value": "v", "api_key_header_prefix": "bearer"}
    )
    assert header == ApiKey("v", "header", "X-Key", "Bearer")
    assert header.header_value == "Bearer v"
    basic = ApiKey.from_dify(
        {"auth_type": "api_key_header", "api_key_value": "dXNlcg==", "api_key_header_prefix": "basic"}
    )
    assert basic is not None
    assert (basic.header_value, basic.name) == ("Basic dXNlcg==", "Authorization")
    query = ApiKey.from_dify({"auth_type": "api_key_query", "api_key_value": "v"})
    assert query == ApiKey("v", "query", "key")
    assert "v" not in repr(ApiKey("very-secret"))
    with pytest.raises(ToolDefinitionError, match="not a valid header name") as raised:
        ApiKey("v", name="Bad Header")
    assert raised.value.path == "credentials.api_key_header"
    with pytest.raises(ToolDefinitionError, match="unknown auth_type"):
        ApiKey.from_dify({"auth_type": "oauth", "api_key_value": "v"})
