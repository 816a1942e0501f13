"""Console login and logout."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from plait.api.deps import ClientIp, ConsoleUser, PlaitDep, bearer_token

router = APIRouter(tags=["console: auth"])


class LoginBody(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    remember_me: bool = False


@router.post("/login")
async def login(body: LoginBody, plait: PlaitDep, ip: ClientIp) -> dict[str, Any]:
    result = await plait.accounts.login(email=body.email, password=body.password, ip=ip)
    return {
        "result": "success",
        "data": {"access_token": result.token, "expires_at": int(result.expires_at.timestamp())},
    }


@router.post("/logout")
async def logout(request: Request, _user: ConsoleUser, plait: PlaitDep) -> dict[str, str]:
    await plait.accounts.logout(bearer_token(request))
    return {"result": "success"}
