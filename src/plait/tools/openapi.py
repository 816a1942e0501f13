"""Custom tools from an OpenAPI 3.x or Swagger 2 document, as Dify's "api" tool providers.

    provider = OpenAPIProvider("petstore", schema_text, http=egress, auth=ApiKey("s3cret", prefix="Bearer"))
    tool = provider.tool("getPet")
    output = await tool.invoke({"petId": 7, "verbose": True})

Every operation becomes a tool named by its ``operationId`` (Dify's generated name when
it has none). Its arguments are the operation's path, query, header and cookie
parameters plus the properties of its JSON (or form) body, side by side as Dify lays
them out; a body that is not an object with properties is the one argument ``body``.
Calling substitutes the path parameters (URL-encoded), sends the rest, and authenticates
with the provider's :class:`ApiKey` in a header or the query. A 2xx answer's body is the
text, parsed into ``json`` when it is JSON; an attachment or a binary body is a file.
Any other status is a :class:`~plait.tools.errors.ToolCallFailed` carrying it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Literal
from urllib.parse import quote

from plait.tools.base import StaticToolProvider, Tool, ToolFile, ToolOutput
from plait.tools.errors import ToolArgumentError, ToolCallFailed, ToolDefinitionError
from plait.tools.http import HttpClient, HttpResponse, decoded_text, http_errors, is_json, media_type
from plait.tools.openapi_schema import FORM, Operation, load_document

_SHOWN_BODY = 300  # characters of an error response quoted in the message
_TEXTUAL = ("application/xml", "application/javascript", FORM)

# The credentials form of Dify's api tool providers, for a console to render.
CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "auth_type": {"type": "string", "enum": ["none", "api_key_header", "api_key_query"]},
        "api_key_header": {"type": "string", "default": "Authorization"},
        "api_key_header_prefix": {"type": "string", "enum": ["basic", "bearer", "custom"], "default": "custom"},
        "api_key_query_param": {"type": "string", "default": "key"},
        "api_key_value": {"type": "string", "writeOnly": True},
    },
    "required": ["auth_type"],
}


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key sent with every call: in a header (``name``, with an optional prefix) or
    as the query parameter ``name``. The value never appears in a repr or a message."""

    value: str = field(repr=False)
    location: Literal["header", "query"] = "header"
    name: str = "Authorization"
    prefix: Literal["", "Bearer", "Basic"] = ""

    def __post_init__(self) -> None:
        if not self.value:
            raise ToolDefinitionError("the API key is empty", path="credentials.api_key_value")
        if any(char in self.value for char in "\r\n"):
            raise ToolDefinitionError("the API key contains a line break", path="credentials.api_key_value")
        if self.location not in ("header", "query"):
            raise ToolDefinitionError("an API key goes in a header or the query", path="credentials.auth_type")
        token = all(33 <= ord(char) < 127 and char not in '()<>@,;:\\"/[]?={}' for char in self.name)
        if not self.name or (self.location == "header" and not token):
            raise ToolDefinitionError(f"{self.name!r} is not a valid header name", path="credentials.api_key_header")

    @classmethod
    def from_dify(cls, credentials: Mapping[str, Any]) -> ApiKey | None:
        """The key described by Dify's stored credentials (``auth_type``, ``api_key_*``); None for ``none``."""
        auth_type = credentials.get("auth_type", "none")
        if auth_type == "none":
            return None
        value = credentials.get("api_key_value")
        if not isinstance(value, str):
            raise ToolDefinitionError("api_key_value must be a string", path="credentials.api_key_value")
        if auth_type in ("api_key", "api_key_header"):  # "api_key" is Dify's older name
            prefixes: dict[str, Literal["", "Bearer", "Basic"]] = {"bearer": "Bearer", "basic": "Basic"}
            prefix = prefixes.get(str(credentials.get("api_key_header_prefix", "custom")), "")
            return cls(value, "header", str(credentials.get("api_key_header") or "Authorization"), prefix)
        if auth_type == "api_key_query":
            return cls(value, "query", str(credentials.get("api_key_query_param") or "key"))
        raise ToolDefinitionError(f"unknown auth_type {auth_type!r}", path="credentials.auth_type")

    @property
    def header_value(self) -> str:
        return f"{self.prefix} {self.value}" if self.prefix else self.value


class OpenAPIProvider(StaticToolProvider):
    """The tools of one OpenAPI document; the document is read and checked when this is built.

    ``timeout`` is each call's total deadline in seconds (the client's default when None).
    ``warnings`` lists the operations that were skipped and why.
    """

    def __init__(
        self,
        name: str,
        schema: str | bytes | Mapping[str, Any],
        *,
        http: HttpClient,
        auth: ApiKey | None = None,
        label: str | None = None,
        timeout: float | None = None,
    ) -> None:
        document = load_document(schema)
        tools = [OpenAPITool(operation, http=http, auth=auth, timeout=timeout) for operation in document.operations]
        super().__init__(
            name,
            tools,
            label=label or document.title or name,
            description=document.description,
            credentials_schema=CREDENTIALS_SCHEMA,
        )
        self.warnings = document.warnings


class OpenAPITool(Tool):
    def __init__(
        self, operation: Operation, *, http: HttpClient, auth: ApiKey | None = None, timeout: float | None = None
    ) -> None:
        try:
            super().__init__(operation.name, operation.description, operation.tool_schema())
        except ToolDefinitionError as error:
            where = f"paths.{operation.path}.{operation.method.lower()}"
            raise ToolDefinitionError(error.message, path=f"{where}.{error.path}" if error.path else where) from None
        self.operation = operation
        self.http = http
        self.auth = auth
        self.timeout = timeout

    async def run(self, arguments: dict[str, Any]) -> ToolOutput:
        operation = self.operation
        path = operation.path
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for parameter in operation.parameters:
            if parameter.name not in arguments:
                continue
            value = arguments[parameter.name]
            if parameter.location == "path":
                path = path.replace("{" + parameter.name + "}", quote(_text(value), safe=""))
            elif parameter.location == "query":
                query[parameter.name] = [_text(item) for item in value] if isinstance(value, list) else _text(value)
            elif parameter.location == "header":
                headers[parameter.name] = self._header(parameter.name, value)
            else:
                cookies.append(f"{parameter.name}={quote(_text(value), safe='')}")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        if self.auth is not None and self.auth.location == "header":
            headers[self.auth.name] = self.auth.header_value
        elif self.auth is not None:
            query[self.auth.name] = self.auth.value
        body = self._body(arguments)
        send: dict[str, Any] = {}
        if body is not None and operation.body is not None and operation.body.media_type == FORM:
            send["data"] = {key: _text(value) for key, value in body.items()} if isinstance(body, dict) else body
        elif body is not None:
            send["json"] = body
        with http_errors(self.name):
            response = await self.http.request(
                operation.method,
                operation.server_url + path,
                headers=headers,
                params=query or None,
                timeout=self.timeout,
                **send,
            )
        return self._output(response)

    def _body(self, arguments: dict[str, Any]) -> Any:
        body = self.operation.body
        if body is None:
            return None
        if not body.properties:
            return arguments.get("body")
        values = {name: arguments[name] for name in body.properties if name in arguments}
        return values if values or body.required else None

    def _header(self, name: str, value: Any) -> str:
        text = _text(value)
        if any(char in text for char in "\r\n"):
            raise ToolArgumentError(f"tool {self.name!r}: header {name!r} contains a line break", parameter=name)
        return text

    def _output(self, response: HttpResponse) -> ToolOutput:
        if not 200 <= response.status_code < 300:
            raise ToolCallFailed(
                f"tool {self.name!r}: the API answered HTTP {response.status_code}{self._shown(response)}",
                remote_status=response.status_code,
                retryable=response.status_code >= 500 or response.status_code == 429,
            )
        media, _ = media_type(response.headers)
        disposition = Message()
        disposition["content-disposition"] = response.headers.get("content-disposition", "")
        attachment = disposition.get_content_disposition() == "attachment"
        if attachment or not _is_textual(media):
            if not response.content:
                return ToolOutput()
            name = disposition.get_filename() or self.name
            file = ToolFile(name=name, mime_type=media or "application/octet-stream", content=response.content)
            return ToolOutput(files=[file])
        text = decoded_text(response)
        if not is_json(media):
            return ToolOutput(text=text)
        try:
            parsed = json.loads(text)
        except ValueError:
            return ToolOutput(text=text)
        if isinstance(parsed, dict):
            return ToolOutput(text=text, json=[parsed])
        if isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed):
            return ToolOutput(text=text, json=list(parsed))
        return ToolOutput(text=text)

    def _shown(self, response: HttpResponse) -> str:
        text = " ".join(decoded_text(response).split())
        if self.auth is not None:
            text = text.replace(self.auth.value, "***")  # an API that echoes the request must not leak the key
        if not text:
            return ""
        return ": " + (text if len(text) <= _SHOWN_BODY else text[: _SHOWN_BODY - 1] + "…")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_textual(media: str) -> bool:
    return not media or media.startswith("text/") or is_json(media) or media.endswith("+xml") or media in _TEXTUAL
