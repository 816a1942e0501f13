"""The signed-in account and its current workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from plait.api.deps import ConsoleUser

router = APIRouter(tags=["console: account"])


@router.get("/ping")
async def ping() -> dict[str, str]:
    return {"result": "pong"}


@router.get("/account/profile")
async def profile(user: ConsoleUser) -> dict[str, Any]:
    return {
        "id": user.account_id,
        "name": user.name,
        "email": user.email,
        "interface_language": user.interface_language,
        "timezone": user.timezone,
        "last_login_at": int(user.last_login_at.timestamp()) if user.last_login_at else None,
        "created_at": int(user.created_at.timestamp()),
    }


@router.get("/workspaces/current")
async def current_workspace(user: ConsoleUser) -> dict[str, Any]:
    return {"id": user.workspace_id, "name": user.workspace_name, "role": user.role}
