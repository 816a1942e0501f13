"""Speech through the Service API: ``/audio-to-text`` (multipart, one ``file``) and
``/text-to-audio``. Every refusal is Dify's, in Dify's order (see ``app.speech``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp
from plait.app.speech import AUDIO_MAX_BYTES, AudioUpload

router = APIRouter(tags=["service: audio"])
CHUNK = 1024 * 1024


async def _size(upload: StarletteUpload) -> int:
    """The upload's size, read no further than one byte past the limit."""
    size = 0
    while size <= AUDIO_MAX_BYTES and (chunk := await upload.read(CHUNK)):
        size += len(chunk)
    return size


@router.post("/audio-to-text")
async def audio_to_text(request: Request, app: KeyApp, plait: PlaitDep) -> dict[str, str]:
    form = await request.form()
    part = form.get("file")
    audio = None
    if isinstance(part, StarletteUpload):
        audio = AudioUpload(mime_type=part.content_type, size=await _size(part))
    return {"text": await plait.speech.transcribe(app, audio)}


class TextToAudioBody(BaseModel):
    message_id: str | None = None
    text: str | None = Field(default=None, max_length=100_000)
    user: str | None = Field(default=None, max_length=255)
    voice: str | None = Field(default=None, max_length=255)
    streaming: bool | None = None  # ignored, as in Dify


@router.post("/text-to-audio", response_class=Response)
async def text_to_audio(body: TextToAudioBody, app: KeyApp, plait: PlaitDep) -> Response:
    audio = await plait.speech.synthesize(app, text=body.text, message_id=body.message_id, voice=body.voice)
    return Response(audio, media_type="audio/mpeg")
