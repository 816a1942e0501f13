"""Who did what: the actor of a change, and the append-only record of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from plait.storage.db.tables import AuditEvent

ActorType = Literal["account", "api_key", "cli", "system"]


@dataclass(frozen=True)
class Actor:
    """The initiator of a change: a console account, an API key, the CLI or Plait itself."""

    type: ActorType
    id: str | None = None
    request_id: str | None = None

    @property
    def account_id(self) -> str | None:
        return self.id if self.type == "account" else None


CLI = Actor(type="cli")
SYSTEM = Actor(type="system")


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    workspace_id: str | None,
    target_type: str,
    target_id: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the caller's transaction: it commits with the change or not at all."""
    session.add(
        AuditEvent(
            workspace_id=workspace_id,
            actor_type=actor.type,
            actor_id=actor.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail or {},
            request_id=actor.request_id,
        )
    )
