"""The engine's services for runs started by Plait: outbound HTTP through the egress
client, code through the sandbox, and models and tools through the workspace's providers."""

from __future__ import annotations

from typing import Protocol

from plait.app.run_files import RunFiles
from plait.egress import Egress, EgressPolicy
from plait.engine.services import Models, Retriever, Services, ToolInvoker
from plait.sandbox import CodeSandbox, SandboxLimits
from plait.settings import CodeSettings, EgressSettings


def egress_policy(settings: EgressSettings) -> EgressPolicy:
    return EgressPolicy(
        allow_loopback=settings.allow_loopback,
        allow_private=settings.allow_private,
        allowed_networks=settings.networks(),
        max_response_bytes=settings.max_response_bytes,
        total_timeout=settings.timeout_seconds,
    )


def code_sandbox(settings: CodeSettings) -> CodeSandbox:
    limits = SandboxLimits(
        cpu_seconds=settings.cpu_seconds,
        wall_seconds=settings.wall_seconds,
        memory_bytes=settings.memory_mb * 1024 * 1024,
    )
    return CodeSandbox(limits, node_path=settings.node_path)


class WorkspaceModelSource(Protocol):
    """Where a workspace's models come from (``app.model_resolver.ModelResolver``)."""

    def for_workspace(self, workspace_id: str) -> Models: ...


class WorkspaceToolSource(Protocol):
    """Where a workspace's tools come from (``app.tool_invoker.ToolInvokers``)."""

    def for_workspace(self, workspace_id: str) -> ToolInvoker: ...


class WorkspaceRetrieverSource(Protocol):
    """Knowledge retrieval, per workspace (``app.knowledge_retrieval``)."""

    def for_workspace(self, workspace_id: str) -> Retriever: ...


class EngineServices:
    """Builds the :class:`Services` of a run for the workspace it runs in. One per process;
    the services of a workspace are kept, as they hold nothing per run."""

    def __init__(
        self,
        egress: Egress,
        code: CodeSandbox,
        models: WorkspaceModelSource,
        *,
        files: RunFiles | None = None,
        tools: WorkspaceToolSource | None = None,
        retrieval: WorkspaceRetrieverSource | None = None,
    ) -> None:
        self.egress = egress
        self.code = code
        self.models = models
        self.files = files
        self.tools = tools
        self.retrieval = retrieval
        self._by_workspace: dict[str, Services] = {}

    def for_workspace(self, workspace_id: str) -> Services:
        services = self._by_workspace.get(workspace_id)
        if services is None:
            egress = self.egress
            services = Services(
                models=self.models.for_workspace(workspace_id),
                http=lambda _node_id: egress,
                code=self.code,
                files=self.files.reader(workspace_id) if self.files is not None else None,
                tools=self.tools.for_workspace(workspace_id) if self.tools is not None else None,
                retrieval=self.retrieval.for_workspace(workspace_id) if self.retrieval is not None else None,
            )
            self._by_workspace[workspace_id] = services
        return services
