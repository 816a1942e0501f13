"""Accounts, memberships, console sessions and login failures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.storage.db.tables import Account, AccountSession, LoginFailure, Membership, SetupMarker, Workspace


async def setup_marker(session: AsyncSession) -> SetupMarker | None:
    return await session.get(SetupMarker, 1)


async def account_by_email(session: AsyncSession, email: str) -> Account | None:
    return (await session.execute(select(Account).where(Account.email == email))).scalar_one_or_none()


async def count_accounts(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(Account))).scalar_one())


async def lock_login_email(session: AsyncSession, email: str) -> None:
    """Serialise login attempts for one email until the transaction ends. SQLite's writers
    are serial already; PostgreSQL takes a transaction-scoped advisory lock."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("plait-login:" + email))))


async def recent_failures(session: AsyncSession, email: str, since: datetime) -> list[datetime]:
    rows = await session.execute(
        select(LoginFailure.created_at)
        .where(LoginFailure.email == email, LoginFailure.created_at > since)
        .order_by(LoginFailure.created_at)
    )
    return list(rows.scalars())


async def clear_failures(session: AsyncSession, email: str) -> None:
    await session.execute(delete(LoginFailure).where(LoginFailure.email == email))


async def session_with_account(session: AsyncSession, token_hash: str) -> tuple[AccountSession, Account] | None:
    row = (
        await session.execute(
            select(AccountSession, Account)
            .join(Account, Account.id == AccountSession.account_id)
            .where(AccountSession.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def delete_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(AccountSession).where(AccountSession.token_hash == token_hash))


async def delete_expired_sessions(session: AsyncSession, now: datetime) -> None:
    await session.execute(delete(AccountSession).where(AccountSession.expires_at <= now))


async def current_membership(session: AsyncSession, account_id: str) -> tuple[Membership, Workspace] | None:
    """The account's workspace: its oldest membership in a workspace that is not archived."""
    row = (
        await session.execute(
            select(Membership, Workspace)
            .join(Workspace, Workspace.id == Membership.workspace_id)
            .where(Membership.account_id == account_id, Workspace.status == "normal")
            .order_by(Membership.created_at)
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def list_workspaces(session: AsyncSession) -> list[Workspace]:
    return list((await session.execute(select(Workspace).order_by(Workspace.created_at))).scalars())
