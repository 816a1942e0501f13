"""A third-party Dify SDK (``dify-client-python``, which validates every reply with strict
pydantic models) against a live ``plait serve``: chat, completion and workflow runs,
blocking and streaming; file upload; conversations, messages and feedback; stopping a run;
and Dify's error codes reaching the SDK's own exception classes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from dify_client import Client, errors, models
from pydantic import BaseModel

from ..conftest import OWNER_EMAIL, OWNER_PASSWORD, free_port, plait_command
from .test_service_chat import CHATFLOW
from .test_service_simple_apps import COMPLETION_APP
from .test_service_stop import SLOW_WORKFLOW
from .test_service_workflows import WORKFLOW_APP

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
APPS = {"chat": CHATFLOW, "completion": COMPLETION_APP, "workflow": WORKFLOW_APP, "slow": SLOW_WORKFLOW}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A real server on a fresh embedded data directory, with one published app of each kind
    and their keys (set up through the console API: a CLI call per app costs seconds)."""
    data = tmp_path_factory.mktemp("dify-client-live")
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY")}
    env |= {"PLAIT_DATA_DIR": str(data), "PLAIT_LOG_FORMAT": "json", "PLAIT_MODEL_OVERRIDE": "fake"}
    port = free_port()
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(plait_command("serve", "--port", str(port)), env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
        yield f"{base}/v1", _publish_all(base)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _publish_all(base: str) -> dict[str, str]:
    console = httpx.Client(base_url=f"{base}/console/api", timeout=30)
    account = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    assert console.post("/setup", json={**account, "name": "Owner"}).status_code == 201
    token = console.post("/login", json=account).json()["data"]["access_token"]
    console.headers["Authorization"] = f"Bearer {token}"
    keys = {}
    for kind, document in APPS.items():
        app_id = console.post("/apps/imports", json={"yaml_content": yaml.safe_dump(document)}).json()["app_id"]
        assert console.post(f"/apps/{app_id}/workflows/publish", json={}).status_code == 200
        keys[kind] = console.post(f"/apps/{app_id}/api-keys").json()["token"]
    console.close()
    return keys


M = TypeVar("M", bound=BaseModel)


def typed(data: Any, model: type[M]) -> M:
    """An event's ``data`` as the SDK's typed model. The SDK's union falls back to a plain
    dict for finished events (a status string is not its enum in pydantic's strict pass), so
    the model is applied here: the payload must satisfy it either way."""
    return data if isinstance(data, model) else model.model_validate(data)


def sdk(live: tuple[str, dict[str, str]], kind: str) -> Client:
    base, keys = live
    return Client(api_key=keys[kind], api_base=base)


def test_chat_blocking_and_streaming(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "chat")
    request = models.ChatRequest(query="hello", inputs={}, response_mode=models.ResponseMode.BLOCKING, user="alice")
    reply = client.chat_messages(request)
    assert isinstance(reply, models.ChatResponse)
    assert reply.mode == models.Mode.ADVANCED_CHAT
    assert reply.answer == "Turn 1. Plait fake reply: hello"
    assert reply.metadata.usage.total_tokens > 0
    streaming = request.model_copy(update={"response_mode": models.ResponseMode.STREAMING, "query": "stream"})
    events = list(client.chat_messages(streaming))
    names = [event.event for event in events]
    assert names[0] == models.StreamEvent.WORKFLOW_STARTED
    assert names[-2:] == [models.StreamEvent.WORKFLOW_FINISHED, models.StreamEvent.MESSAGE_END]
    messages = [event for event in events if isinstance(event, models.MessageStreamResponse)]
    assert "".join(event.answer for event in messages) == "Turn 1. Plait fake reply: stream"
    end = events[-1]
    assert isinstance(end, models.MessageEndStreamResponse)
    assert end.metadata is not None
    assert end.metadata.usage.completion_tokens > 0
    nodes = [event for event in events if event.event == models.StreamEvent.NODE_FINISHED]
    assert all(isinstance(event, models.WorkflowsStreamResponse) for event in nodes)
    assert {typed(event.data, models.NodeFinishedData).status for event in nodes} == {models.WorkflowStatus.SUCCEEDED}
    finished = events[-2]
    assert isinstance(finished, models.WorkflowsStreamResponse)
    assert typed(finished.data, models.WorkflowFinishedData).status == models.WorkflowStatus.SUCCEEDED


def test_completion_blocking_and_streaming(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "completion")
    request = models.CompletionRequest(
        inputs={"text": "cheese"}, response_mode=models.ResponseMode.BLOCKING, user="carol"
    )
    reply = client.completion_messages(request)
    assert isinstance(reply, models.CompletionResponse)
    assert reply.mode == models.Mode.COMPLETION
    assert reply.answer.startswith("Plait fake reply")
    streaming = request.model_copy(update={"response_mode": models.ResponseMode.STREAMING})
    events = list(client.completion_messages(streaming))
    assert isinstance(events[-1], models.MessageEndStreamResponse)
    text = "".join(event.answer for event in events if isinstance(event, models.MessageStreamResponse))
    assert text == reply.answer


def test_workflow_blocking_and_streaming(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "workflow")
    request = models.WorkflowsRunRequest(inputs={"name": "Ada"}, response_mode=models.ResponseMode.BLOCKING, user="u1")
    reply = client.run_workflows(request)
    assert isinstance(reply, models.WorkflowsRunResponse)
    assert reply.data.status == models.WorkflowStatus.SUCCEEDED
    assert reply.data.outputs == {"greeting": "Hello, Ada!"}
    events = list(client.run_workflows(request.model_copy(update={"response_mode": models.ResponseMode.STREAMING})))
    started, finished = events[0], events[-1]
    assert isinstance(started, models.WorkflowsStreamResponse)
    assert isinstance(started.data, models.WorkflowStartedData)
    assert isinstance(finished, models.WorkflowsStreamResponse)
    assert typed(finished.data, models.WorkflowFinishedData).outputs == {"greeting": "Hello, Ada!"}
    node_data = [event.data for event in events if event.event == models.StreamEvent.NODE_STARTED]
    assert [type(data) for data in node_data] == [models.NodeStartedData] * 3


def test_a_streaming_run_is_stopped(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "slow")
    request = models.WorkflowsRunRequest(inputs={}, response_mode=models.ResponseMode.STREAMING, user="u1")
    started = time.monotonic()
    events = client.run_workflows(request)
    first = next(events)
    assert first.task_id
    assert client.stop_workflows(first.task_id, models.StopRequest(user="u1")).result == "success"
    rest = list(events)
    finished = rest[-1]
    assert isinstance(finished, models.WorkflowsStreamResponse)
    assert typed(finished.data, models.WorkflowFinishedData).status == models.WorkflowStatus.STOPPED
    assert time.monotonic() - started < 4  # the node sleeps for 5 s
    chat = sdk(live, "chat")
    stopped = chat.stop_chat_messages("00000000-0000-0000-0000-000000000000", models.StopRequest(user="u1"))
    assert stopped.result == "success"  # an unknown task is silently ignored, as in Dify


def test_file_upload_and_preview(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "chat")
    uploaded = client.upload_files(("dot.png", PNG, "image/png"), models.UploadFileRequest(user="alice"))
    assert isinstance(uploaded, models.UploadFileResponse)
    assert (uploaded.name, uploaded.size, uploaded.extension, uploaded.mime_type) == (
        "dot.png",
        len(PNG),
        "png",
        "image/png",
    )
    base, _ = live
    assert client.request(f"{base}/files/{uploaded.id}/preview", "GET").content == PNG
    with pytest.raises(errors.DifyNoFileUploaded):
        client.request(f"{base}/files/upload", "POST", data={"user": "alice"}, files={"other": ("x.txt", b"x")})


def test_conversations_messages_and_feedback(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "chat")
    base, _ = live
    first = client.chat_messages(
        models.ChatRequest(query="first", inputs={}, response_mode=models.ResponseMode.BLOCKING, user="dora")
    )
    assert isinstance(first, models.ChatResponse)
    # The SDK's reply model drops conversation_id; the conversation list has it.
    listed = client.request(f"{base}/conversations", "GET", params={"user": "dora"}).json()
    conversation_id = listed["data"][0]["id"]
    second = client.chat_messages(
        models.ChatRequest(
            query="second",
            inputs={},
            response_mode=models.ResponseMode.BLOCKING,
            user="dora",
            conversation_id=conversation_id,
        )
    )
    assert isinstance(second, models.ChatResponse)
    assert second.answer.startswith("Turn 2.")
    listed = client.request(f"{base}/conversations", "GET", params={"user": "dora", "limit": 5}).json()
    assert ([item["id"] for item in listed["data"]], listed["has_more"]) == ([conversation_id], False)
    history = client.request(
        f"{base}/messages", "GET", params={"user": "dora", "conversation_id": conversation_id}
    ).json()
    assert [item["query"] for item in history["data"]] == ["first", "second"]
    liked = client.feedback_messages(
        first.message_id, models.FeedbackRequest(rating=models.Rating.LIKE, user="dora", content="nice")
    )
    assert liked.result == "success"
    feedbacks: list[dict[str, Any]] = client.request(f"{base}/app/feedbacks", "GET").json()["data"]
    assert [(item["message_id"], item["rating"]) for item in feedbacks] == [(first.message_id, "like")]
    renamed = client.request(
        f"{base}/conversations/{conversation_id}/name", "POST", json={"user": "dora", "name": "Renamed"}
    ).json()
    assert renamed["name"] == "Renamed"
    deleted = client.request(f"{base}/conversations/{conversation_id}", "DELETE", json={"user": "dora"})
    assert deleted.status_code == 204
    with pytest.raises(errors.DifyResourceNotFound):
        client.request(f"{base}/messages", "GET", params={"user": "dora", "conversation_id": conversation_id})
    with pytest.raises(errors.DifyNotChatApp):
        sdk(live, "workflow").chat_messages(
            models.ChatRequest(query="x", inputs={}, response_mode=models.ResponseMode.BLOCKING, user="dora")
        )
    with pytest.raises(errors.DifyInvalidParam):
        client.chat_messages(
            models.ChatRequest(
                query="x", inputs={}, response_mode=models.ResponseMode.BLOCKING, user="dora", conversation_id="42"
            )
        )


def test_an_annotation_reply_and_speech_errors_reach_the_sdk(live: tuple[str, dict[str, str]]) -> None:
    client = sdk(live, "chat")
    base, _ = live
    question, answer = "Where is the office?", "On the third floor."
    created = client.request(f"{base}/apps/annotations", "POST", json={"question": question, "answer": answer})
    assert created.status_code == 201
    settings = {"embedding_provider_name": "fake", "embedding_model_name": "fake", "score_threshold": 0.9}
    job = client.request(f"{base}/apps/annotation-reply/enable", "POST", json=settings).json()
    deadline = time.monotonic() + 10
    while client.request(f"{base}/apps/annotation-reply/enable/status/{job['job_id']}", "GET").json()[
        "job_status"
    ] not in ("completed", "error"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    request = models.ChatRequest(query=question, inputs={}, response_mode=models.ResponseMode.BLOCKING, user="erin")
    reply = client.chat_messages(request)
    assert isinstance(reply, models.ChatResponse)
    assert reply.answer == answer
    events = list(client.chat_messages(request.model_copy(update={"response_mode": models.ResponseMode.STREAMING})))
    assert [event.event for event in events] == [models.StreamEvent.MESSAGE, models.StreamEvent.MESSAGE_END]
    with pytest.raises(errors.DifyAPIError) as refused:
        client.audio_to_text(("a.wav", b"RIFF", "audio/wav"), models.AudioToTextRequest(user="erin"))
    assert (refused.value.status, refused.value.code) == (400, "speech_to_text_disabled")
    with pytest.raises(errors.DifyInvalidParam):
        client.text_to_audio(models.TextToAudioRequest(text="hello", user="erin"))
