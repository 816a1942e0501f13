"""Which app an app key opens, and whether it may be served (Dify's gating, in its words)."""

from __future__ import annotations

from plait.errors import Forbidden
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import App


class AppAccess:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def for_key(self, workspace_id: str, app_id: str) -> App:
        async with self._db.reader() as session:
            app = await apps_repo.app_in_workspace(session, workspace_id, app_id)
        if app is None:
            raise Forbidden("The app no longer exists.")
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app
