"""The Dify-compatible Service API (``/v1``), authenticated by app keys (and ``ds-`` keys
for the Knowledge API)."""

from fastapi import APIRouter

from plait.api.service import (
    annotations,
    app_info,
    audio,
    chat,
    conversations,
    datasets,
    feedback,
    files,
    knowledge_metadata,
    knowledge_segments,
    knowledge_tags,
    workflows,
)

router = APIRouter(prefix="/v1")
router.include_router(app_info.router)
router.include_router(workflows.router)
router.include_router(chat.router)
router.include_router(conversations.router)
router.include_router(feedback.router)
router.include_router(files.router)
router.include_router(annotations.router)
router.include_router(audio.router)
# Knowledge: the fixed paths (/datasets/tags, /datasets/metadata/built-in) before
# /datasets/{dataset_id}, which would otherwise take them.
router.include_router(knowledge_tags.router)
router.include_router(knowledge_metadata.router)
router.include_router(knowledge_segments.router)
router.include_router(datasets.router)
