"""The engine's services for runs started by Plait: outbound HTTP through the egress
client and code through the sandbox, both built from settings, and the chat model every
LLM node talks to."""

from __future__ import annotations

from plait.egress import Egress, EgressPolicy
from plait.engine.services import Services
from plait.providers.base import ChatModel
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


def build_services(
    egress_settings: EgressSettings, code_settings: CodeSettings, model: ChatModel
) -> tuple[Services, Egress]:
    """Services for a run, and the egress client to close when the run (or Plait) ends."""
    egress = Egress(egress_policy(egress_settings))
    services = Services(
        chat_model=lambda _config: model,
        http=lambda _node_id: egress,
        code=code_sandbox(code_settings),
    )
    return services, egress
