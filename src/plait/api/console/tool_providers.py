"""Tool providers in the console, on Dify's paths under ``/workspaces/current``: every
provider with its tools; the workspace's OpenAPI (``api``) providers, MCP servers and
workflow tools. Reading needs a console session; changing needs the owner, admin or editor
role. Saving never connects anywhere; listing an MCP server's tools does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plait.api.deps import ConsoleEditor, ConsoleUser, PlaitDep, RequestId
from plait.app.tool_providers import DEFAULT_MCP_TIMEOUT, ApiProviderForm, McpProviderForm
from plait.app.workflow_tools import WorkflowToolForm

router = APIRouter(prefix="/workspaces/current", tags=["console: tool providers"])

MAX_SCHEMA_CHARS = 2 * 1024 * 1024
SUCCESS = {"result": "success"}


@router.get("/tool-providers")
async def list_providers(user: ConsoleUser, plait: PlaitDep) -> list[dict[str, Any]]:
    return await plait.tool_catalog.providers(user.workspace_id)


@router.get("/tool-provider/builtin/{provider:path}/tools")
async def builtin_tools(provider: str, user: ConsoleUser, plait: PlaitDep) -> list[dict[str, Any]]:
    return await plait.tool_catalog.builtin_tools(provider)


# -- api (OpenAPI) providers ------------------------------------------------------------
class ApiProviderBody(BaseModel):
    provider: str = Field(min_length=1, max_length=255)
    credentials: dict[str, Any] = Field(default_factory=dict)
    schema_type: str = "openapi"
    schema_: str = Field(alias="schema", min_length=1, max_length=MAX_SCHEMA_CHARS)
    headers: dict[str, str] = Field(default_factory=dict)
    icon: Any = None
    privacy_policy: str = Field(default="", max_length=2048)
    custom_disclaimer: str = Field(default="", max_length=10_000)
    labels: list[str] = Field(default_factory=list, max_length=50)

    def form(self) -> ApiProviderForm:
        return ApiProviderForm(
            name=self.provider,
            schema=self.schema_,
            schema_type=self.schema_type,
            credentials=self.credentials,
            headers=self.headers,
            icon=self.icon,
            privacy_policy=self.privacy_policy,
            custom_disclaimer=self.custom_disclaimer,
            labels=self.labels,
        )


class ApiProviderUpdate(ApiProviderBody):
    original_provider: str = Field(min_length=1, max_length=255)


class ProviderName(BaseModel):
    provider: str = Field(min_length=1, max_length=255)


class SchemaBody(BaseModel):
    schema_: str = Field(alias="schema", min_length=1, max_length=MAX_SCHEMA_CHARS)


class ApiTestBody(BaseModel):
    tool_name: str = Field(min_length=1, max_length=255)
    provider_name: str = Field(default="", max_length=255)
    credentials: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schema_type: str = "openapi"
    schema_: str = Field(alias="schema", min_length=1, max_length=MAX_SCHEMA_CHARS)


@router.post("/tool-provider/api/add")
async def add_api(body: ApiProviderBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, str]:
    await plait.tool_providers.add_api(user.workspace_id, user.actor(request_id), body.form())
    return SUCCESS


@router.post("/tool-provider/api/update")
async def update_api(
    body: ApiProviderUpdate, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, str]:
    await plait.tool_providers.update_api(
        user.workspace_id, user.actor(request_id), body.original_provider, body.form()
    )
    return SUCCESS


@router.post("/tool-provider/api/delete")
async def delete_api(body: ProviderName, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, str]:
    await plait.tool_providers.delete(user.workspace_id, user.actor(request_id), "api", body.provider)
    return SUCCESS


@router.get("/tool-provider/api/get")
async def get_api(provider: str, user: ConsoleUser, plait: PlaitDep) -> dict[str, Any]:
    return await plait.tool_catalog.api_detail(user.workspace_id, provider)


@router.get("/tool-provider/api/tools")
async def api_tools(provider: str, user: ConsoleUser, plait: PlaitDep) -> list[dict[str, Any]]:
    return await plait.tool_catalog.api_tools(user.workspace_id, provider)


@router.post("/tool-provider/api/schema")
async def parse_schema(body: SchemaBody, user: ConsoleEditor, plait: PlaitDep) -> dict[str, Any]:
    return await plait.tool_catalog.parse_schema(user.workspace_id, body.schema_)


@router.post("/tool-provider/api/test/pre")
async def test_api(body: ApiTestBody, user: ConsoleEditor, plait: PlaitDep) -> dict[str, Any]:
    form = ApiProviderForm(
        name=body.provider_name or "test",
        schema=body.schema_,
        schema_type=body.schema_type,
        credentials=body.credentials,
        headers=body.headers,
    )
    return await plait.tool_catalog.test_api(
        user.workspace_id, form, body.tool_name, body.parameters, stored_name=body.provider_name
    )


# -- MCP servers ------------------------------------------------------------------------
class McpBody(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    server_url: str = Field(min_length=1, max_length=2048)
    server_identifier: str = Field(default="", max_length=24)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = DEFAULT_MCP_TIMEOUT
    icon: Any = None
    icon_type: str = Field(default="", max_length=32)
    icon_background: str = Field(default="", max_length=32)

    def form(self) -> McpProviderForm:
        return McpProviderForm(
            name=self.name,
            server_url=self.server_url,
            server_identifier=self.server_identifier,
            headers=self.headers,
            timeout=self.timeout,
            icon=self.icon,
            icon_type=self.icon_type,
            icon_background=self.icon_background,
        )


class McpUpdate(McpBody):
    provider_id: str = Field(min_length=1, max_length=64)


class McpRef(BaseModel):
    provider_id: str = Field(min_length=1, max_length=64)


@router.post("/tool-provider/mcp")
async def add_mcp(body: McpBody, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    row = await plait.tool_providers.add_mcp(user.workspace_id, user.actor(request_id), body.form())
    return plait.tool_catalog.mcp_item(row)


@router.put("/tool-provider/mcp")
async def update_mcp(body: McpUpdate, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, Any]:
    row = await plait.tool_providers.update_mcp(
        user.workspace_id, user.actor(request_id), body.provider_id, body.form()
    )
    return plait.tool_catalog.mcp_item(row)


@router.delete("/tool-provider/mcp")
async def delete_mcp(body: McpRef, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId) -> dict[str, str]:
    await plait.tool_providers.delete(user.workspace_id, user.actor(request_id), "mcp", body.provider_id)
    return SUCCESS


@router.get("/tool-provider/mcp/tools/{provider_id}")
async def mcp_tools(provider_id: str, user: ConsoleUser, plait: PlaitDep) -> list[dict[str, Any]]:
    return await plait.tool_catalog.mcp_tools(user.workspace_id, provider_id)


# -- workflow tools ---------------------------------------------------------------------
class WorkflowToolBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=255)
    description: str = Field(default="", max_length=10_000)
    parameters: list[dict[str, Any]] = Field(default_factory=list, max_length=100)
    icon: Any = None
    privacy_policy: str = Field(default="", max_length=2048)
    labels: list[str] = Field(default_factory=list, max_length=50)

    def form(self) -> WorkflowToolForm:
        return WorkflowToolForm(
            name=self.name,
            label=self.label,
            description=self.description,
            parameters=self.parameters,
            icon=self.icon,
            privacy_policy=self.privacy_policy,
            labels=self.labels,
        )


class WorkflowToolCreate(WorkflowToolBody):
    workflow_app_id: str = Field(min_length=1, max_length=64)


class WorkflowToolUpdate(WorkflowToolBody):
    workflow_tool_id: str = Field(min_length=1, max_length=64)


class WorkflowToolRef(BaseModel):
    workflow_tool_id: str = Field(min_length=1, max_length=64)


@router.post("/tool-provider/workflow/create")
async def create_workflow_tool(
    body: WorkflowToolCreate, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, str]:
    row = await plait.workflow_tools.create(
        user.workspace_id, user.actor(request_id), body.workflow_app_id, body.form()
    )
    return {**SUCCESS, "workflow_tool_id": row.id}


@router.post("/tool-provider/workflow/update")
async def update_workflow_tool(
    body: WorkflowToolUpdate, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, str]:
    await plait.workflow_tools.update(user.workspace_id, user.actor(request_id), body.workflow_tool_id, body.form())
    return SUCCESS


@router.post("/tool-provider/workflow/delete")
async def delete_workflow_tool(
    body: WorkflowToolRef, user: ConsoleEditor, plait: PlaitDep, request_id: RequestId
) -> dict[str, str]:
    await plait.workflow_tools.delete(user.workspace_id, user.actor(request_id), body.workflow_tool_id)
    return SUCCESS


@router.get("/tool-provider/workflow/get")
async def get_workflow_tool(
    user: ConsoleUser, plait: PlaitDep, workflow_tool_id: str | None = None, workflow_app_id: str | None = None
) -> dict[str, Any]:
    return await plait.tool_catalog.workflow_detail(user.workspace_id, tool_id=workflow_tool_id, app_id=workflow_app_id)


@router.get("/tool-provider/workflow/tools")
async def workflow_tools(workflow_tool_id: str, user: ConsoleUser, plait: PlaitDep) -> list[dict[str, Any]]:
    return await plait.tool_catalog.workflow_tools(user.workspace_id, workflow_tool_id)
