"""The console API (``/console/api``): what the web console and automation use, behind a
console session."""

from fastapi import APIRouter

from plait.api.console import account, apps, auth, setup

router = APIRouter(prefix="/console/api")
router.include_router(setup.router)
router.include_router(auth.router)
router.include_router(account.router)
router.include_router(apps.router)
