"""The Dify-compatible Service API (``/v1``), authenticated by app keys."""

from fastapi import APIRouter

from plait.api.service import annotations, app_info, audio, chat, conversations, feedback, files, workflows

router = APIRouter(prefix="/v1")
router.include_router(app_info.router)
router.include_router(workflows.router)
router.include_router(chat.router)
router.include_router(conversations.router)
router.include_router(feedback.router)
router.include_router(files.router)
router.include_router(annotations.router)
router.include_router(audio.router)
