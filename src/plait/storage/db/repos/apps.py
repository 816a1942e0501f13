"""Apps, their versions and their dataset links."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from plait.ids import is_uuid
from plait.storage.db.tables import DRAFT_VERSION, App, AppDatasetLink, AppVersion, Dataset


async def app_in_workspace(
    session: AsyncSession, workspace_id: str, app_id: str, *, for_update: bool = False
) -> App | None:
    if not is_uuid(app_id):
        return None
    statement = select(App).where(App.id == app_id, App.workspace_id == workspace_id)
    if for_update:
        # Serialises writers of one app on PostgreSQL; SQLite writers are already serial.
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def list_apps(session: AsyncSession, workspace_id: str) -> list[App]:
    rows = await session.execute(select(App).where(App.workspace_id == workspace_id).order_by(App.created_at))
    return list(rows.scalars())


async def page_of_apps(
    session: AsyncSession, workspace_id: str, *, page: int, limit: int, name: str | None
) -> tuple[list[App], int]:
    conditions = [App.workspace_id == workspace_id]
    if name:
        conditions.append(App.name.ilike(f"%{name}%"))
    total = (await session.execute(select(func.count()).select_from(App).where(*conditions))).scalar_one()
    rows = await session.execute(
        select(App)
        .where(*conditions)
        .order_by(App.created_at.desc(), App.id.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    return list(rows.scalars()), int(total)


async def versions(session: AsyncSession, app_id: str) -> list[AppVersion]:
    """Published versions, newest first, then the draft."""
    rows = await session.execute(
        select(AppVersion)
        .where(AppVersion.app_id == app_id)
        .order_by(AppVersion.created_at.desc(), AppVersion.id.desc())
    )
    found = list(rows.scalars())
    return [v for v in found if v.version != DRAFT_VERSION] + [v for v in found if v.version == DRAFT_VERSION]


async def draft(session: AsyncSession, app_id: str) -> AppVersion | None:
    statement = select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.version == DRAFT_VERSION)
    return (await session.execute(statement)).scalar_one_or_none()


async def version(session: AsyncSession, version_id: str) -> AppVersion | None:
    return await session.get(AppVersion, version_id)


async def existing_dataset_ids(session: AsyncSession, workspace_id: str, dataset_ids: Iterable[str]) -> set[str]:
    wanted = [value for value in dataset_ids if is_uuid(value)]
    if not wanted:
        return set()
    rows = await session.execute(select(Dataset.id).where(Dataset.workspace_id == workspace_id, Dataset.id.in_(wanted)))
    return set(rows.scalars())


async def replace_dataset_links(session: AsyncSession, app_id: str, dataset_ids: Iterable[str]) -> None:
    await session.execute(delete(AppDatasetLink).where(AppDatasetLink.app_id == app_id))
    session.add_all(AppDatasetLink(app_id=app_id, dataset_id=dataset_id) for dataset_id in sorted(set(dataset_ids)))
    await session.flush()


async def dataset_links(session: AsyncSession, app_id: str) -> list[str]:
    rows = await session.execute(select(AppDatasetLink.dataset_id).where(AppDatasetLink.app_id == app_id))
    return sorted(rows.scalars())
