"""Inputs the databases cannot take, refused with a 400 instead of failing with a 500: NUL
characters (PostgreSQL stores none in text or JSON) and pages past Dify's cap (an unbounded
OFFSET overflows the databases' integers), plus a time bound given without a zone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.storage.db.tables import Message

from .test_service_chat import CHATFLOW
from .test_service_workflows import WORKFLOW_APP, Published, assert_envelope, publish

NUL = "Text must not contain NUL characters (\\u0000)."


@pytest.fixture
async def apps(plait: Plait) -> tuple[Published, Published]:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return await publish(plait, CHATFLOW, setup.workspace_id), await publish(plait, WORKFLOW_APP, setup.workspace_id)


async def test_nul_characters_are_refused_everywhere(
    client: httpx.AsyncClient, plait: Plait, apps: tuple[Published, Published]
) -> None:
    chat, workflow = apps
    refused = [
        await client.get("/v1/conversations", headers=chat.auth, params={"user": "a\x00b"}),
        await client.get("/v1/apps/annotations", headers=chat.auth, params={"keyword": "\x00"}),
        await client.get("/v1/workflows/logs", headers=workflow.auth, params={"keyword": "x\x00"}),
        await client.post("/v1/chat-messages", headers=chat.auth, json={"query": "hi\x00", "inputs": {}, "user": "u"}),
        await client.post("/v1/workflows/run", headers=workflow.auth, json={"inputs": {"name": "\x00"}, "user": "u"}),
        await client.post(
            "/v1/chat-messages",
            headers=chat.auth,
            json={"query": "hi", "inputs": {}, "user": "u", "response_mode": "streaming", "conversation_id": "\x00"},
        ),
    ]
    for response in refused:
        assert assert_envelope(response, 400, "invalid_param")["message"] == NUL, response.request.url
    async with plait.db.reader() as session:
        assert (await session.execute(select(func.count()).select_from(Message))).scalar_one() == 0

    # A backslash and "u0000" as text is no NUL; neither is a NUL inside a file.
    text = "literally \\u0000"
    kept = await client.post("/v1/chat-messages", headers=chat.auth, json={"query": text, "inputs": {}, "user": "u"})
    assert kept.status_code == 200, kept.text
    assert kept.json()["answer"].endswith(text)
    uploaded = await client.post(
        "/v1/files/upload", headers=chat.auth, data={"user": "u"}, files={"file": ("a.bin", b"\x00\x01", "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    named = await client.post(
        "/v1/files/upload", headers=chat.auth, data={"user": "u\x00"}, files={"file": ("a.png", b"x", "image/png")}
    )
    assert assert_envelope(named, 400, "invalid_param")["params"] == "user"


async def test_an_escape_split_across_body_chunks_is_seen(
    client: httpx.AsyncClient, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    body = b'{"query": "hi \\u0000", "inputs": {}, "user": "u"}'
    split = body.index(b"u0000")

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:split]
        yield body[split:]

    headers = {**chat.auth, "Content-Type": "application/json"}
    response = await client.post("/v1/chat-messages", headers=headers, content=chunks())
    assert assert_envelope(response, 400, "invalid_param")["message"] == NUL


async def test_pages_past_the_cap_and_zoneless_bounds(
    client: httpx.AsyncClient, apps: tuple[Published, Published]
) -> None:
    chat, workflow = apps
    login = await client.post("/console/api/login", json={"email": "o@example.com", "password": "passw0rd-long"})
    console = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    huge = str(10**19)
    for response in (
        await client.get("/v1/apps/annotations", headers=chat.auth, params={"page": huge}),
        await client.get("/v1/app/feedbacks", headers=chat.auth, params={"page": huge}),
        await client.get("/v1/workflows/logs", headers=workflow.auth, params={"page": huge}),
        await client.get("/console/api/apps", headers=console, params={"page": huge}),
        await client.get("/console/api/apps", headers=console, params={"page": 100_000}),
    ):
        assert_envelope(response, 400, "invalid_param")
    assert (await client.get("/console/api/apps", headers=console, params={"page": 99_999})).status_code == 200
    await client.post("/v1/workflows/run", headers=workflow.auth, json={"inputs": {"name": "Ada"}, "user": "u"})
    zoneless = await client.get(
        "/v1/workflows/logs", headers=workflow.auth, params={"created_at__before": "2999-01-01T00:00:00"}
    )
    assert zoneless.status_code == 200, zoneless.text
    assert zoneless.json()["total"] == 1
