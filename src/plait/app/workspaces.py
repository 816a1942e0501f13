"""Workspaces: which one a command acts in when the caller does not say."""

from __future__ import annotations

from plait.errors import BadRequest, NotFound
from plait.storage.db import Database
from plait.storage.db.repos import accounts as repo
from plait.storage.db.tables import Workspace


class Workspaces:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def resolve(self, workspace_id: str | None) -> Workspace:
        """The named workspace, or the only one there is."""
        async with self._db.reader() as session:
            workspaces = await repo.list_workspaces(session)
        if workspace_id:
            for workspace in workspaces:
                if workspace.id == workspace_id:
                    return workspace
            raise NotFound(f"Workspace {workspace_id} not found.")
        if not workspaces:
            raise BadRequest("Plait has no workspace yet: run `plait setup --email ... --password ...` first.")
        if len(workspaces) > 1:
            raise BadRequest("There are several workspaces; say which with --workspace ID.")
        return workspaces[0]
