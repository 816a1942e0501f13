"""The ASGI application."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from plait import __version__
from plait.api import console, errors, file_links, health, openai, service
from plait.api.middleware import RequestContext
from plait.api.nul_characters import NulCharacterGuard
from plait.app import bootstrap
from plait.app.bootstrap import Plait
from plait.settings import Settings

OnReady = Callable[[Plait], Awaitable[None]]


def create_app(settings: Settings, *, plait: Plait | None = None, on_ready: OnReady | None = None) -> FastAPI:
    """The app for ``settings``. With ``plait`` given (tests), it is used as it is and not
    closed on shutdown; otherwise startup waits for the database and migrates it."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = plait is None
        app.state.plait = await bootstrap.start(settings) if owned else plait
        # Long-lived start-up objects never become garbage; freezing them keeps full
        # collections (and the latency spikes they cause) small.
        gc.collect()
        gc.freeze()
        if on_ready is not None:
            await on_ready(app.state.plait)
        try:
            yield
        finally:
            if owned:
                await app.state.plait.close()

    app = FastAPI(
        title="Plait",
        version=__version__,
        description="Plait's HTTP API: Dify-compatible service API and the console API.",
        lifespan=lifespan,
    )
    if plait is not None:
        app.state.plait = plait
    errors.install(app)
    # Routes are matched in order, each router's whole tree scanned before the next: the
    # Service API first, so its requests do not pay for scanning the console's routes.
    app.include_router(health.router)
    app.include_router(service.router)
    app.include_router(openai.router)
    app.include_router(console.router)
    app.include_router(file_links.router)
    app.add_middleware(NulCharacterGuard)  # inside RequestContext: its refusals carry the request id
    app.add_middleware(
        RequestContext,
        version=__version__,
        env=settings.deploy_env,
        max_body_bytes=settings.server.max_request_bytes,
    )
    return app
