"""API keys, on SQLite and PostgreSQL.

Proves that ``app-`` and ``ds-`` keys have Dify's shape and are unique; that a key is never
stored in clear (not in any row, not in the SQLite file or its WAL, not in any PostgreSQL
row); that authentication accepts a key only for its own kind and refuses anything else;
that an app has at most ten keys, even when they are created concurrently; that a key
cannot be made for an app of another workspace; and that creating a key is audited without
the key.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.app.keys import CreatedKey
from plait.errors import BadRequest, Unauthorized
from plait.storage.db.tables import ApiKey, AuditEvent, Base, Workspace

from .conftest import OWNER_EMAIL, OWNER_PASSWORD

APP_KEY = re.compile(r"^app-[A-Za-z0-9]{24}$")
DATASET_KEY = re.compile(r"^ds-[A-Za-z0-9]{24}$")


@pytest.fixture
async def workspace_id(plait: Plait) -> str:
    result = await plait.accounts.setup(
        email=OWNER_EMAIL, password=OWNER_PASSWORD, name="Owner", workspace_name=None, actor=CLI
    )
    return result.workspace_id


@pytest.fixture
async def app_id(plait: Plait, workspace_id: str) -> str:
    app = await plait.apps.create(workspace_id, CLI, name="Keyed app", mode="workflow")
    return app.id


async def new_app_key(plait: Plait, workspace_id: str, app_id: str) -> CreatedKey:
    return await plait.keys.create(workspace_id, CLI, kind="app", app_id=app_id)


async def new_dataset_key(plait: Plait, workspace_id: str) -> CreatedKey:
    return await plait.keys.create(workspace_id, CLI, kind="dataset")


async def count_app_keys(plait: Plait, app_id: str) -> int:
    async with plait.db.reader() as session:
        statement = select(func.count()).select_from(ApiKey).where(ApiKey.app_id == app_id)
        return int((await session.execute(statement)).scalar_one())


# --- shape and uniqueness -----------------------------------------------------------------


async def test_app_keys_are_app_dash_and_24_alphanumerics(plait: Plait, workspace_id: str, app_id: str) -> None:
    created = await new_app_key(plait, workspace_id, app_id)
    assert APP_KEY.match(created.token), created.token


async def test_dataset_keys_are_ds_dash_and_24_alphanumerics(plait: Plait, workspace_id: str) -> None:
    created = await new_dataset_key(plait, workspace_id)
    assert DATASET_KEY.match(created.token), created.token


async def test_keys_are_unique(plait: Plait, workspace_id: str, app_id: str) -> None:
    app_keys = [await new_app_key(plait, workspace_id, app_id) for _ in range(10)]
    dataset_keys = [await new_dataset_key(plait, workspace_id) for _ in range(10)]
    created = app_keys + dataset_keys

    assert len({key.token for key in created}) == len(created)
    assert len({key.id for key in created}) == len(created)


# --- never stored in clear ----------------------------------------------------------------


async def dump_every_row(plait: Plait) -> str:
    rows: list[str] = []
    async with plait.db.reader() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                rows.append(repr(tuple(row)))
    return "\n".join(rows)


async def create_some_keys(plait: Plait, workspace_id: str, app_id: str) -> list[str]:
    return [
        (await new_app_key(plait, workspace_id, app_id)).token,
        (await new_app_key(plait, workspace_id, app_id)).token,
        (await new_dataset_key(plait, workspace_id)).token,
    ]


def secret_parts(token: str) -> list[str]:
    """The key, and its random part without the prefix."""
    return [token, token.split("-", 1)[1]]


async def test_keys_appear_in_no_row_of_any_table(plait: Plait, workspace_id: str, app_id: str) -> None:
    tokens = await create_some_keys(plait, workspace_id, app_id)

    dump = await dump_every_row(plait)

    assert "api_key.created" in dump  # the dump does see the rows written with the keys
    for token in tokens:
        for part in secret_parts(token):
            assert part not in dump


async def test_keys_appear_nowhere_in_the_raw_database(plait: Plait, workspace_id: str, app_id: str) -> None:
    tokens = await create_some_keys(plait, workspace_id, app_id)

    if plait.db.dialect == "sqlite":
        database = make_url(plait.db.url).database
        assert database
        files = [Path(database), Path(f"{database}-wal")]
        raw = b"".join(path.read_bytes() for path in files if path.exists())
        assert Path(database).stat().st_size > 0
        assert b"api_key.created" in raw  # the rows written with the keys are in these bytes
        for token in tokens:
            for part in secret_parts(token):
                assert part.encode() not in raw
    else:
        texts: list[str] = []
        async with plait.db.reader() as session:
            for table in Base.metadata.sorted_tables:
                query = text(f'SELECT row_to_json(t)::text FROM "{table.name}" t')
                texts.extend((await session.execute(query)).scalars())
        dump = "\n".join(texts)
        assert "api_key.created" in dump
        for token in tokens:
            for part in secret_parts(token):
                assert part not in dump


# --- authentication -----------------------------------------------------------------------


async def test_app_key_authenticates_as_its_app_and_workspace(plait: Plait, workspace_id: str, app_id: str) -> None:
    created = await new_app_key(plait, workspace_id, app_id)

    identity = await plait.keys.authenticate(created.token, kind="app")

    assert identity.app_id == app_id
    assert identity.workspace_id == workspace_id
    assert identity.key_id == created.id
    assert identity.kind == "app"


async def test_dataset_key_authenticates_as_its_workspace(plait: Plait, workspace_id: str) -> None:
    created = await new_dataset_key(plait, workspace_id)

    identity = await plait.keys.authenticate(created.token, kind="dataset")

    assert identity.workspace_id == workspace_id
    assert identity.app_id is None
    assert identity.kind == "dataset"


def random_body() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("dataset key as app key", "app"),
        ("app key as dataset key", "dataset"),
        ("app prefix and random body", "app"),
        ("ds prefix and random body", "dataset"),
        ("app key with one character changed", "app"),
        ("app key with its case swapped", "app"),
        ("app key without its prefix", "app"),
        ("not a key", "app"),
        ("empty", "app"),
    ],
)
async def test_anything_but_a_key_of_the_asked_kind_is_unauthorized(
    plait: Plait, workspace_id: str, app_id: str, case: str, kind: str
) -> None:
    app_key = (await new_app_key(plait, workspace_id, app_id)).token
    dataset_key = (await new_dataset_key(plait, workspace_id)).token
    changed = app_key[:-1] + ("A" if app_key[-1] != "A" else "B")
    presented = {
        "dataset key as app key": dataset_key,
        "app key as dataset key": app_key,
        "app prefix and random body": "app-" + random_body(),
        "ds prefix and random body": "ds-" + random_body(),
        "app key with one character changed": changed,
        "app key with its case swapped": "app-" + app_key[4:].swapcase(),
        "app key without its prefix": app_key[4:],
        "not a key": "Bearer sk-123",
        "empty": "",
    }[case]

    with pytest.raises(Unauthorized) as raised:
        await plait.keys.authenticate(presented, kind=kind)  # type: ignore[arg-type]

    assert raised.value.status == 401


# --- at most ten keys per app -------------------------------------------------------------


async def test_the_eleventh_app_key_is_refused(plait: Plait, workspace_id: str, app_id: str) -> None:
    for _ in range(10):
        await new_app_key(plait, workspace_id, app_id)

    with pytest.raises(BadRequest) as raised:
        await new_app_key(plait, workspace_id, app_id)

    assert raised.value.code == "max_keys_exceeded"
    assert raised.value.status == 400
    assert await count_app_keys(plait, app_id) == 10


async def test_concurrent_creation_stops_at_ten_keys(plait: Plait, workspace_id: str, app_id: str) -> None:
    results = await asyncio.gather(
        *(new_app_key(plait, workspace_id, app_id) for _ in range(15)), return_exceptions=True
    )

    created = [result for result in results if isinstance(result, CreatedKey)]
    refused = [result for result in results if not isinstance(result, CreatedKey)]
    assert len(created) == 10
    assert len(refused) == 5
    for error in refused:
        assert isinstance(error, BadRequest), repr(error)
        assert error.code == "max_keys_exceeded"
    assert await count_app_keys(plait, app_id) == 10


async def test_the_limit_is_per_app(plait: Plait, workspace_id: str, app_id: str) -> None:
    for _ in range(10):
        await new_app_key(plait, workspace_id, app_id)
    other = await plait.apps.create(workspace_id, CLI, name="Other app", mode="workflow")

    created = await new_app_key(plait, workspace_id, other.id)

    assert APP_KEY.match(created.token)


# --- workspace isolation ------------------------------------------------------------------


async def test_a_key_for_an_app_of_another_workspace_is_refused(plait: Plait, workspace_id: str, app_id: str) -> None:
    async with plait.db.transaction() as session:
        other_workspace = Workspace(name="Someone else's workspace")
        session.add(other_workspace)
    foreign_app = await plait.apps.create(other_workspace.id, CLI, name="Foreign app", mode="workflow")

    with pytest.raises(BadRequest) as raised:
        await new_app_key(plait, workspace_id, foreign_app.id)

    assert raised.value.code == "not_found"
    assert raised.value.status == 404
    assert await count_app_keys(plait, foreign_app.id) == 0


@pytest.mark.parametrize("missing_app_id", ["0190f5f5-0000-7000-8000-000000000000", "not-a-uuid", ""])
async def test_a_key_for_an_unknown_app_is_refused(plait: Plait, workspace_id: str, missing_app_id: str) -> None:
    with pytest.raises(BadRequest) as raised:
        await new_app_key(plait, workspace_id, missing_app_id)

    assert raised.value.code == "not_found"
    assert raised.value.status == 404


# --- audit --------------------------------------------------------------------------------


async def test_creating_a_key_is_audited_without_the_key(plait: Plait, workspace_id: str, app_id: str) -> None:
    created = await new_app_key(plait, workspace_id, app_id)

    async with plait.db.reader() as session:
        statement = select(AuditEvent).where(AuditEvent.action == "api_key.created")
        events = list((await session.execute(statement)).scalars())

    assert len(events) == 1
    event = events[0]
    assert event.target_type == "api_key"
    assert event.target_id == created.id
    assert event.workspace_id == workspace_id
    assert event.actor_type == "cli"
    detail = json.dumps(event.detail)
    for part in secret_parts(created.token):
        assert part not in detail
