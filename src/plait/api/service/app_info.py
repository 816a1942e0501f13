"""What an app key's client may learn about its app: name, mode, and input form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from plait import __version__
from plait.api.deps import PlaitDep
from plait.api.service.auth import KeyApp
from plait.app.app_config import features_of
from plait.errors import Forbidden

router = APIRouter(tags=["service: app"])

FEATURE_TOGGLES = (
    "suggested_questions_after_answer",
    "speech_to_text",
    "text_to_speech",
    "retriever_resource",
    "annotation_reply",
    "more_like_this",
    "sensitive_word_avoidance",
)
FORM_FIELDS = ("label", "variable", "required", "default", "options", "max_length", "hide")


@router.get("/")
async def welcome() -> dict[str, str]:
    return {"welcome": "Plait Service API (Dify-compatible)", "api_version": "v1", "server_version": __version__}


@router.get("/info")
async def info(app: KeyApp) -> dict[str, Any]:
    return {"name": app.name, "description": app.description, "tags": [], "mode": app.mode, "author_name": ""}


@router.get("/meta")
async def meta(app: KeyApp) -> dict[str, Any]:
    return {"tool_icons": {}}


@router.get("/site")
async def site(app: KeyApp) -> dict[str, Any]:
    if not app.enable_site:
        raise Forbidden("The app's web site is disabled.")
    return {
        "title": app.name,
        "chat_color_theme": None,
        "chat_color_theme_inverted": False,
        "icon_type": app.icon_type,
        "icon": app.icon,
        "icon_background": app.icon_background,
        "icon_url": None,
        "description": app.description,
        "copyright": None,
        "privacy_policy": None,
        "input_placeholder": None,
        "custom_disclaimer": "",
        "default_language": "en-US",
        "show_workflow_steps": True,
        "use_icon_as_answer_icon": app.use_icon_as_answer_icon,
    }


@router.get("/parameters")
async def parameters(app: KeyApp, plait: PlaitDep) -> dict[str, Any]:
    version = await plait.apps.published_version(app.workspace_id, app.id)
    workflow = (version.workflow if version else None) or {}
    config = (version.model_config_ if version else None) or {}
    features = features_of(version) if version is not None else {}
    form: list[dict[str, Any]] = list(config.get("user_input_form") or [])
    for node in (workflow.get("graph") or {}).get("nodes") or []:
        data = node.get("data") or {}
        if data.get("type") == "start":
            for variable in data.get("variables") or []:
                fields = {key: variable.get(key) for key in FORM_FIELDS if key in variable}
                fields.setdefault("required", False)
                form.append({variable.get("type", "text-input"): fields})
    reply: dict[str, Any] = {
        "opening_statement": features.get("opening_statement") or "",
        "suggested_questions": features.get("suggested_questions") or [],
        "user_input_form": form,
        "file_upload": features.get("file_upload") or {"image": {"enabled": False}},
        "system_parameters": {
            "file_size_limit": 15,
            "image_file_size_limit": 10,
            "audio_file_size_limit": 50,
            "video_file_size_limit": 100,
            "workflow_file_upload_limit": 10,
        },
    }
    for toggle in FEATURE_TOGGLES:
        reply[toggle] = features.get(toggle) or {"enabled": False}
    return reply
