"""End users: the callers' users, identified by the opaque ``user`` string of each request and
scoped per app, as in Dify. One is created on first sight; concurrent first requests for the
same user end up with the same row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plait.storage.db import Database
from plait.storage.db.tables import EndUser

SERVICE_API = "service-api"
ANONYMOUS = "DEFAULT-USER"


class EndUsers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_or_create(self, workspace_id: str, app_id: str, user: str | None) -> EndUser:
        session_id = user or ANONYMOUS
        statement = select(EndUser).where(
            EndUser.app_id == app_id, EndUser.type == SERVICE_API, EndUser.session_id == session_id
        )
        async with self._db.reader() as session:
            found = (await session.execute(statement)).scalar_one_or_none()
        if found is not None:
            return found
        try:
            async with self._db.transaction() as session:
                created = EndUser(
                    workspace_id=workspace_id,
                    app_id=app_id,
                    type=SERVICE_API,
                    external_user_id=user,
                    session_id=session_id,
                    is_anonymous=user is None,
                )
                session.add(created)
            return created
        except IntegrityError:  # created by a concurrent request for the same user
            async with self._db.reader() as session:
                return (await session.execute(statement)).scalar_one()
