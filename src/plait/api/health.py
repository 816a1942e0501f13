"""Liveness and readiness probes."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter

from plait.api.deps import PlaitDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(plait: PlaitDep) -> dict[str, Any]:
    """Liveness: the process answers. No I/O, so a slow database never gets it restarted."""
    return {"pid": os.getpid(), "status": "ok", "version": plait.version}


@router.get("/ready", responses={503: {"description": "database unreachable or not migrated"}})
async def ready(plait: PlaitDep) -> dict[str, Any]:
    """Readiness: the database answers and its schema is current."""
    revision = await plait.check_ready()
    return {"status": "ready", "database": plait.db.dialect, "schema_revision": revision}
