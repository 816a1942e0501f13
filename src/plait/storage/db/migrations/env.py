"""Alembic environment. Plait always passes an open connection (see ``migrate.py``);
migrations never open their own, so they run inside the caller's lock and transaction."""

from __future__ import annotations

from alembic import context

from plait.storage.db.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `plait db upgrade`, which holds the migration lock")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
