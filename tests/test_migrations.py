"""Schema migrations, on SQLite and PostgreSQL, each test on its own fresh database.

Proves that ``migrate.upgrade`` takes an empty database to the head revision and is a no-op
the second time; that the migrated schema is exactly the one ``tables.py`` declares (apart
from the documented PostgreSQL-only GIN indexes, which must exist); that the migrations
downgrade to an empty schema and upgrade again; that JSON columns are ``jsonb`` on
PostgreSQL and that SQLite runs in WAL mode with foreign keys enforced; and that concurrent
read-then-write transactions through ``Database.transaction()`` neither deadlock nor lose
updates (SQLite: ``BEGIN IMMEDIATE`` on the single writer; PostgreSQL: ``FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from plait.storage.db import Database, migrate
from plait.storage.db.tables import Base, Workspace

# Created by the migration on PostgreSQL only; SQLAlchemy models cannot declare them portably.
POSTGRES_ONLY_GIN_INDEXES = {"ix_messages_message_metadata_gin", "ix_workflow_runs_outputs_gin"}
CONCURRENT_WRITERS = 20


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def migrated_db(db: Database) -> Database:
    await migrate.upgrade(db)
    return db


def _table_names(sync_conn: Any) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


def _schema_differences(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _index_name(difference: Any) -> str | None:
    """The index a ``remove_index``/``add_index`` difference is about, else None."""
    if isinstance(difference, tuple) and difference and difference[0] in ("remove_index", "add_index"):
        return str(difference[1].name)
    return None


async def test_upgrade_takes_an_empty_database_to_head(db: Database) -> None:
    assert await migrate.current_revision(db) is None
    assert not await migrate.is_up_to_date(db)

    result = await migrate.upgrade(db)

    head = migrate.head_revision()
    assert head is not None
    assert result.before is None
    assert result.after == head
    assert result.applied
    assert await migrate.current_revision(db) == head
    assert await migrate.is_up_to_date(db)


async def test_second_upgrade_applies_nothing(db: Database) -> None:
    first = await migrate.upgrade(db)
    second = await migrate.upgrade(db)

    assert first.applied
    assert not second.applied
    assert second.before == second.after == migrate.head_revision()


async def test_migrated_schema_matches_the_models(migrated_db: Database) -> None:
    differences = await migrated_db.run_sync(_schema_differences)

    unexpected = [d for d in differences if _index_name(d) not in POSTGRES_ONLY_GIN_INDEXES]
    assert unexpected == [], "the migrations and tables.py disagree:\n" + "\n".join(map(repr, unexpected))
    reported_gin = {_index_name(d) for d in differences} - {None}
    if migrated_db.dialect == "postgresql":
        # Alembic reports them as "only in the database", which is exactly what they are.
        assert reported_gin == POSTGRES_ONLY_GIN_INDEXES
    else:
        assert reported_gin == set()


async def test_postgresql_gin_indexes_exist(migrated_db: Database) -> None:
    if migrated_db.dialect != "postgresql":
        pytest.skip("GIN indexes are PostgreSQL-only")
    async with migrated_db.reader() as session:
        rows = await session.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE :pattern"),
            {"pattern": "%\\_gin"},
        )
        definitions = {name: definition for name, definition in rows}

    assert set(definitions) == POSTGRES_ONLY_GIN_INDEXES
    assert "ON public.messages USING gin (message_metadata)" in definitions["ix_messages_message_metadata_gin"]
    assert "ON public.workflow_runs USING gin (outputs)" in definitions["ix_workflow_runs_outputs_gin"]


async def test_downgrade_to_base_leaves_only_alembic_version(migrated_db: Database) -> None:
    def downgrade(sync_conn: Any) -> None:
        command.downgrade(migrate.alembic_config(sync_conn), "base")

    await migrated_db.run_sync(downgrade)

    assert await migrated_db.run_sync(_table_names) == {"alembic_version"}
    assert await migrate.current_revision(migrated_db) is None
    if migrated_db.dialect == "postgresql":
        async with migrated_db.reader() as session:
            functions = await session.scalar(
                text("SELECT count(*) FROM pg_proc WHERE proname = 'plait_refuse_audit_change'")
            )
        assert functions == 0


async def test_upgrade_after_downgrade_rebuilds_the_schema(migrated_db: Database) -> None:
    def downgrade_then_upgrade(sync_conn: Any) -> None:
        command.downgrade(migrate.alembic_config(sync_conn), "base")
        command.upgrade(migrate.alembic_config(sync_conn), "head")

    await migrated_db.run_sync(downgrade_then_upgrade)

    assert await migrate.current_revision(migrated_db) == migrate.head_revision()
    assert await migrated_db.run_sync(_table_names) == set(Base.metadata.tables) | {"alembic_version"}
    differences = await migrated_db.run_sync(_schema_differences)
    assert [d for d in differences if _index_name(d) not in POSTGRES_ONLY_GIN_INDEXES] == []


async def test_json_columns_are_jsonb_on_postgresql(migrated_db: Database) -> None:
    if migrated_db.dialect != "postgresql":
        pytest.skip("jsonb is a PostgreSQL type")
    json_columns = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, JSON)
    }
    assert {("messages", "message_metadata"), ("workflow_runs", "outputs")} <= json_columns

    async with migrated_db.reader() as session:
        rows = await session.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
        )
        data_types = {(table, column): data_type for table, column, data_type in rows}

    assert {column: data_types[column] for column in json_columns} == dict.fromkeys(json_columns, "jsonb")


async def test_sqlite_uses_wal_and_enforces_foreign_keys(migrated_db: Database) -> None:
    if migrated_db.dialect != "sqlite":
        pytest.skip("journal mode and the foreign_keys pragma are SQLite settings")
    async with migrated_db.engine.connect() as conn:
        journal_mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    async with migrated_db.connection() as conn:  # the writer's own connection is configured too
        writer_foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()

    assert str(journal_mode).lower() == "wal"
    assert foreign_keys == 1
    assert writer_foreign_keys == 1


async def _increment(session: AsyncSession, workspace_id: str, *, lock: bool) -> None:
    """Read the counter (the workspace's name), yield to the other writers, write it back + 1."""
    statement = select(Workspace).where(Workspace.id == workspace_id)
    if lock:
        statement = statement.with_for_update()
    workspace = (await session.execute(statement)).scalar_one()
    await asyncio.sleep(0.001)  # let every other writer get to its read before this one writes
    workspace.name = str(int(workspace.name) + 1)


async def _counter_workspace(db: Database) -> str:
    async with db.transaction() as session:
        workspace = Workspace(name="0")
        session.add(workspace)
    return workspace.id


async def test_concurrent_read_then_write_transactions_all_commit(migrated_db: Database) -> None:
    db = migrated_db
    workspace_id = await _counter_workspace(db)

    async def writer() -> None:
        async with db.transaction() as session:
            # SQLite needs no lock: BEGIN IMMEDIATE already serialises writers. PostgreSQL
            # needs FOR UPDATE, or concurrent read-modify-writes would lose updates.
            await _increment(session, workspace_id, lock=db.dialect == "postgresql")

    results = await asyncio.wait_for(
        asyncio.gather(*(writer() for _ in range(CONCURRENT_WRITERS)), return_exceptions=True), timeout=60
    )

    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == [], f"{len(errors)} of {CONCURRENT_WRITERS} writers failed, first: {errors[0]!r}"
    async with db.reader() as session:
        final = await session.scalar(select(Workspace.name).where(Workspace.id == workspace_id))
    assert final == str(CONCURRENT_WRITERS)


async def test_sqlite_deferred_read_then_write_transactions_would_fail(migrated_db: Database) -> None:
    """Control for the test above: the same workload in deferred (plain ``BEGIN``)
    transactions, the reader engine's kind, does hit SQLite's lock upgrade failure. So the
    test above passes because of ``BEGIN IMMEDIATE``, not because the workload is harmless."""
    db = migrated_db
    if db.dialect != "sqlite":
        pytest.skip("the deferred-transaction lock upgrade is an SQLite hazard")
    workspace_id = await _counter_workspace(db)

    async def deferred_writer() -> None:
        async with AsyncSession(db.engine) as session, session.begin():
            await _increment(session, workspace_id, lock=False)

    results = await asyncio.wait_for(
        asyncio.gather(*(deferred_writer() for _ in range(CONCURRENT_WRITERS)), return_exceptions=True), timeout=60
    )

    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors, "expected deferred read-then-write transactions to collide"
    assert all("database is locked" in str(error) for error in errors), errors[0]
