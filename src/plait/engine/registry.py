"""Which class implements each node type. Built-in node types are found the way plugins
are: through the ``plait.nodes`` entry points (see ``pyproject.toml``)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from plait.engine.nodes.base import Node

ENTRY_POINT_GROUP = "plait.nodes"
# Dify's legacy name for the variable aggregator.
ALIASES = {"variable-assigner": "variable-aggregator"}


@cache
def node_types() -> dict[str, type[Node]]:
    found: dict[str, type[Node]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a Node class")
        found[cls.node_type] = cls
    return found


def lookup(node_type: str) -> type[Node] | None:
    return node_types().get(ALIASES.get(node_type, node_type))
