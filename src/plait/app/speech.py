"""Speech: audio to text and text to audio for an app, checked as Dify checks them.

Dify's order for audio to text is: the app's ``speech_to_text`` feature, then an audio file
at all, its MIME type, its size (30 MB), and only then the workspace's speech model. For
text to audio: the text (a message's answer wins over ``text``), the ``text_to_speech``
feature, then the model. Plait has no speech provider yet, so a request that passes every
check gets Dify's "provider does not support" answer; every refusal before it is Dify's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plait.errors import BadRequest, InvalidInput, NotFound, PayloadTooLarge, PlaitError
from plait.ids import is_uuid
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.tables import App, Message

AUDIO_SIZE_MB = 30
AUDIO_MAX_BYTES = AUDIO_SIZE_MB * 1024 * 1024
# Dify's audio types, as MIME types: audio/mpeg (the usual type of an .mp3) is not among them.
AUDIO_TYPES = tuple(f"audio/{kind}" for kind in ("mp3", "m4a", "x-m4a", "wav", "amr", "mpga"))


class UnsupportedAudioType(PlaitError):
    code = "unsupported_audio_type"
    status = 415


@dataclass(frozen=True)
class AudioUpload:
    mime_type: str | None
    size: int


def _enabled(features: dict[str, Any], name: str) -> bool:
    toggle = features.get(name)
    return isinstance(toggle, dict) and bool(toggle.get("enabled"))


class Speech:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _features(self, app: App) -> dict[str, Any]:
        """The feature toggles of the version the Service API serves."""
        if app.published_version_id is None:
            return {}
        async with self._db.reader() as session:
            version = await apps_repo.version(session, app.published_version_id)
        if version is None:
            return {}
        if version.workflow is not None:
            features = version.workflow.get("features")
            return features if isinstance(features, dict) else {}
        return dict(version.model_config_ or {})

    async def transcribe(self, app: App, audio: AudioUpload | None) -> str:
        """The text of ``audio`` (``None``: the request carried no audio file)."""
        if not _enabled(await self._features(app), "speech_to_text"):
            raise BadRequest("Speech to text is not enabled", code="speech_to_text_disabled")
        if audio is None:
            raise BadRequest("Please upload your audio.", code="no_audio_uploaded")
        if audio.mime_type not in AUDIO_TYPES:
            raise UnsupportedAudioType("Audio type not allowed.")
        if audio.size > AUDIO_MAX_BYTES:
            raise PayloadTooLarge(f"Audio size larger than {AUDIO_SIZE_MB} mb", code="audio_too_large")
        raise BadRequest("Provider not support speech to text.", code="provider_not_support_speech_to_text")

    async def synthesize(self, app: App, *, text: str | None, message_id: str | None, voice: str | None) -> bytes:
        """Audio of ``text``, or of the answer of the app's message ``message_id``."""
        if message_id:
            async with self._db.reader() as session:
                message = await session.get(Message, message_id) if is_uuid(message_id) else None
            # Dify answers null with status 200 here; a clear 404 tells the caller more.
            if message is None or message.app_id != app.id:
                raise NotFound("Message Not Exists.")
            text = message.answer
        elif text is None:
            raise InvalidInput("Text is required", params="text")
        if not _enabled(await self._features(app), "text_to_speech"):
            # Dify's TTS has no code of its own for this: a ValueError, so invalid_param.
            raise InvalidInput("TTS is not enabled")
        raise BadRequest("Provider not support text to speech.", code="provider_not_support_text_to_speech")
