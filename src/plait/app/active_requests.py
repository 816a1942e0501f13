"""The per-app concurrency gate (Dify's ``max_active_requests``): a generation holds a slot
from its start until its stream ends or is stopped; past the limit, new ones get 429.

The count is kept in this process. (With several API replicas it will live in Redis.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import TypeVar

from plait.errors import TooManyRequests
from plait.storage.db.tables import App

T = TypeVar("T")


class Slot:
    def __init__(self, gate: ActiveRequests, app_id: str) -> None:
        self._gate, self._app_id, self._held = gate, app_id, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate._release(self._app_id)

    async def around(self, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """``events``, releasing the slot when they end, fail or are abandoned."""
        try:
            async for event in events:
                yield event
        finally:
            self.release()


class ActiveRequests:
    def __init__(self, *, default_limit: int = 0, max_limit: int = 0) -> None:
        self._default = default_limit
        self._max = max_limit
        self._active: Counter[str] = Counter()

    def limit_for(self, app: App) -> int:
        """0 means unlimited; an app's own limit is capped by the server-wide maximum."""
        limit = app.max_active_requests or self._default
        if self._max and (limit == 0 or limit > self._max):
            limit = self._max
        return limit

    def acquire(self, app: App) -> Slot:
        limit = self.limit_for(app)
        if limit and self._active[app.id] >= limit:
            raise TooManyRequests(
                "Too many requests. Please try again later. "
                f"The current maximum concurrent requests allowed for {app.name} is {limit}."
            )
        self._active[app.id] += 1
        return Slot(self, app.id)

    def active(self, app_id: str) -> int:
        return self._active[app_id]

    def _release(self, app_id: str) -> None:
        self._active[app_id] -= 1
        if self._active[app_id] <= 0:
            del self._active[app_id]
