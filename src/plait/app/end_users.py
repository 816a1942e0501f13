"""End users: the callers' users, identified by the opaque ``user`` string of each request and
scoped per app, as in Dify. One is created on first sight; concurrent first requests for the
same user end up with the same row.

An end user's row never changes and goes only with its app (whose keys go with it, so nothing
asks for its end users again), so each process keeps the ones it has seen, the most recent
``MAX_CACHED``: a returning user costs a request no read."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plait.storage.db import Database
from plait.storage.db.tables import EndUser

SERVICE_API = "service-api"
ANONYMOUS = "DEFAULT-USER"
MAX_CACHED = 10_000


class EndUsers:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._seen: OrderedDict[tuple[str, str], EndUser] = OrderedDict()

    async def get_or_create(self, workspace_id: str, app_id: str, user: str | None) -> EndUser:
        session_id = user or ANONYMOUS
        key = (app_id, session_id)
        seen = self._seen.get(key)
        if seen is not None:
            self._seen.move_to_end(key)
            return seen
        end_user = await self._read_or_create(workspace_id, app_id, user, session_id)
        self._seen[key] = end_user
        if len(self._seen) > MAX_CACHED:
            self._seen.popitem(last=False)
        return end_user

    async def _read_or_create(self, workspace_id: str, app_id: str, user: str | None, session_id: str) -> EndUser:
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
