"""Reading an OpenAPI 3.x or Swagger 2 document into the operations that become tools.

Everything that can be wrong with a document is found here, when a provider is created,
and reported with a path into it (``paths./pets/{id}.get.parameters[0]``): no servers, a
relative server URL, an unknown method, a path parameter that is not declared, a ``$ref``
that does not resolve. Only local references (``#/components/...``, ``#/definitions/...``)
are followed, never a file or a URL (fetching one would be an SSRF path of its own).
Schemas are inlined so a model sees a self-contained parameters schema; a recursive
schema is cut where it recurs, and the inlined size is capped, so a small document whose
references fan out cannot grow without bound.

Operations whose request body is neither JSON nor a form (file uploads) are skipped with
a warning, as Dify does with what it cannot call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from plait.tools.errors import ToolDefinitionError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PATH_ITEM_FIELDS = frozenset({"$ref", "summary", "description", "servers", "parameters"})
LOCATIONS = ("path", "query", "header", "cookie")
FORM = "application/x-www-form-urlencoded"
MAX_SCHEMA_NODES = 50_000
# Header parameters the OpenAPI specification says to ignore: the client sets them.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
# OpenAPI 3.0 keywords that JSON Schema spells differently or does not have.
_OPENAPI_ONLY = ("nullable", "discriminator", "xml", "externalDocs", "example")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # path, query, header, cookie (and Swagger 2's body, formData while reading)
    schema: dict[str, Any]
    required: bool


@dataclass(frozen=True, slots=True)
class Body:
    """A JSON or form request body. ``properties`` are the tool parameters it is built from;
    empty means the whole body is the one parameter ``body``."""

    media_type: str
    schema: dict[str, Any]
    required: bool
    properties: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    method: str
    path: str
    server_url: str
    description: str
    parameters: tuple[Parameter, ...]
    body: Body | None

    def tool_schema(self) -> dict[str, Any]:
        """The JSON Schema of the tool's arguments: parameters and body properties side by side."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        for parameter in self.parameters:
            properties[parameter.name] = parameter.schema
            if parameter.required:
                required.append(parameter.name)
        if self.body is not None and self.body.properties:
            body_required = set(self.body.schema.get("required", ()))
            for name in self.body.properties:
                properties[name] = self.body.schema["properties"][name]
                if name in body_required:
                    required.append(name)
        elif self.body is not None:
            properties["body"] = self.body.schema
            if self.body.required:
                required.append("body")
        return {"type": "object", "properties": properties, "required": required}


@dataclass(frozen=True, slots=True)
class ApiDocument:
    title: str
    description: str
    operations: tuple[Operation, ...]
    warnings: tuple[str, ...]


def load_document(source: str | bytes | Mapping[str, Any]) -> ApiDocument:
    document = _parsed(source)
    if "swagger" in document:
        if str(document["swagger"]) != "2.0":
            raise ToolDefinitionError(f"Swagger {document['swagger']} is not supported (only 2.0)", path="swagger")
        servers = _swagger_servers(document)
    elif str(document.get("openapi", "")).startswith("3."):
        servers = document.get("servers")
    else:
        raise ToolDefinitionError("the schema is neither OpenAPI 3.x nor Swagger 2.0 (no 'openapi' or 'swagger' field)")
    info: Mapping[str, Any] = document["info"] if isinstance(document.get("info"), Mapping) else {}
    reader = _Reader(document, swagger="swagger" in document)
    root_server = _server_url(servers, "servers") if servers is not None else None
    operations = reader.operations(root_server)
    return ApiDocument(
        title=str(info.get("title") or ""),
        description=str(info.get("description") or ""),
        operations=tuple(operations),
        warnings=tuple(reader.warnings),
    )


def _parsed(source: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    text = source.decode("utf-8", errors="replace") if isinstance(source, bytes) else source
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise ToolDefinitionError(f"the schema is neither valid JSON nor valid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise ToolDefinitionError("the schema must be a JSON or YAML object")
    return document


def _swagger_servers(document: Mapping[str, Any]) -> list[dict[str, str]] | None:
    if "host" not in document:
        return document.get("servers")  # Dify accepts Swagger documents written with OpenAPI 3 servers
    schemes = document.get("schemes") or ["https"]
    scheme = "https" if "https" in schemes else str(schemes[0])
    return [{"url": f"{scheme}://{document['host']}{document.get('basePath', '')}"}]


def _server_url(servers: Any, path: str) -> str:
    if not isinstance(servers, list) or not servers:
        raise ToolDefinitionError("the schema names no server to call (add a 'servers' entry with a url)", path=path)
    server = servers[0]
    if not isinstance(server, Mapping) or not isinstance(server.get("url"), str) or not server["url"].strip():
        raise ToolDefinitionError("the server has no url", path=f"{path}[0].url")
    url = str(server["url"]).strip()
    variables: Mapping[str, Any] = server["variables"] if isinstance(server.get("variables"), Mapping) else {}
    for name, variable in variables.items():
        if isinstance(variable, Mapping) and "default" in variable:
            url = url.replace("{" + str(name) + "}", str(variable["default"]))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in url:
        raise ToolDefinitionError(f"the server url {url!r} is not an absolute http(s) URL", path=f"{path}[0].url")
    return url.rstrip("/")


class _Reader:
    def __init__(self, document: Mapping[str, Any], *, swagger: bool) -> None:
        self.document = document
        self.swagger = swagger
        self.warnings: list[str] = []
        self._nodes = 0

    def operations(self, root_server: str | None) -> list[Operation]:
        paths = self.document.get("paths")
        if not isinstance(paths, Mapping) or not paths:
            raise ToolDefinitionError("the schema has no paths, so no operations to call", path="paths")
        found: dict[str, str] = {}
        operations: list[Operation] = []
        for template, raw_item in paths.items():
            where = f"paths.{template}"
            if not str(template).startswith("/"):
                raise ToolDefinitionError(f"the path {template!r} does not start with '/'", path=where)
            item = self.deref(raw_item, where)
            if not isinstance(item, Mapping):
                raise ToolDefinitionError("a path item must be an object", path=where)
            server = _server_url(item["servers"], f"{where}.servers") if item.get("servers") else root_server
            shared = self.parameters(item.get("parameters") or [], f"{where}.parameters")
            for key, raw_operation in item.items():
                if key in PATH_ITEM_FIELDS or str(key).startswith("x-"):
                    continue
                if key not in METHODS:
                    raise ToolDefinitionError(
                        f"{key!r} is not an HTTP method (one of {', '.join(METHODS)})", path=f"{where}.{key}"
                    )
                operation = self.operation(str(template), key, raw_operation, shared, server, f"{where}.{key}")
                if operation is None:
                    continue
                if operation.name in found:
                    raise ToolDefinitionError(
                        f"the operationId {operation.name!r} is used twice (also at {found[operation.name]})",
                        path=f"{where}.{key}.operationId",
                    )
                found[operation.name] = f"{where}.{key}"
                operations.append(operation)
        return operations

    def operation(
        self,
        template: str,
        method: str,
        raw: Any,
        shared: dict[tuple[str, str], Parameter],
        server: str | None,
        where: str,
    ) -> Operation | None:
        if not isinstance(raw, Mapping):
            raise ToolDefinitionError("an operation must be an object", path=where)
        if raw.get("servers"):
            server = _server_url(raw["servers"], f"{where}.servers")
        if server is None:
            raise ToolDefinitionError("the schema names no server to call (add a 'servers' entry)", path="servers")
        name = str(raw.get("operationId") or _generated_name(template, method))
        parameters = {**shared, **self.parameters(raw.get("parameters") or [], f"{where}.parameters")}
        body_parameters = [p for p in parameters.values() if p.location not in LOCATIONS]
        parameters = {key: p for key, p in parameters.items() if p.location in LOCATIONS}
        declared = {p.name for p in parameters.values() if p.location == "path"}
        for variable in re.findall(r"{([^}]+)}", template):
            if variable not in declared:
                raise ToolDefinitionError(
                    f"the path parameter {variable!r} is not declared", path=f"{where}.parameters"
                )
        if self.swagger:
            body = self.swagger_body(body_parameters, raw.get("consumes") or self.document.get("consumes"), where)
        else:
            body = self.request_body(raw.get("requestBody"), f"{where}.requestBody")
        if body == "unsupported":
            self.warnings.append(f"{method.upper()} {template} was skipped: its request body is not JSON or a form")
            return None
        ordered = tuple(parameters.values())
        if body is not None and body.properties:
            clashes = sorted({p.name for p in ordered} & set(body.properties))
            if clashes:
                raise ToolDefinitionError(
                    f"{', '.join(clashes)} is both a parameter and a body property; rename one", path=where
                )
        description = str(raw.get("description") or raw.get("summary") or "")
        return Operation(name, method.upper(), template, server, description, ordered, body)

    def parameters(self, raw: Any, where: str) -> dict[tuple[str, str], Parameter]:
        if not isinstance(raw, list):
            raise ToolDefinitionError("parameters must be a list", path=where)
        found: dict[tuple[str, str], Parameter] = {}
        for index, entry in enumerate(raw):
            path = f"{where}[{index}]"
            parameter = self.deref(entry, path)
            if not isinstance(parameter, Mapping) or not isinstance(parameter.get("name"), str):
                raise ToolDefinitionError("a parameter needs a name", path=path)
            location = str(parameter.get("in"))
            allowed = (*LOCATIONS, "body", "formData") if self.swagger else LOCATIONS
            if location not in allowed:
                raise ToolDefinitionError(f"'in' must be one of {', '.join(allowed)}, not {location!r}", path=path)
            schema = self.parameter_schema(parameter, path)
            if parameter.get("description") and "description" not in schema:
                schema = {**schema, "description": str(parameter["description"])}
            if location == "header" and parameter["name"].lower() in _IGNORED_HEADERS:
                continue
            required = location == "path" or bool(parameter.get("required"))
            found[(parameter["name"], location)] = Parameter(parameter["name"], location, schema, required)
        return found

    def parameter_schema(self, parameter: Mapping[str, Any], where: str) -> dict[str, Any]:
        if "schema" in parameter:
            return self.schema(parameter["schema"], f"{where}.schema")
        content = parameter.get("content")
        if isinstance(content, Mapping) and content:
            media = next(iter(content.values()))
            if isinstance(media, Mapping) and "schema" in media:
                return self.schema(media["schema"], f"{where}.content")
        # Swagger 2 writes the schema keywords on the parameter itself.
        keywords = {k: v for k, v in parameter.items() if k not in ("name", "in", "required", "description")}
        if keywords.get("type") == "file":
            return {"type": "string", "format": "binary"}
        return self.schema(keywords, where) if keywords else {"type": "string"}

    def request_body(self, raw: Any, where: str) -> Body | Literal["unsupported"] | None:
        if raw is None:
            return None
        body = self.deref(raw, where)
        content = body.get("content") if isinstance(body, Mapping) else None
        if not isinstance(content, Mapping) or not content:
            raise ToolDefinitionError("a request body needs content", path=f"{where}.content")
        required = bool(body.get("required"))
        for media in content:
            if _is_json(str(media)) or media == FORM:
                entry = content[media] if isinstance(content[media], Mapping) else {}
                schema = self.schema(entry.get("schema", {}), f"{where}.content.{media}.schema")
                return _body(str(media), schema, required)
        return "unsupported" if required else None

    def swagger_body(
        self, parameters: list[Parameter], consumes: Any, where: str
    ) -> Body | Literal["unsupported"] | None:
        in_body = [p for p in parameters if p.location == "body"]
        if in_body:
            return _body("application/json", in_body[0].schema, in_body[0].required)
        form = [p for p in parameters if p.location == "formData"]
        if not form:
            return None
        if any(p.schema.get("format") == "binary" for p in form) or FORM not in (consumes or [FORM]):
            return "unsupported" if any(p.required for p in form) else None
        properties = {p.name: p.schema for p in form}
        schema = {"type": "object", "properties": properties, "required": [p.name for p in form if p.required]}
        return _body(FORM, schema, True)

    def schema(self, raw: Any, where: str, expanding: tuple[str, ...] = ()) -> dict[str, Any]:
        """``raw`` with every reference inlined and OpenAPI 3.0's dialect turned into JSON Schema."""
        self._nodes += 1
        if self._nodes > MAX_SCHEMA_NODES:
            raise ToolDefinitionError(f"the schemas expand to more than {MAX_SCHEMA_NODES} nodes", path=where)
        if isinstance(raw, bool):
            return {} if raw else {"not": {}}
        if not isinstance(raw, Mapping):
            raise ToolDefinitionError("a schema must be an object", path=where)
        if "$ref" in raw:
            ref = str(raw["$ref"])
            if ref in expanding:
                return {"description": f"(recursive: {ref})"}
            target = self.deref(raw, where)
            if not isinstance(target, Mapping | bool):
                raise ToolDefinitionError(f"the reference {ref!r} does not point to a schema", path=where)
            if isinstance(target, bool):
                return self.schema(target, where, expanding)
            siblings = {k: v for k, v in raw.items() if k != "$ref"}
            return self.schema({**target, **siblings}, where, (*expanding, ref))
        result: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, Mapping):
                result[key] = {
                    name: self.schema(item, f"{where}.{key}.{name}", expanding) for name, item in value.items()
                }
            elif key in ("items", "additionalProperties", "not", "contains") and isinstance(value, Mapping | bool):
                result[key] = self.schema(value, f"{where}.{key}", expanding)
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
                result[key] = [self.schema(item, f"{where}.{key}[{i}]", expanding) for i, item in enumerate(value)]
            elif key not in _OPENAPI_ONLY:
                result[key] = value
        return _json_schema_dialect(result, nullable=raw.get("nullable") is True)

    def deref(self, node: Any, where: str) -> Any:
        """``node`` itself, or what its ``$ref`` chain points to (a chain that loops is an error)."""
        seen: list[str] = []
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise ToolDefinitionError(
                    f"the reference {ref!r} is not local (only '#/...' references are followed)", path=where
                )
            if ref in seen:
                raise ToolDefinitionError(f"the references {' -> '.join([*seen, ref])} form a cycle", path=where)
            seen.append(ref)
            node = self._pointer(ref, where)
        return node

    def _pointer(self, ref: str, where: str) -> Any:
        node: Any = self.document
        for token in ref[1:].lstrip("/").split("/") if ref != "#" else []:
            key = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise ToolDefinitionError(f"the reference {ref!r} does not resolve", path=where)
        return node


def _body(media_type: str, schema: dict[str, Any], required: bool) -> Body:
    properties = schema.get("properties")
    flattened = isinstance(properties, Mapping) and bool(properties) and schema.get("type", "object") == "object"
    names = tuple(properties) if flattened and isinstance(properties, Mapping) else ()
    return Body(media_type, schema, required, names)


def _json_schema_dialect(schema: dict[str, Any], *, nullable: bool) -> dict[str, Any]:
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # OpenAPI 3.0 writes exclusiveMinimum as a flag on minimum; JSON Schema as the bound itself.
        if isinstance(schema.get(bound), bool) and schema.pop(bound) and limit in schema:
            schema[bound] = schema.pop(limit)
    if schema.get("type") == "file":
        schema["type"] = "string"
    if nullable and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    return schema


def _is_json(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "*/*"


def _generated_name(template: str, method: str) -> str:
    """Dify's name for an operation without an operationId, kept so DSL files find it:
    ``petsid_get`` for GET /pets/{id} (the path with everything but [A-Za-z0-9_-] removed)."""
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "", template.lstrip("/"))
    return f"{cleaned or 'root'}_{method.lower()}"
