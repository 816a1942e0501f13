"""API keys (``app-`` and ``ds-``), looked up by the SHA-256 of the presented key."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.ids import is_uuid
from plait.storage.db.tables import ApiKey, App, Workspace


async def count_app_keys(session: AsyncSession, app_id: str) -> int:
    statement = select(func.count()).select_from(ApiKey).where(ApiKey.app_id == app_id, ApiKey.kind == "app")
    return int((await session.execute(statement)).scalar_one())


async def count_dataset_keys(session: AsyncSession, workspace_id: str) -> int:
    statement = (
        select(func.count()).select_from(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.kind == "dataset")
    )
    return int((await session.execute(statement)).scalar_one())


async def lock_workspace(session: AsyncSession, workspace_id: str) -> None:
    """Serialise key creation in a workspace (PostgreSQL; SQLite writers are serial)."""
    await session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())


async def app_key_with_app(session: AsyncSession, token_hash: str) -> tuple[ApiKey, App] | None:
    """An app key and its app, in one query (every Service API request starts here)."""
    statement = (
        select(ApiKey, App)
        .join(App, App.id == ApiKey.app_id)
        .where(ApiKey.token_hash == token_hash, ApiKey.kind == "app", App.workspace_id == ApiKey.workspace_id)
    )
    row = (await session.execute(statement)).first()
    return (row[0], row[1]) if row else None


async def key_by_hash(session: AsyncSession, token_hash: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.token_hash == token_hash))).scalar_one_or_none()


async def app_keys(session: AsyncSession, workspace_id: str, app_id: str) -> list[ApiKey]:
    rows = await session.execute(
        select(ApiKey)
        .where(ApiKey.workspace_id == workspace_id, ApiKey.app_id == app_id, ApiKey.kind == "app")
        .order_by(ApiKey.created_at)
    )
    return list(rows.scalars())


async def dataset_keys(session: AsyncSession, workspace_id: str) -> list[ApiKey]:
    rows = await session.execute(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.kind == "dataset").order_by(ApiKey.created_at)
    )
    return list(rows.scalars())


async def key_in_workspace(session: AsyncSession, workspace_id: str, key_id: str) -> ApiKey | None:
    if not is_uuid(key_id):
        return None
    key = await session.get(ApiKey, key_id)
    return key if key is not None and key.workspace_id == workspace_id else None
