"""App-key authentication: ``Authorization: Bearer app-...`` opens one app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plait.api.deps import PlaitDep, bearer_token
from plait.storage.db.tables import App


async def app_from_key(request: Request, plait: PlaitDep) -> App:
    identity = await plait.keys.authenticate(bearer_token(request), kind="app")
    assert identity.app_id is not None  # app keys always name their app
    return await plait.app_access.for_key(identity.workspace_id, identity.app_id)


KeyApp = Annotated[App, Depends(app_from_key)]
