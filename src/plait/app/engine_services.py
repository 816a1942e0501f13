"""The engine's services for runs started by Plait: outbound HTTP through the egress
client built from settings, and the chat model every LLM node talks to."""

from __future__ import annotations

from plait.egress import Egress, EgressPolicy
from plait.engine.services import Services
from plait.providers.base import ChatModel
from plait.settings import EgressSettings


def egress_policy(settings: EgressSettings) -> EgressPolicy:
    return EgressPolicy(
        allow_loopback=settings.allow_loopback,
        allow_private=settings.allow_private,
        allowed_networks=settings.networks(),
        max_response_bytes=settings.max_response_bytes,
        total_timeout=settings.timeout_seconds,
    )


def build_services(settings: EgressSettings, model: ChatModel) -> tuple[Services, Egress]:
    """Services for a run, and the egress client to close when the run (or Plait) ends."""
    egress = Egress(egress_policy(settings))
    return Services(chat_model=lambda _config: model, http=lambda _node_id: egress), egress
