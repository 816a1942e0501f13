"""Secret environment variables of workflows, sealed at rest.

A workflow's ``environment_variables`` of ``value_type: secret`` (API keys an HTTP node
sends, say) are sealed when a draft is imported or saved, stay sealed in every version
published from it, and are opened only to run (and to export when the exporter asks for
secrets). Each value is bound to its workspace, app and variable name, so a sealed value
copied into another app does not open. A value the console sends back masked or hidden
keeps the one stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from plait.app.model_credentials import HIDDEN
from plait.app.secret_box import SecretBox, is_sealed

SECRET = "secret"  # noqa: S105 (the value type's name, not a secret)


class EnvironmentSecrets:
    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def sealed(
        self,
        workspace_id: str,
        app_id: str,
        workflow: Mapping[str, Any] | None,
        *,
        previous: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """``workflow`` with every secret value sealed; ``previous`` (the stored draft)
        supplies the values the console sent back hidden."""
        kept = {
            str(var.get("name")): var.get("value")
            for var in _variables(previous)
            if var.get("value_type") == SECRET and is_sealed(var.get("value"))
        }

        def seal(var: dict[str, Any]) -> None:
            value, name = var.get("value"), str(var.get("name") or "")
            if value == HIDDEN or (isinstance(value, str) and "*" * 6 in value and name in kept):
                var["value"] = kept.get(name, "")
            elif isinstance(value, str) and value and value != kept.get(name):
                # Anything new is sealed, even text that looks sealed: a sealed value comes
                # only from this draft, never from a file or a request.
                var["value"] = self._box.seal(value, context=_context(workspace_id, app_id, name))

        return _each_secret(workflow, seal)

    def opened(self, workspace_id: str, app_id: str, workflow: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """``workflow`` with its secret values in clear, to run or export it."""

        def open_(var: dict[str, Any]) -> None:
            value = var.get("value")
            if is_sealed(value):
                name = str(var.get("name") or "")
                var["value"] = self._box.open(str(value), context=_context(workspace_id, app_id, name))

        return _each_secret(workflow, open_)


def _context(workspace_id: str, app_id: str, name: str) -> str:
    return f"{workspace_id}/{app_id}/{name}"


def _variables(workflow: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not workflow:
        return []
    return [var for var in workflow.get("environment_variables") or [] if isinstance(var, dict)]


def _each_secret(workflow: Mapping[str, Any] | None, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
    if workflow is None:
        return None
    changed = copy.deepcopy(dict(workflow))
    for var in _variables(changed):
        if var.get("value_type") == SECRET:
            change(var)
    return changed
