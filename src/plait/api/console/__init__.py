"""The console API (``/console/api``): what the web console and automation use, behind a
console session."""

from fastapi import APIRouter

from plait.api.console import (
    account,
    annotations,
    apps,
    auth,
    datasets,
    files,
    logs,
    model_providers,
    setup,
    tool_providers,
)

router = APIRouter(prefix="/console/api")
router.include_router(setup.router)
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(apps.router)
router.include_router(annotations.router)
router.include_router(logs.router)
router.include_router(model_providers.router)
router.include_router(tool_providers.router)
router.include_router(datasets.router)
router.include_router(files.router)
