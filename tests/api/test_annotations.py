"""Annotations and annotation reply, through the Service API and the console: CRUD in Dify's
shapes, the enable job (in the background, its status in the database), answers taken from
an annotation with no model call (blocking and streaming, chat and chatflow), hit counts and
hit histories, and a job that a stopped process leaves behind."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import new_id
from plait.storage.db.tables import Annotation, AnnotationHit, AnnotationJob, Message, WorkflowRun
from plait.storage.db.types import utcnow

from ..conftest import StartPlait
from .test_service_chat import CHATFLOW
from .test_service_simple_apps import CHAT_APP
from .test_service_workflows import Published, assert_envelope, publish

REPLY = {"embedding_provider_name": "openai", "embedding_model_name": "text-embedding-3-small", "score_threshold": 0.9}
QUESTION = "What are your opening hours?"
ANSWER = "We are open from nine to five, Monday to Friday."


@pytest.fixture
async def apps(plait: Plait) -> tuple[Published, Published]:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name="Olive", workspace_name=None, actor=CLI
    )
    return await publish(plait, CHAT_APP, setup.workspace_id), await publish(plait, CHATFLOW, setup.workspace_id)


async def wait_for_job(client: httpx.AsyncClient, app: Published, action: str, job_id: str) -> dict[str, Any]:
    url = f"/v1/apps/annotation-reply/{action}/status/{job_id}"
    for _ in range(200):
        body: dict[str, Any] = (await client.get(url, headers=app.auth)).json()
        if body["job_status"] in ("completed", "error"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


async def enable(client: httpx.AsyncClient, app: Published, **settings: Any) -> dict[str, Any]:
    started = await client.post("/v1/apps/annotation-reply/enable", headers=app.auth, json={**REPLY, **settings})
    assert started.status_code == 200, started.text
    assert started.json()["job_status"] in ("waiting", "processing")
    return await wait_for_job(client, app, "enable", started.json()["job_id"])


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(frame[6:]) for frame in response.text.split("\n\n") if frame.startswith("data: ")]


async def test_annotations_are_created_listed_changed_and_deleted(
    client: httpx.AsyncClient, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    created = []
    for number in range(3):
        response = await client.post(
            "/v1/apps/annotations",
            headers=chat.auth,
            json={"question": f"question {number}", "answer": f"answer {number}"},
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert set(created[0]) == {"id", "question", "answer", "hit_count", "created_at"}
    assert created[0]["hit_count"] == 0
    assert isinstance(created[0]["created_at"], int)
    page = (await client.get("/v1/apps/annotations", headers=chat.auth, params={"limit": 2})).json()
    assert (page["page"], page["limit"], page["total"], page["has_more"]) == (1, 2, 3, True)
    assert [item["question"] for item in page["data"]] == ["question 2", "question 1"]
    found = (await client.get("/v1/apps/annotations", headers=chat.auth, params={"keyword": "ANSWER 1"})).json()
    assert [item["id"] for item in found["data"]] == [created[1]["id"]]
    # LIKE wildcards in a keyword are literal characters.
    assert (await client.get("/v1/apps/annotations", headers=chat.auth, params={"keyword": "%"})).json()["total"] == 0
    changed = await client.put(
        f"/v1/apps/annotations/{created[0]['id']}", headers=chat.auth, json={"question": "new q", "answer": "new a"}
    )
    assert (changed.json()["question"], changed.json()["answer"]) == ("new q", "new a")
    deleted = await client.delete(f"/v1/apps/annotations/{created[0]['id']}", headers=chat.auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    again = await client.delete(f"/v1/apps/annotations/{created[0]['id']}", headers=chat.auth)
    assert_envelope(again, 404, "not_found")
    assert_envelope(
        await client.get("/v1/apps/annotations", headers=chat.auth, params={"limit": 101}), 400, "invalid_param"
    )
    empty = await client.post("/v1/apps/annotations", headers=chat.auth, json={"question": " ", "answer": "a"})
    assert assert_envelope(empty, 400, "invalid_param")["params"] == "question"
    missing = await client.post("/v1/apps/annotations", headers=chat.auth, json={"question": "q"})
    assert assert_envelope(missing, 400, "invalid_param")["message"] == "Arg answer must be provided."


async def test_annotation_reply_answers_a_chat_app_without_the_model(
    client: httpx.AsyncClient, plait: Plait, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    annotation = (
        await client.post("/v1/apps/annotations", headers=chat.auth, json={"question": QUESTION, "answer": ANSWER})
    ).json()
    status = await enable(client, chat)
    assert status == {"job_id": status["job_id"], "job_status": "completed", "error_msg": ""}
    body = {"query": QUESTION, "inputs": {"name": "Ada"}, "user": "alice"}
    blocking = (await client.post("/v1/chat-messages", headers=chat.auth, json=body)).json()
    assert blocking["answer"] == ANSWER
    reply = blocking["metadata"]["annotation_reply"]
    assert reply["id"] == annotation["id"]
    assert reply["account"]["name"] == "Olive"  # the workspace owner, as Dify attributes API changes
    assert blocking["metadata"]["usage"]["total_tokens"] == 0
    streamed = await client.post(
        "/v1/chat-messages", headers=chat.auth, json={**body, "response_mode": "streaming", "user": "bob"}
    )
    events = events_of(streamed)
    assert [event["event"] for event in events] == ["message", "message_end"]
    assert events[0]["answer"] == ANSWER
    assert events[1]["metadata"]["annotation_reply"]["id"] == annotation["id"]
    # Another question still goes to the model.
    follow = {**body, "query": "tell a joke", "conversation_id": blocking["conversation_id"]}
    other = (await client.post("/v1/chat-messages", headers=chat.auth, json=follow)).json()
    assert other["answer"] == "Plait fake reply: tell a joke"
    assert "annotation_reply" not in other["metadata"]
    listed = (await client.get("/v1/apps/annotations", headers=chat.auth)).json()["data"]
    assert listed[0]["hit_count"] == 2
    async with plait.db.reader() as session:
        hits = (await session.execute(select(AnnotationHit).order_by(AnnotationHit.created_at))).scalars().all()
        message = await session.get(Message, blocking["message_id"])
    assert [(hit.question, hit.source, hit.message_id) for hit in hits] == [
        (QUESTION, "api", blocking["message_id"]),
        (QUESTION, "api", events[0]["message_id"]),
    ]
    assert hits[0].score == pytest.approx(1.0)
    assert hits[0].end_user_id is not None
    assert message is not None
    assert message.answer == ANSWER
    assert message.message_metadata["annotation_reply"]["id"] == annotation["id"]
    history = (
        await client.get(
            "/v1/messages", headers=chat.auth, params={"user": "alice", "conversation_id": blocking["conversation_id"]}
        )
    ).json()["data"]
    assert [item["answer"] for item in history] == [ANSWER, "Plait fake reply: tell a joke"]


async def test_a_chatflow_answered_from_an_annotation_runs_no_workflow(
    client: httpx.AsyncClient, plait: Plait, apps: tuple[Published, Published]
) -> None:
    _, chatflow = apps
    await client.post("/v1/apps/annotations", headers=chatflow.auth, json={"question": QUESTION, "answer": ANSWER})
    await enable(client, chatflow)
    body = {"query": QUESTION, "inputs": {}, "user": "alice", "response_mode": "streaming"}
    events = events_of(await client.post("/v1/chat-messages", headers=chatflow.auth, json=body))
    assert [event["event"] for event in events] == ["message", "message_end"]
    assert events[0]["answer"] == ANSWER
    # The conversation goes on: the next turn runs the workflow, whose counter was not bumped.
    follow = {"query": "and then?", "inputs": {}, "user": "alice", "conversation_id": events[0]["conversation_id"]}
    second = (await client.post("/v1/chat-messages", headers=chatflow.auth, json=follow)).json()
    assert second["answer"] == "Turn 1. Plait fake reply: and then?"
    await plait.recorder.flush()
    async with plait.db.reader() as session:
        runs = (await session.execute(select(func.count()).select_from(WorkflowRun))).scalar_one()
        first = await session.get(Message, events[0]["message_id"])
    assert runs == 1
    assert first is not None
    assert first.workflow_run_id is None


async def test_the_threshold_and_a_changed_question(
    client: httpx.AsyncClient, plait: Plait, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    created = (
        await client.post("/v1/apps/annotations", headers=chat.auth, json={"question": QUESTION, "answer": ANSWER})
    ).json()
    await enable(client, chat, score_threshold=0.7)
    body = {"inputs": {"name": "Ada"}, "user": "alice"}
    near = (
        await client.post("/v1/chat-messages", headers=chat.auth, json={**body, "query": "your opening hours?"})
    ).json()
    assert near["answer"] == ANSWER  # three of its five words: a cosine of 0.77
    changed = await client.put(
        f"/v1/apps/annotations/{created['id']}",
        headers=chat.auth,
        json={"question": "Where do you live?", "answer": "Here."},
    )
    assert changed.status_code == 200
    async with plait.db.reader() as session:
        row = await session.get(Annotation, created["id"])
    assert row is not None
    assert row.embedding is not None
    assert row.embedding["question"] == "Where do you live?"  # embedded again, on the spot
    old = (await client.post("/v1/chat-messages", headers=chat.auth, json={**body, "query": QUESTION})).json()
    assert old["answer"].startswith("Plait fake reply")
    new = (
        await client.post("/v1/chat-messages", headers=chat.auth, json={**body, "query": "Where do you live?"})
    ).json()
    assert new["answer"] == "Here."
    disabled = await client.post("/v1/apps/annotation-reply/disable", headers=chat.auth, json=REPLY)
    assert (await wait_for_job(client, chat, "disable", disabled.json()["job_id"]))["job_status"] == "completed"
    off = (
        await client.post("/v1/chat-messages", headers=chat.auth, json={**body, "query": "Where do you live?"})
    ).json()
    assert off["answer"].startswith("Plait fake reply")


async def test_reply_switch_errors_are_difys(client: httpx.AsyncClient, apps: tuple[Published, Published]) -> None:
    chat, _ = apps
    odd = await client.post("/v1/apps/annotation-reply/toggle", headers=chat.auth, json=REPLY)
    assert assert_envelope(odd, 400, "invalid_param")["message"] == "Unsupported annotation reply action"
    partial = await client.post("/v1/apps/annotation-reply/disable", headers=chat.auth, json={"score_threshold": 1})
    assert_envelope(partial, 400, "invalid_param")
    far = await client.post("/v1/apps/annotation-reply/enable", headers=chat.auth, json={**REPLY, "score_threshold": 2})
    assert_envelope(far, 400, "invalid_param")
    unknown = await client.get(f"/v1/apps/annotation-reply/enable/status/{new_id()}", headers=chat.auth)
    assert assert_envelope(unknown, 400, "invalid_param")["message"] == "The job does not exist."
    started = (await client.post("/v1/apps/annotation-reply/enable", headers=chat.auth, json=REPLY)).json()
    other_action = await client.get(f"/v1/apps/annotation-reply/disable/status/{started['job_id']}", headers=chat.auth)
    assert_envelope(other_action, 400, "invalid_param")
    await wait_for_job(client, chat, "enable", started["job_id"])


async def test_a_job_left_by_a_stopped_process_is_marked_failed(
    start_plait: StartPlait, apps: tuple[Published, Published]
) -> None:
    chat, _ = apps
    first, http = await start_plait()
    async with first.db.transaction() as session:
        job = AnnotationJob(
            app_id=chat.app_id,
            action="enable",
            status="processing",
            error_msg="",
            parameters=REPLY,
            runner_id="a-process-that-was-killed",
            heartbeat_at=utcnow() - timedelta(minutes=5),
        )
        session.add(job)
    # A fresh start marks it at once; a process that stopped gracefully marks its own.
    second, http = await start_plait()
    status = (await http.get(f"/v1/apps/annotation-reply/enable/status/{job.id}", headers=chat.auth)).json()
    assert status["job_status"] == "error"
    assert "interrupted" in status["error_msg"]

    never_done = asyncio.Event()

    async def stuck_model(workspace_id: str, provider: str, model: str) -> Any:
        await never_done.wait()

    second.annotation_jobs._models = stuck_model  # a provider that never answers
    running = (await http.post("/v1/apps/annotation-reply/enable", headers=chat.auth, json=REPLY)).json()
    assert running["job_status"] == "waiting"
    again = (await http.post("/v1/apps/annotation-reply/enable", headers=chat.auth, json=REPLY)).json()
    assert again == {"job_id": running["job_id"], "job_status": "processing"}  # the one under way, as Dify answers
    await second.annotation_jobs.close()
    stopped = (await http.get(f"/v1/apps/annotation-reply/enable/status/{running['job_id']}", headers=chat.auth)).json()
    assert stopped["job_status"] == "error"
    assert "interrupted" in stopped["error_msg"]


async def test_the_console_manages_annotations_and_reads_hits(
    client: httpx.AsyncClient, plait: Plait, owner_token: str
) -> None:
    headers = {"Authorization": f"Bearer {owner_token}"}
    workspace_id = (await client.get("/console/api/workspaces/current", headers=headers)).json()["id"]
    chat = await publish(plait, CHAT_APP, workspace_id)
    base = f"/console/api/apps/{chat.app_id}"
    assert (await client.get(f"{base}/annotation-setting", headers=headers)).json() == {"enabled": False}
    turn = (
        await client.post(
            "/v1/chat-messages", headers=chat.auth, json={"query": QUESTION, "inputs": {"name": "A"}, "user": "u"}
        )
    ).json()
    # Improve a logged answer: the annotation takes the message's query as its question.
    created = await client.post(
        f"{base}/annotations", headers=headers, json={"message_id": turn["message_id"], "answer": ANSWER}
    )
    assert created.status_code == 201, created.text
    assert created.json()["question"] == QUESTION
    started = (await client.post(f"{base}/annotation-reply/enable", headers=headers, json=REPLY)).json()
    await plait.annotation_jobs.wait(started["job_id"])
    status = (await client.get(f"{base}/annotation-reply/enable/status/{started['job_id']}", headers=headers)).json()
    assert status["job_status"] == "completed"
    setting = (await client.get(f"{base}/annotation-setting", headers=headers)).json()
    assert setting["enabled"] is True
    assert setting["embedding_model"] == {
        "embedding_provider_name": REPLY["embedding_provider_name"],
        "embedding_model_name": REPLY["embedding_model_name"],
    }
    lowered = await client.post(
        f"{base}/annotation-settings/{setting['id']}", headers=headers, json={"score_threshold": 0.8}
    )
    assert lowered.json()["score_threshold"] == 0.8
    answered = (
        await client.post(
            "/v1/chat-messages", headers=chat.auth, json={"query": QUESTION, "inputs": {"name": "A"}, "user": "u"}
        )
    ).json()
    assert answered["answer"] == ANSWER
    annotation_id = created.json()["id"]
    hits = (await client.get(f"{base}/annotations/{annotation_id}/hit-histories", headers=headers)).json()
    assert hits["total"] == 1
    assert {key: hits["data"][0][key] for key in ("source", "question", "match", "response")} == {
        "source": "api",
        "question": QUESTION,
        "match": QUESTION,
        "response": ANSWER,
    }
    assert (await client.get(f"{base}/annotations/count", headers=headers)).json() == {"count": 1}
    updated = await client.post(
        f"{base}/annotations/{annotation_id}", headers=headers, json={"question": QUESTION, "answer": "Closed."}
    )
    assert updated.json()["answer"] == "Closed."
    listed = (await client.get(f"{base}/annotations", headers=headers)).json()
    assert [(item["answer"], item["hit_count"]) for item in listed["data"]] == [("Closed.", 1)]
    assert (await client.delete(f"{base}/annotations/{annotation_id}", headers=headers)).status_code == 204
    assert_envelope(await client.get(f"/console/api/apps/{new_id()}/annotations", headers=headers), 404, "not_found")
