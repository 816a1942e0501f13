"""First run and console authentication, on SQLite and PostgreSQL.

Proves that: there is no default account before setup; setup runs exactly once, even when
several requests race for it, and creates one account, one workspace and one owner
membership; passwords are kept only as argon2id hashes and must meet the policy;
``INIT_PASSWORD`` guards setup when set; login issues a session token (stored only as its
SHA-256) that opens the console and stops working on logout or expiry; failed logins are
rate-limited per email; and the audit log records setup and refuses UPDATE and DELETE.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from plait.app import accounts as accounts_module
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Account, AccountSession, AuditEvent, Base, Membership, Workspace
from plait.storage.db.types import utcnow

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, StartPlait

SETUP = "/console/api/setup"
LOGIN = "/console/api/login"
LOGOUT = "/console/api/logout"
PROFILE = "/console/api/account/profile"
CURRENT_WORKSPACE = "/console/api/workspaces/current"


def setup_body(email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD, **extra: str) -> dict[str, str]:
    return {"email": email, "password": password, "name": "Owner", **extra}


async def login(client: httpx.AsyncClient, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> httpx.Response:
    return await client.post(LOGIN, json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


async def count_rows(plait: Plait, table: type[Base]) -> int:
    async with plait.db.reader() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


# --- before setup -------------------------------------------------------------------------


async def test_setup_status_before_setup_is_not_started(client: httpx.AsyncClient) -> None:
    response = await client.get(SETUP)
    assert response.status_code == 200
    assert response.json() == {"step": "not_started", "setup_at": None}


@pytest.mark.parametrize(
    ("email", "password"),
    [(OWNER_EMAIL, OWNER_PASSWORD), ("admin@example.com", "admin"), ("admin@example.com", "password123")],
)
async def test_login_before_setup_fails_because_no_default_account_exists(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    response = await login(client, email, password)
    assert_error(response, 400, "email_or_password_mismatch")


# --- setup --------------------------------------------------------------------------------


async def test_setup_succeeds_and_then_reports_finished(client: httpx.AsyncClient) -> None:
    response = await client.post(SETUP, json=setup_body())
    assert response.status_code == 201, response.text
    assert response.json() == {"result": "success"}

    status = (await client.get(SETUP)).json()
    assert status["step"] == "finished"
    assert isinstance(status["setup_at"], str)
    assert status["setup_at"]


async def test_second_setup_is_refused_with_already_setup(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    response = await client.post(SETUP, json=setup_body(email="second@example.com"))
    assert_error(response, 403, "already_setup")
    assert await count_rows(plait, Account) == 1


async def test_concurrent_setups_create_exactly_one_owner(client: httpx.AsyncClient, plait: Plait) -> None:
    responses = await asyncio.gather(
        *(client.post(SETUP, json=setup_body(email=f"owner{i}@example.com")) for i in range(5))
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 403, 403, 403, 403], [response.text for response in responses]
    for response in responses:
        if response.status_code == 403:
            assert response.json()["code"] == "already_setup"
    async with plait.db.reader() as session:
        accounts = list((await session.execute(select(Account))).scalars())
        workspaces = list((await session.execute(select(Workspace))).scalars())
        memberships = list((await session.execute(select(Membership))).scalars())
    assert len(accounts) == 1
    assert len(workspaces) == 1
    assert len(memberships) == 1
    assert memberships[0].role == "owner"
    assert memberships[0].account_id == accounts[0].id
    assert memberships[0].workspace_id == workspaces[0].id


async def test_password_is_stored_as_an_argon2id_hash(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    async with plait.db.reader() as session:
        account = (await session.execute(select(Account))).scalar_one()
    assert account.password_hash is not None
    assert account.password_hash.startswith("$argon2id$")
    assert OWNER_PASSWORD not in account.password_hash


@pytest.mark.parametrize(
    "password", ["short1", "no-digits-in-this-one", "1234567890"], ids=["short", "no-digit", "no-letter"]
)
async def test_setup_refuses_a_password_that_breaks_the_policy(
    client: httpx.AsyncClient, plait: Plait, password: str
) -> None:
    response = await client.post(SETUP, json=setup_body(password=password))
    body = assert_error(response, 400, "invalid_param")
    assert body["params"] == "password"
    assert await count_rows(plait, Account) == 0


@pytest.mark.parametrize("email", ["not-an-email", "two words@example.com", "@example.com", "owner@"])
async def test_setup_refuses_an_invalid_email(client: httpx.AsyncClient, plait: Plait, email: str) -> None:
    response = await client.post(SETUP, json=setup_body(email=email))
    body = assert_error(response, 400, "invalid_param")
    assert body["params"] == "email"
    assert await count_rows(plait, Account) == 0


# --- INIT_PASSWORD ------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, "not-the-init-password"], ids=["missing", "wrong"])
async def test_setup_without_the_right_init_password_is_refused(start_plait: StartPlait, given: str | None) -> None:
    plait, client = await start_plait(INIT_PASSWORD="the-init-password-42")
    body = setup_body() if given is None else setup_body(init_password=given)

    response = await client.post(SETUP, json=body)

    assert_error(response, 403, "init_validate_failed")
    assert (await client.get(SETUP)).json()["step"] == "not_started"
    assert await count_rows(plait, Account) == 0


async def test_setup_with_the_init_password_succeeds(start_plait: StartPlait) -> None:
    _plait, client = await start_plait(INIT_PASSWORD="the-init-password-42")
    response = await client.post(SETUP, json=setup_body(init_password="the-init-password-42"))
    assert response.status_code == 201, response.text
    assert (await client.get(SETUP)).json()["step"] == "finished"


# --- login --------------------------------------------------------------------------------


async def test_login_returns_a_token_and_its_expiry(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    before = int(time.time())

    response = await login(client)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "success"
    data = body["data"]
    assert isinstance(data["access_token"], str)
    assert len(data["access_token"]) >= 32
    assert isinstance(data["expires_at"], int)
    ttl = plait.settings.auth.session_ttl_seconds
    assert before < data["expires_at"] <= int(time.time()) + ttl


async def test_token_opens_the_profile(client: httpx.AsyncClient, owner_token: str) -> None:
    response = await client.get(PROFILE, headers=bearer(owner_token))
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["email"] == OWNER_EMAIL
    assert profile["name"] == "Owner"
    assert isinstance(profile["last_login_at"], int)


async def test_token_opens_the_current_workspace_as_owner(client: httpx.AsyncClient, owner_token: str) -> None:
    response = await client.get(CURRENT_WORKSPACE, headers=bearer(owner_token))
    assert response.status_code == 200, response.text
    workspace = response.json()
    assert workspace["role"] == "owner"
    assert workspace["id"]
    assert workspace["name"]


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    assert (await client.post(SETUP, json=setup_body(email="Owner@Example.com"))).status_code == 201
    response = await login(client, email="  OWNER@EXAMPLE.COM ")
    assert response.status_code == 200, response.text
    token = response.json()["data"]["access_token"]
    profile = (await client.get(PROFILE, headers=bearer(token))).json()
    assert profile["email"] == "owner@example.com"


async def test_login_with_a_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    response = await login(client, password="wrong-password-1")
    assert_error(response, 400, "email_or_password_mismatch")


async def test_session_token_is_stored_only_as_its_sha256(owner_token: str, plait: Plait) -> None:
    async with plait.db.reader() as session:
        stored = list((await session.execute(select(AccountSession))).scalars())
    assert len(stored) == 1
    assert stored[0].token_hash != owner_token
    assert stored[0].token_hash == hashlib.sha256(owner_token.encode()).hexdigest()
    assert owner_token not in repr([getattr(stored[0], c.key) for c in AccountSession.__table__.columns])


# --- login rate limit ---------------------------------------------------------------------


async def fail_logins(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await login(client, email=email, password="wrong-password-1")
        assert_error(response, 400, "email_or_password_mismatch")


async def test_too_many_failures_lock_the_email_even_for_the_right_password(
    client: httpx.AsyncClient, plait: Plait
) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    await fail_logins(client, OWNER_EMAIL, plait.settings.auth.login_max_failures)

    response = await login(client)

    assert_error(response, 429, "login_rate_limited")
    retry_after = response.headers["Retry-After"]
    assert re.fullmatch(r"\d+", retry_after)
    assert 0 < int(retry_after) <= plait.settings.auth.login_lockout_seconds + 1


async def test_lockout_of_one_email_does_not_affect_another(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    await fail_logins(client, "intruder@example.com", plait.settings.auth.login_max_failures)
    assert_error(await login(client, email="intruder@example.com"), 429, "login_rate_limited")

    response = await login(client)

    assert response.status_code == 200, response.text


async def test_successful_login_clears_the_failure_count(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    limit = plait.settings.auth.login_max_failures
    await fail_logins(client, OWNER_EMAIL, limit - 1)
    assert (await login(client)).status_code == 200

    await fail_logins(client, OWNER_EMAIL, limit - 1)

    response = await login(client)
    assert response.status_code == 200, response.text


async def test_concurrent_failures_cannot_exceed_the_limit(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    limit = plait.settings.auth.login_max_failures

    responses = await asyncio.gather(*(login(client, password="wrong-password-1") for _ in range(limit * 2)))

    evaluated = [response for response in responses if response.status_code == 400]
    assert len(evaluated) <= limit
    assert all(response.status_code in (400, 429) for response in responses)


# --- logout and expiry --------------------------------------------------------------------


async def test_logout_makes_the_token_stop_working(client: httpx.AsyncClient, owner_token: str) -> None:
    assert (await client.get(PROFILE, headers=bearer(owner_token))).status_code == 200

    response = await client.post(LOGOUT, headers=bearer(owner_token))
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "success"}

    assert_error(await client.get(PROFILE, headers=bearer(owner_token)), 401, "unauthorized")


async def test_expired_session_is_refused(start_plait: StartPlait) -> None:
    plait, client = await start_plait(PLAIT_SESSION_TTL_SECONDS="60")
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    response = await login(client)
    assert response.status_code == 200, response.text
    token = response.json()["data"]["access_token"]
    assert response.json()["data"]["expires_at"] <= int(time.time()) + 60
    assert (await client.get(PROFILE, headers=bearer(token))).status_code == 200

    async with plait.db.transaction() as session:
        await session.execute(update(AccountSession).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert_error(await client.get(PROFILE, headers=bearer(token)), 401, "unauthorized")


async def test_session_stops_working_once_its_ttl_has_passed(
    start_plait: StartPlait, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plait, client = await start_plait(PLAIT_SESSION_TTL_SECONDS="60")
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    token = (await login(client)).json()["data"]["access_token"]

    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(accounts_module, "utcnow", lambda: later)

    assert_error(await client.get(PROFILE, headers=bearer(token)), 401, "unauthorized")


# --- audit log ----------------------------------------------------------------------------


async def test_setup_writes_an_audit_event(client: httpx.AsyncClient, plait: Plait) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201
    async with plait.db.reader() as session:
        account = (await session.execute(select(Account))).scalar_one()
        events = list(
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "setup.completed"))).scalars()
        )
    assert len(events) == 1
    assert events[0].target_type == "account"
    assert events[0].target_id == account.id
    assert events[0].actor_type == "system"


@pytest.mark.parametrize(
    "statement",
    [update(AuditEvent).values(action="tampered"), delete(AuditEvent)],
    ids=["update", "delete"],
)
async def test_audit_events_cannot_be_changed_or_removed(
    client: httpx.AsyncClient, plait: Plait, statement: object
) -> None:
    assert (await client.post(SETUP, json=setup_body())).status_code == 201

    with pytest.raises(DBAPIError, match="append-only"):
        async with plait.db.transaction() as session:
            await session.execute(statement)  # type: ignore[call-overload]

    async with plait.db.reader() as session:
        actions = list((await session.execute(select(AuditEvent.action))).scalars())
    assert actions == ["setup.completed"]
