"""Typed dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from plait.app.accounts import ConsoleIdentity
from plait.app.bootstrap import Plait
from plait.errors import Forbidden, Unauthorized


# Dependencies are coroutines on purpose: FastAPI runs plain functions on a thread pool,
# which costs a thread hop per dependency per request.
async def get_plait(request: Request) -> Plait:
    plait: Plait = request.app.state.plait
    return plait


PlaitDep = Annotated[Plait, Depends(get_plait)]


async def request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


async def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
    return token.strip()


async def console_identity(request: Request, plait: PlaitDep) -> ConsoleIdentity:
    return await plait.accounts.authenticate(bearer_token(request))


ConsoleUser = Annotated[ConsoleIdentity, Depends(console_identity)]
RequestId = Annotated[str | None, Depends(request_id)]
ClientIp = Annotated[str | None, Depends(client_ip)]


EDITOR_ROLES = ("owner", "admin", "editor")


async def console_editor(user: ConsoleUser) -> ConsoleIdentity:
    """A console user allowed to change apps (owner, admin, editor)."""
    if user.role not in EDITOR_ROLES:
        raise Forbidden("Your role in this workspace cannot change apps.")
    return user


ConsoleEditor = Annotated[ConsoleIdentity, Depends(console_editor)]


ADMIN_ROLES = ("owner", "admin")


async def console_admin(user: ConsoleUser) -> ConsoleIdentity:
    """A console user allowed to manage the workspace (owner, admin): model providers,
    members."""
    if user.role not in ADMIN_ROLES:
        raise Forbidden("Only the workspace's owner and admins can do this.")
    return user


ConsoleAdmin = Annotated[ConsoleIdentity, Depends(console_admin)]
