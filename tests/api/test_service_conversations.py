"""Conversations and messages through the Service API: cursor paging exactly as Dify pages,
scoping to the calling end user, rename and delete."""

from __future__ import annotations

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import new_id

from .test_service_chat import CHATFLOW, send
from .test_service_workflows import Published, assert_envelope, publish


@pytest.fixture
async def chats(plait: Plait, client: httpx.AsyncClient) -> tuple[Published, str, str, list[str]]:
    """Alice's two conversations: A with three turns, then B with one (B is the newest)."""
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    app = await publish(plait, CHATFLOW, setup.workspace_id)
    first = (await send(client, app, "one")).json()
    a = first["conversation_id"]
    messages = [first["message_id"]]
    for query in ("two", "three"):
        messages.append((await send(client, app, query, conversation_id=a)).json()["message_id"])
    b = (await send(client, app, "other")).json()["conversation_id"]
    return app, a, b, messages


async def test_conversations_page_newest_first(
    client: httpx.AsyncClient, chats: tuple[Published, str, str, list[str]]
) -> None:
    app, a, b, _ = chats
    first = (await client.get("/v1/conversations", headers=app.auth, params={"user": "alice", "limit": 1})).json()
    assert first["limit"] == 1
    assert first["has_more"] is True
    assert [item["id"] for item in first["data"]] == [b]
    assert set(first["data"][0]) == {"id", "name", "inputs", "status", "introduction", "created_at", "updated_at"}
    second = (
        await client.get("/v1/conversations", headers=app.auth, params={"user": "alice", "limit": 1, "last_id": b})
    ).json()
    assert [item["id"] for item in second["data"]] == [a]
    assert second["has_more"] is False
    oldest_first = (
        await client.get("/v1/conversations", headers=app.auth, params={"user": "alice", "sort_by": "created_at"})
    ).json()
    assert [item["id"] for item in oldest_first["data"]] == [a, b]


async def test_messages_page_backwards_oldest_first_within_a_page(
    client: httpx.AsyncClient, chats: tuple[Published, str, str, list[str]]
) -> None:
    app, a, _, messages = chats
    everything = (
        await client.get("/v1/messages", headers=app.auth, params={"user": "alice", "conversation_id": a})
    ).json()
    assert [item["id"] for item in everything["data"]] == messages
    assert everything["has_more"] is False
    assert [item["query"] for item in everything["data"]] == ["one", "two", "three"]
    assert everything["data"][2]["answer"] == "Turn 3. Plait fake reply: three"
    latest = (
        await client.get("/v1/messages", headers=app.auth, params={"user": "alice", "conversation_id": a, "limit": 2})
    ).json()
    assert [item["id"] for item in latest["data"]] == messages[1:]
    assert latest["has_more"] is True
    older = (
        await client.get(
            "/v1/messages",
            headers=app.auth,
            params={"user": "alice", "conversation_id": a, "limit": 2, "first_id": messages[1]},
        )
    ).json()
    assert [item["id"] for item in older["data"]] == messages[:1]
    assert older["has_more"] is False


async def test_other_users_see_nothing(client: httpx.AsyncClient, chats: tuple[Published, str, str, list[str]]) -> None:
    app, a, _, _ = chats
    mine = (await client.get("/v1/conversations", headers=app.auth, params={"user": "bob"})).json()
    assert mine == {"limit": 20, "has_more": False, "data": []}
    response = await client.get("/v1/messages", headers=app.auth, params={"user": "bob", "conversation_id": a})
    assert_envelope(response, 404, "not_found")


async def test_rename_and_delete(client: httpx.AsyncClient, chats: tuple[Published, str, str, list[str]]) -> None:
    app, a, b, _ = chats
    renamed = await client.post(
        f"/v1/conversations/{a}/name", headers=app.auth, json={"user": "alice", "name": "Counting"}
    )
    assert renamed.json()["name"] == "Counting"
    generated = await client.post(
        f"/v1/conversations/{a}/name", headers=app.auth, json={"user": "alice", "auto_generate": True}
    )
    assert generated.json()["name"] == "one"
    stranger = await client.post(f"/v1/conversations/{a}/name", headers=app.auth, json={"user": "bob", "name": "mine"})
    assert_envelope(stranger, 404, "not_found")
    deleted = await client.request("DELETE", f"/v1/conversations/{b}", headers=app.auth, json={"user": "alice"})
    assert deleted.status_code == 204
    assert deleted.content == b""
    remaining = (await client.get("/v1/conversations", headers=app.auth, params={"user": "alice"})).json()
    assert [item["id"] for item in remaining["data"]] == [a]
    continue_deleted = await send(client, app, "back?", conversation_id=b)
    assert_envelope(continue_deleted, 404, "not_found")


async def test_paging_errors(client: httpx.AsyncClient, chats: tuple[Published, str, str, list[str]]) -> None:
    app, _, _, _ = chats
    assert_envelope(
        await client.get("/v1/conversations", headers=app.auth, params={"user": "alice", "last_id": new_id()}),
        404,
        "not_found",
    )
    too_many = await client.get("/v1/conversations", headers=app.auth, params={"user": "alice", "limit": 101})
    assert_envelope(too_many, 400, "invalid_param")
    no_user = await client.get("/v1/conversations", headers=app.auth)
    assert assert_envelope(no_user, 400, "invalid_param")["message"] == "Arg user must be provided."
