"""The variable pool: every value a run can reference, addressed by selector.

A selector is ``[owner, name, *path]``: the owner is a node id or one of the reserved
prefixes ``sys``, ``env`` and ``conversation``; ``path`` indexes into objects and lists.
Node outputs are written once, when the node finishes; conversation variables are written by
assigner nodes. Lookups are two dictionary reads on the hot path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

SYSTEM = "sys"
ENVIRONMENT = "env"
CONVERSATION = "conversation"
RESERVED_OWNERS: Final = frozenset({SYSTEM, ENVIRONMENT, CONVERSATION})


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

Selector = tuple[str, ...]


def as_selector(value: Sequence[str]) -> Selector:
    return tuple(str(part) for part in value)


class VariablePool:
    __slots__ = ("_owners",)

    def __init__(
        self,
        *,
        system: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> None:
        self._owners: dict[str, dict[str, Any]] = {
            SYSTEM: dict(system or {}),
            ENVIRONMENT: dict(environment or {}),
            CONVERSATION: dict(conversation or {}),
        }

    def child(self) -> VariablePool:
        """A pool that starts as a copy of this one (for an iteration round): writes to
        node outputs stay local; conversation variables are shared with the parent."""
        pool = VariablePool.__new__(VariablePool)
        pool._owners = {
            owner: values if owner == CONVERSATION else dict(values) for owner, values in self._owners.items()
        }
        return pool

    def set_outputs(self, owner: str, outputs: Mapping[str, Any]) -> None:
        self._owners[owner] = dict(outputs)

    def set(self, selector: Selector, value: Any) -> None:
        owner, name = selector[0], selector[1]
        values = self._owners.setdefault(owner, {})
        if len(selector) == 2:
            values[name] = value
            return
        target = values.setdefault(name, {})
        for part in selector[2:-1]:
            target = target.setdefault(part, {})
        target[selector[-1]] = value

    def get(self, selector: Sequence[str]) -> Any:
        """The value at ``selector``, or :data:`MISSING`."""
        if len(selector) < 2:
            return MISSING
        values = self._owners.get(selector[0])
        if values is None:
            return MISSING
        value = values.get(selector[1], MISSING)
        for part in selector[2:]:
            if isinstance(value, Mapping):
                value = value.get(part, MISSING)
            elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
            if value is MISSING:
                return MISSING
        return value

    def has_owner(self, owner: str) -> bool:
        return owner in self._owners

    def outputs(self, owner: str) -> dict[str, Any]:
        return self._owners.get(owner, {})


def to_text(value: Any, *, markdown: bool = False) -> str:
    """How a value reads inside a template, as Dify renders it: strings as they are, nothing
    for a missing value, JSON for objects. In Answer text (``markdown``) a list is a bullet
    list and an object is indented JSON."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if markdown:
        if isinstance(value, list):
            return "\n".join(f"- {to_text(item, markdown=True)}" for item in value)
        return json.dumps(value, ensure_ascii=False, indent=2)
    return json.dumps(value, ensure_ascii=False)
