"""Which app an app key opens, and whether it may be served (Dify's gating, in its words).
An app's keys are deleted with it, so a key always finds its app or nothing."""

from __future__ import annotations

from plait.app.keys import PREFIXES, hash_key
from plait.errors import Forbidden, Unauthorized
from plait.storage.db import Database
from plait.storage.db.repos import keys as keys_repo
from plait.storage.db.tables import App


class AppAccess:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def for_token(self, token: str) -> App:
        """The app an ``app-`` key opens, read with the key in one query."""
        if not token.startswith(PREFIXES["app"]):
            raise Unauthorized("Access token is invalid")
        async with self._db.reader() as session:
            found = await keys_repo.app_key_with_app(session, hash_key(token))
        if found is None:
            raise Unauthorized("Access token is invalid")
        app = found[1]
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app
