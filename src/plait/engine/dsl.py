"""Dify's app DSL (YAML): the document's top-level shape, read and written.

Reading checks what every app document must have, with errors that carry a JSON path:
the text is YAML and a mapping, ``kind`` is ``app``, ``version`` is a string no newer than
Plait supports, ``app`` names a known mode, and the mode's configuration section is there
(``workflow`` with a ``graph`` for workflow and advanced-chat apps, ``model_config`` for
the others). Everything else is kept as it came, so writing gives back what was read.
YAML is parsed with the safe loader: a document is data, never constructors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from plait.errors import InvalidInput

CURRENT_DSL_VERSION = "0.6.0"
MAX_DSL_BYTES = 10 * 1024 * 1024
APP_MODES = ("chat", "agent-chat", "advanced-chat", "workflow", "completion")
WORKFLOW_MODES = ("workflow", "advanced-chat")
KNOWN_TOP_LEVEL_KEYS = ("version", "kind", "app", "dependencies", "workflow", "model_config")

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class DslError(InvalidInput):
    """A DSL document that cannot be imported; ``path`` points at the offending part."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", params=path, code="invalid_dsl")
        self.path = path


@dataclass
class AppDocument:
    """A parsed app document. ``extra`` holds unknown top-level keys, kept for export."""

    version: str
    app: dict[str, Any]
    dependencies: list[Any] = field(default_factory=list)
    workflow: dict[str, Any] | None = None
    model_config: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return str(self.app["mode"])

    @property
    def name(self) -> str:
        return str(self.app.get("name") or "")


def _parse_version(value: object) -> tuple[int, int, int]:
    if not isinstance(value, str):
        # YAML reads `version: 0.6` as a float; Dify refuses it, and so does Plait.
        raise DslError(
            "$.version", f"must be a string such as '{CURRENT_DSL_VERSION}', got {type(value).__name__} {value!r}"
        )
    match = _VERSION.match(value.strip())
    if not match:
        raise DslError("$.version", f"must look like MAJOR.MINOR.PATCH, got {value!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def _check_version(value: object) -> str:
    parsed = _parse_version(value)
    current = _parse_version(CURRENT_DSL_VERSION)
    if parsed[:2] > current[:2]:
        raise DslError("$.version", f"{value} is newer than the newest version Plait reads ({CURRENT_DSL_VERSION})")
    if parsed < (0, 1, 0):
        raise DslError("$.version", f"{value} is older than the oldest version Plait reads (0.1.0)")
    return str(value).strip()


def _require_mapping(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DslError(path, f"must be a mapping, got {type(value).__name__}")
    return value


def parse_app_document(text: str | bytes) -> AppDocument:
    """Parse and check an app document, or raise :class:`DslError`."""
    if len(text) > MAX_DSL_BYTES:
        raise DslError("$", f"document is larger than {MAX_DSL_BYTES // (1024 * 1024)} MB")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DslError("$", f"not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    if data is None:
        raise DslError("$", "document is empty")
    document = _require_mapping(data, "$")
    kind = document.get("kind", "app")
    if kind != "app" or "app" not in document:
        raise DslError("$", "not a Dify app document: expected `kind: app` and an `app` section")
    version = _check_version(document.get("version", "0.1.0"))
    app = _require_mapping(document["app"], "$.app")
    mode = app.get("mode")
    if mode not in APP_MODES:
        raise DslError("$.app.mode", f"must be one of {', '.join(APP_MODES)}, got {mode!r}")
    name = app.get("name")
    if name is not None and not isinstance(name, str):
        raise DslError("$.app.name", "must be a string")
    dependencies = document.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise DslError("$.dependencies", "must be a list")

    workflow = model_config = None
    if mode in WORKFLOW_MODES:
        workflow = _require_mapping(document.get("workflow"), "$.workflow")
        graph = _require_mapping(workflow.get("graph"), "$.workflow.graph")
        for key in ("nodes", "edges"):
            if not isinstance(graph.get(key, []), list):
                raise DslError(f"$.workflow.graph.{key}", "must be a list")
    else:
        model_config = _require_mapping(document.get("model_config") or {}, "$.model_config")

    extra = {key: value for key, value in document.items() if key not in KNOWN_TOP_LEVEL_KEYS}
    return AppDocument(
        version=version,
        app=app,
        dependencies=dependencies,
        workflow=workflow,
        model_config=model_config,
        extra=extra,
    )


def dump_app_document(document: AppDocument) -> str:
    """Write an app document as YAML, in Dify's key order, with the current DSL version."""
    data: dict[str, Any] = {
        "app": document.app,
        "dependencies": document.dependencies,
        "kind": "app",
        "version": CURRENT_DSL_VERSION,
    }
    if document.workflow is not None:
        data["workflow"] = document.workflow
    if document.model_config is not None:
        data["model_config"] = document.model_config
    data.update(document.extra)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
