"""The run broker protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from plait.events import RunEvent


@dataclass(frozen=True)
class RunChannelInfo:
    """Who a run belongs to: a reconnecting request must match it to follow the run."""

    run_id: str
    task_id: str
    app_id: str
    user: str
    workflow_id: str
    created_at: int


class RunBroker(Protocol):
    def open(self, info: RunChannelInfo) -> None:
        """Start a run's channel; its events are kept from here on."""

    def publish(self, run_id: str, event: RunEvent) -> None: ...

    def close(self, run_id: str) -> None:
        """The run ended: followers get what is left and then the end of the stream."""

    def running(self) -> list[str]:
        """The ids of the runs with an open channel."""
        ...

    def info(self, run_id: str) -> RunChannelInfo | None:
        """The channel of a run that is running, else None."""

    def follow(self, run_id: str) -> AsyncIterator[RunEvent]:
        """Every event of the run so far, then the live ones, until it ends."""
        ...
