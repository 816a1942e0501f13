"""The Service API's key cache, on SQLite and PostgreSQL.

Proves that a key and its app are read once and then served from memory; that a key revoked,
or an app published or deleted, through this process applies at once; that a change made
behind Plait's back applies when the cached entry expires; that a lookup racing a change
never caches what it read before the change; and that end users are read once per process.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from plait.app.app_access import AppAccess
from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.errors import Forbidden, Unauthorized
from plait.storage.db.repos import keys as keys_repo
from plait.storage.db.tables import App

from .api.test_service_workflows import WORKFLOW_APP, Published, publish
from .conftest import OWNER_EMAIL, OWNER_PASSWORD


@pytest.fixture
async def published(plait: Plait) -> Published:
    setup = await plait.accounts.setup(
        email=OWNER_EMAIL, password=OWNER_PASSWORD, name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, WORKFLOW_APP, setup.workspace_id)


async def disable_api_behind_plaits_back(plait: Plait, app_id: str) -> None:
    async with plait.db.transaction() as session:
        await session.execute(update(App).where(App.id == app_id).values(enable_api=False))


async def test_a_key_is_read_once_then_served_from_memory(plait: Plait, published: Published) -> None:
    assert (await plait.app_access.for_token(published.key)).id == published.app_id
    await disable_api_behind_plaits_back(plait, published.app_id)
    assert (await plait.app_access.for_token(published.key)).enable_api  # the cached row


async def test_a_change_behind_plaits_back_applies_once_the_entry_expires(
    plait: Plait, published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = AppAccess(plait.db, cache_seconds=5.0)
    clock = [1000.0]
    monkeypatch.setattr("plait.app.app_access.time.monotonic", lambda: clock[0])
    await access.for_token(published.key)
    await disable_api_behind_plaits_back(plait, published.app_id)
    clock[0] += 4.9
    await access.for_token(published.key)
    clock[0] += 0.2
    with pytest.raises(Forbidden, match="disabled"):
        await access.for_token(published.key)


async def test_without_a_cache_every_request_reads(plait: Plait, published: Published) -> None:
    access = AppAccess(plait.db, cache_seconds=0)
    await access.for_token(published.key)
    await disable_api_behind_plaits_back(plait, published.app_id)
    with pytest.raises(Forbidden, match="disabled"):
        await access.for_token(published.key)


async def test_a_revoked_key_is_refused_at_once(plait: Plait, published: Published) -> None:
    other = await plait.keys.create(published.workspace_id, CLI, kind="app", app_id=published.app_id)
    await plait.app_access.for_token(published.key)
    await plait.app_access.for_token(other.token)
    await plait.keys.revoke(published.workspace_id, CLI, other.id)
    with pytest.raises(Unauthorized):
        await plait.app_access.for_token(other.token)
    assert (await plait.app_access.for_token(published.key)).id == published.app_id


async def test_a_publish_applies_at_once(plait: Plait, published: Published) -> None:
    before = (await plait.app_access.for_token(published.key)).published_version_id
    version = await plait.apps.publish(published.workspace_id, CLI, published.app_id)
    assert version.id != before
    assert (await plait.app_access.for_token(published.key)).published_version_id == version.id


async def test_a_deleted_app_is_refused_at_once(plait: Plait, published: Published) -> None:
    await plait.app_access.for_token(published.key)
    await plait.apps.delete(published.workspace_id, CLI, published.app_id)
    with pytest.raises(Unauthorized):
        await plait.app_access.for_token(published.key)


async def test_a_lookup_racing_a_change_does_not_cache_what_it_read(
    plait: Plait, published: Published, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = keys_repo.app_key_with_app

    async def read_then_change(session: Any, token_hash: str) -> Any:
        found = await read(session, token_hash)
        plait.app_access.forget_app(published.app_id)  # a publish committed meanwhile
        return found

    monkeypatch.setattr(keys_repo, "app_key_with_app", read_then_change)
    await plait.app_access.for_token(published.key)
    monkeypatch.setattr(keys_repo, "app_key_with_app", read)
    await disable_api_behind_plaits_back(plait, published.app_id)
    with pytest.raises(Forbidden, match="disabled"):
        await plait.app_access.for_token(published.key)


async def test_an_end_user_is_read_once_per_process(plait: Plait, published: Published) -> None:
    app = await plait.app_access.for_token(published.key)
    first = await plait.workflow_runs.end_user(app, "alice")
    again = await plait.workflow_runs.end_user(app, "alice")
    assert again is first
    assert (await plait.workflow_runs.end_user(app, "bob")).id != first.id
