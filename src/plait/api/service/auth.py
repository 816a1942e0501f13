"""App-key authentication: ``Authorization: Bearer app-...`` opens one app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plait.api.deps import PlaitDep, bearer_token
from plait.storage.db.tables import App


async def app_from_key(request: Request, plait: PlaitDep) -> App:
    return await plait.app_access.for_token(bearer_token(request))


KeyApp = Annotated[App, Depends(app_from_key)]
