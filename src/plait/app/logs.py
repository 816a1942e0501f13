"""Structured logs: one configuration for Plait's own loggers and the libraries'.

JSON lines in production (and whenever stderr is not a terminal), a readable console format
for a developer's terminal. Request and run ids bound with ``structlog.contextvars`` appear
in every line logged while handling that request or run.
"""

from __future__ import annotations

import logging
import sys

import structlog

from plait.settings import LogSettings


def configure_logging(settings: LogSettings) -> None:
    use_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # Level first: a line below it is dropped before the other processors run (time
        # stamp, context), not after (the request log line at LOG_LEVEL=WARNING, say).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if use_json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Plait logs one line per request itself, with its request id; uvicorn's own access
    # log would repeat it without one.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every connection at INFO; Plait logs what was migrated itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # Vendor SDKs' HTTP clients log each request's full URL at INFO, query tokens included.
    for name in ("httpx", "httpcore", "httpx2", "openai", "anthropic", "mcp"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
