"""First run: create the first workspace and its owner, once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from plait.api.deps import PlaitDep, RequestId
from plait.app.audit import Actor

router = APIRouter(tags=["console: setup"])


class SetupBody(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    name: str | None = Field(default=None, max_length=255)
    workspace_name: str | None = Field(default=None, max_length=255)
    init_password: str | None = Field(default=None, max_length=256)


@router.get("/setup")
async def setup_status(plait: PlaitDep) -> dict[str, Any]:
    status = await plait.accounts.setup_status()
    return {
        "step": "finished" if status.done else "not_started",
        "setup_at": status.setup_at.isoformat() if status.setup_at else None,
    }


@router.post("/setup", status_code=201)
async def setup(body: SetupBody, plait: PlaitDep, request_id: RequestId) -> dict[str, str]:
    plait.accounts.check_init_password(body.init_password)
    await plait.accounts.setup(
        email=body.email,
        password=body.password,
        name=body.name,
        workspace_name=body.workspace_name,
        actor=Actor(type="system", request_id=request_id),
    )
    return {"result": "success"}
