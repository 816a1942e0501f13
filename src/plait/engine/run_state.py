"""What a run and its child graph executions share: its limits, its counters, where its
events go, and its secrets (masked in everything it logs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plait.events import RunEvent

SECRET_MASK = "******"  # noqa: S105 (the mask, not a secret)


@dataclass(frozen=True)
class RunLimits:
    max_steps: int = 500
    max_seconds: float = 1200.0
    max_call_depth: int = 5
    max_variable_bytes: int = 200 * 1024


class RunFailed(Exception):
    """The run cannot go on. ``cause`` is the node failure that ended it, if one did."""

    def __init__(
        self,
        message: str,
        error_type: str = "WorkflowError",
        *,
        cause: BaseException | None = None,
        node_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.cause = cause
        self.node_id = node_id


@dataclass
class RunState:
    """State shared by a run and its child graph executions."""

    run_id: str
    mode: str
    services: Any
    limits: RunLimits
    emit: Callable[[RunEvent], None]
    steps: int = 0
    exceptions: int = 0
    total_tokens: int = 0
    answer_parts: list[str] = field(default_factory=list)
    secrets: tuple[str, ...] = ()

    def masked(self, value: Any) -> Any:
        """``value`` with every secret environment value replaced, for what gets logged."""
        if not self.secrets or value is None:
            return value
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, SECRET_MASK)
            return value
        if isinstance(value, dict):
            return {key: self.masked(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.masked(item) for item in value]
        return value
