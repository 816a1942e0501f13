"""The metadata database: SQLite (embedded default) or PostgreSQL, one schema, one set of
migrations. ``Database`` opens transactions; ``tables`` defines the schema; ``repos`` holds
the queries the ``app`` layer composes inside its transactions."""

from plait.storage.db.engine import Database

__all__ = ["Database"]
