"""Which app an app key opens, and whether it may be served (Dify's gating, in its words).
An app's keys are deleted with it, so a key always finds its app or nothing.

Every Service API request starts here, so the key with its app is kept per process for
``cache_seconds`` (Dify keeps its keys in Redis for ten minutes): a request then costs no
read at all. Changes made through this process (a key revoked; an app published, changed or
deleted) apply at once: :meth:`AppAccess.forget_key` and :meth:`AppAccess.forget_app` drop
the entries. Changes made elsewhere (another process, another replica, SQL by hand) apply
within ``cache_seconds``. The app's status and ``enable_api`` are checked on every request,
against the cached row.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from plait.app.keys import PREFIXES, hash_key
from plait.errors import Forbidden, Unauthorized
from plait.storage.db import Database
from plait.storage.db.repos import keys as keys_repo
from plait.storage.db.tables import App

MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True)
class _Entry:
    app: App
    expires_at: float


class AppAccess:
    def __init__(self, db: Database, *, cache_seconds: float = 5.0) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        # Bumped by every forget: a lookup that read the database before a change was
        # committed and forgotten must not put what it read into the cache afterwards.
        self._generation = 0
        self._loading: dict[str, asyncio.Future[App | None]] = {}

    async def for_token(self, token: str) -> App:
        """The app an ``app-`` key opens, read with the key in one query (or from the cache)."""
        if not token.startswith(PREFIXES["app"]):
            raise Unauthorized("Access token is invalid")
        app = await self._app_for(hash_key(token))
        if app is None:
            raise Unauthorized("Access token is invalid")
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app

    async def _app_for(self, token_hash: str) -> App | None:
        entry = self._cache.get(token_hash)
        if entry is not None and entry.expires_at > time.monotonic():
            return entry.app
        # One read per key at a time: when an entry expires under load, the requests that
        # find it expired wait for the same read instead of each making its own.
        loading = self._loading.get(token_hash)
        if loading is None:
            loading = asyncio.ensure_future(self._read(token_hash))
            self._loading[token_hash] = loading
            loading.add_done_callback(lambda done: self._loaded(token_hash, done))
        return await asyncio.shield(loading)  # a request that goes away does not cancel the others' read

    async def _read(self, token_hash: str) -> App | None:
        generation = self._generation
        async with self._db.reader() as session:
            found = await keys_repo.app_key_with_app(session, token_hash)
        if found is None:  # unknown keys are not cached: a key created elsewhere works at once
            self._cache.pop(token_hash, None)
            return None
        app = found[1]
        if self._cache_seconds > 0 and generation == self._generation:
            self._cache[token_hash] = _Entry(app, time.monotonic() + self._cache_seconds)
            self._cache.move_to_end(token_hash)
            if len(self._cache) > MAX_CACHED_KEYS:
                self._cache.popitem(last=False)
        return app

    def _loaded(self, token_hash: str, done: asyncio.Future[App | None]) -> None:
        if self._loading.get(token_hash) is done:
            del self._loading[token_hash]
        if not done.cancelled():
            done.exception()  # its waiters got any failure; retrieved here in case all went away

    def forget_key(self, token_hash: str) -> None:
        """Call once a key's deletion is committed."""
        self._forget()
        self._cache.pop(token_hash, None)

    def forget_app(self, app_id: str) -> None:
        """Call once a change to an app (or its deletion) is committed."""
        self._forget()
        for token_hash in [key for key, entry in self._cache.items() if entry.app.id == app_id]:
            del self._cache[token_hash]

    def _forget(self) -> None:
        self._generation += 1
        # Reads in flight may predate the change: later requests must not wait for them.
        self._loading.clear()
