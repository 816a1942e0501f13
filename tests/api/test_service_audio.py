"""POST /v1/audio-to-text and /v1/text-to-audio: Dify's refusals in Dify's order. Plait has no
speech provider yet, so a request that passes every check gets Dify's "provider does not
support" answer; each earlier check is proven by a request that fails only there."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from plait.app.audit import CLI
from plait.app.bootstrap import Plait
from plait.ids import new_id

from ..conftest import StartPlait
from .test_service_chat import CHATFLOW
from .test_service_simple_apps import CHAT_APP
from .test_service_workflows import Published, assert_envelope, publish

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 64
SPEECH = {"speech_to_text": {"enabled": True}, "text_to_speech": {"enabled": True, "voice": "alloy"}}


def _with_speech(document: dict[str, Any]) -> dict[str, Any]:
    spoken = copy.deepcopy(document)
    spoken["app"]["name"] += " (speaks)"
    if "model_config" in spoken:
        spoken["model_config"].update(SPEECH)
    else:
        spoken["workflow"]["features"].update(SPEECH)
    return spoken


async def _apps(plait: Plait) -> tuple[Published, Published, Published]:
    setup = await plait.accounts.setup(
        email="o@example.com", password="passw0rd-long", name=None, workspace_name=None, actor=CLI
    )
    return (
        await publish(plait, CHAT_APP, setup.workspace_id),
        await publish(plait, _with_speech(CHAT_APP), setup.workspace_id),
        await publish(plait, _with_speech(CHATFLOW), setup.workspace_id),
    )


@pytest.fixture
async def apps(plait: Plait) -> tuple[Published, Published, Published]:
    return await _apps(plait)


async def transcribe(
    client: httpx.AsyncClient, app: Published, content: bytes | None, mime_type: str = "audio/wav"
) -> httpx.Response:
    files = {"file": ("speech.wav", content, mime_type)} if content is not None else None
    return await client.post("/v1/audio-to-text", headers=app.auth, data={"user": "u"}, files=files)


async def test_audio_to_text_checks_in_difys_order(
    client: httpx.AsyncClient, apps: tuple[Published, Published, Published]
) -> None:
    silent, chat, chatflow = apps
    # The feature is checked first: with it off, not even a missing file is reported.
    off = await transcribe(client, silent, None)
    assert assert_envelope(off, 400, "speech_to_text_disabled")["message"] == "Speech to text is not enabled"
    for app in (chat, chatflow):
        assert_envelope(await transcribe(client, app, None), 400, "no_audio_uploaded")
        assert_envelope(await transcribe(client, app, WAV, "audio/mpeg"), 415, "unsupported_audio_type")
        assert_envelope(await transcribe(client, app, WAV, "text/plain"), 415, "unsupported_audio_type")
        passed = await transcribe(client, app, WAV)
        assert assert_envelope(passed, 400, "provider_not_support_speech_to_text")["message"] == (
            "Provider not support speech to text."
        )
    not_a_file = await client.post("/v1/audio-to-text", headers=chat.auth, data={"file": "text", "user": "u"})
    assert_envelope(not_a_file, 400, "no_audio_uploaded")


async def test_a_large_audio_file_is_refused_after_its_type(start_plait: StartPlait) -> None:
    plait, client = await start_plait(PLAIT_MAX_REQUEST_BYTES=str(40 * 1024 * 1024))
    _, chat, _ = await _apps(plait)
    large = WAV + b"\x00" * (30 * 1024 * 1024)
    too_large = await transcribe(client, chat, large)
    assert assert_envelope(too_large, 413, "audio_too_large")["message"] == "Audio size larger than 30 mb"
    assert_envelope(await transcribe(client, chat, large, "audio/mpeg"), 415, "unsupported_audio_type")


async def test_text_to_audio_checks_in_difys_order(
    client: httpx.AsyncClient, apps: tuple[Published, Published, Published]
) -> None:
    silent, chat, _ = apps
    missing = await client.post("/v1/text-to-audio", headers=silent.auth, json={"user": "u"})
    assert assert_envelope(missing, 400, "invalid_param")["message"] == "Text is required"
    off = await client.post("/v1/text-to-audio", headers=silent.auth, json={"user": "u", "text": "hello"})
    assert assert_envelope(off, 400, "invalid_param")["message"] == "TTS is not enabled"
    on = await client.post(
        "/v1/text-to-audio", headers=chat.auth, json={"user": "u", "text": "hello", "streaming": True}
    )
    assert_envelope(on, 400, "provider_not_support_text_to_speech")
    unknown = await client.post("/v1/text-to-audio", headers=chat.auth, json={"user": "u", "message_id": new_id()})
    assert_envelope(unknown, 404, "not_found")
    turn = (
        await client.post(
            "/v1/chat-messages", headers=chat.auth, json={"query": "hi", "inputs": {"name": "A"}, "user": "u"}
        )
    ).json()
    spoken = await client.post(
        "/v1/text-to-audio", headers=chat.auth, json={"user": "u", "message_id": turn["message_id"]}
    )
    assert_envelope(spoken, 400, "provider_not_support_text_to_speech")
    theirs = await client.post(
        "/v1/text-to-audio", headers=silent.auth, json={"user": "u", "message_id": turn["message_id"]}
    )
    assert_envelope(theirs, 404, "not_found")  # another app's message reads as missing
