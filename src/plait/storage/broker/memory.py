"""The in-process run broker: each running run's events in a bounded buffer, with
followers woken as events arrive. A run that ended has no channel any more (its record in
the database answers); followers already reading it get the rest first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from plait.events import RunEvent
from plait.storage.broker.base import RunChannelInfo

MAX_EVENTS_PER_RUN = 20_000


@dataclass
class _Channel:
    """``events[0]`` (the run's start) is kept for good; the rest is a window of the newest,
    ``skipped`` events having been dropped between the two."""

    info: RunChannelInfo
    events: list[RunEvent] = field(default_factory=list)
    skipped: int = 0
    closed: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return len(self.events) + self.skipped

    def at(self, position: int) -> tuple[int, RunEvent]:
        """The event at an absolute position, or the first one kept after it; and where."""
        if position == 0:
            return 0, self.events[0]
        position = max(position, self.skipped + 1)
        return position, self.events[position - self.skipped]


class MemoryRunBroker:
    def __init__(self, *, max_events: int = MAX_EVENTS_PER_RUN) -> None:
        self._channels: dict[str, _Channel] = {}
        self._max_events = max_events

    def open(self, info: RunChannelInfo) -> None:
        self._channels[info.run_id] = _Channel(info)

    def publish(self, run_id: str, event: RunEvent) -> None:
        channel = self._channels.get(run_id)
        if channel is None:
            return
        if len(channel.events) >= self._max_events:
            # Keep the run's start and the newest events: a follower of a huge run misses
            # some of the middle, never the start or the end.
            del channel.events[1]
            channel.skipped += 1
        channel.events.append(event)
        channel.changed.set()

    def close(self, run_id: str) -> None:
        channel = self._channels.pop(run_id, None)
        if channel is not None:
            channel.closed = True
            channel.changed.set()

    def running(self) -> list[str]:
        """The ids of the runs with an open channel."""
        return list(self._channels)

    def info(self, run_id: str) -> RunChannelInfo | None:
        channel = self._channels.get(run_id)
        return channel.info if channel is not None else None

    async def follow(self, run_id: str) -> AsyncIterator[RunEvent]:
        channel = self._channels.get(run_id)
        if channel is None:
            return
        position = 0
        while True:
            while position < channel.total:
                position, event = channel.at(position)
                yield event
                position += 1
            if channel.closed:
                return
            channel.changed.clear()
            if position < channel.total:  # published between the loop and the clear
                continue
            await channel.changed.wait()
