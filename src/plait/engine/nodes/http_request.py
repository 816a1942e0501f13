"""HTTP request: one call through Plait's egress (``ctx.services.http``), which refuses
private and metadata addresses, pins DNS and caps size and time. Headers and parameters are
Dify's ``key:value`` lines; every part of the request may hold ``{{#...#}}`` references."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import Selector, VariablePool
from plait.errors import PlaitError

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "basic"
    api_key: str = ""
    header: str | None = None


class Authorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "no-auth"
    config: AuthConfig | None = None


class BodyItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: str = ""
    type: str = "text"
    value: str = ""


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "none"
    data: list[BodyItem] | str | None = None


class Timeout(BaseModel):
    model_config = ConfigDict(extra="allow")

    connect: float | None = None
    read: float | None = None
    write: float | None = None


class HttpRequestConfig(NodeConfig):
    method: str = "get"
    url: str = ""
    authorization: Authorization = Authorization()
    headers: str = ""
    params: str = ""
    body: Body | None = None
    timeout: Timeout | None = None


def _render(text: str, pool: VariablePool) -> str:
    return templates.render(templates.parse(text), pool)


def _lines(text: str, pool: VariablePool) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in _render(text, pool).splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition(":")
        pairs[key.strip()] = value.strip()
    return pairs


def _body_text(body: Body) -> str:
    if isinstance(body.data, str):
        return body.data
    return "".join(item.value for item in body.data or [])


class HttpRequestNode(Node):
    node_type = "http-request"
    Config = HttpRequestConfig
    config: HttpRequestConfig

    def references(self) -> Sequence[Selector]:
        body = self.config.body
        texts = [self.config.url, self.config.headers, self.config.params]
        if body is not None:
            texts.append(_body_text(body))
            if isinstance(body.data, list):
                texts.extend(item.key for item in body.data)
        return [selector for text in texts for selector in templates.references(text)]

    def output_names(self) -> Sequence[str]:
        return ["status_code", "body", "headers", "files"]

    def _request(self, pool: VariablePool) -> dict[str, Any]:
        method = self.config.method.lower()
        if method not in METHODS:
            raise NodeFailed(f"unsupported HTTP method {self.config.method!r}", "HttpRequestError")
        headers = _lines(self.config.headers, pool)
        auth = self.config.authorization
        if auth.type == "api-key" and auth.config is not None:
            key = _render(auth.config.api_key, pool)
            if auth.config.type == "bearer":
                headers["Authorization"] = f"Bearer {key}"
            elif auth.config.type == "basic":
                encoded = key if ":" not in key else base64.b64encode(key.encode()).decode()
                headers["Authorization"] = f"Basic {encoded}"
            else:
                headers[auth.config.header or "Authorization"] = key
        request: dict[str, Any] = {
            "method": method.upper(),
            "url": _render(self.config.url, pool),
            "headers": headers,
            "params": _lines(self.config.params, pool),
        }
        body = self.config.body
        if body is None or body.type == "none":
            return request
        if body.type in ("json", "raw-text"):
            request["content"] = _render(_body_text(body), pool).encode()
            if body.type == "json":
                headers.setdefault("Content-Type", "application/json")
        elif body.type in ("x-www-form-urlencoded", "form-data"):
            items = body.data if isinstance(body.data, list) else []
            if any(item.type == "file" for item in items):
                raise NodeFailed("file parts in request bodies are not supported yet", "HttpRequestError")
            request["data"] = {_render(item.key, pool): _render(item.value, pool) for item in items}
            if body.type == "form-data":
                request["files"] = {key: (None, value.encode()) for key, value in request.pop("data").items()}
        else:
            raise NodeFailed(f"request body type {body.type!r} is not supported yet", "HttpRequestError")
        return request

    async def run(self, ctx: NodeContext) -> NodeResult:
        if ctx.services.http is None:
            raise NodeFailed("outbound HTTP is not available in this run", "HttpRequestError")
        request = self._request(ctx.pool)
        client = ctx.services.http(self.id)
        timeout = self.config.timeout
        if timeout is not None:
            limits = [value for value in (timeout.connect, timeout.read, timeout.write) if value]
            if limits:
                request["timeout"] = float(sum(limits))
        method, url = request.pop("method"), request.pop("url")
        try:
            response = await client.request(method, url, **request)
        except PlaitError as error:
            raise NodeFailed(error.message, "HttpRequestError") from None
        headers = {key.lower(): value for key, value in dict(response.headers).items()}
        content_type = headers.get("content-type", "")
        text = response.content.decode(_charset(content_type), errors="replace")
        inputs = {
            "method": method,
            "url": url,
            "headers": request.get("headers", {}),
            "params": request.get("params", {}),
        }
        outputs = {"status_code": response.status_code, "body": text, "headers": headers, "files": []}
        return NodeResult(outputs, inputs=inputs, process_data={"request": json.dumps(inputs, ensure_ascii=False)})


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
