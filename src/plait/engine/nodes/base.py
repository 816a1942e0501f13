"""The contract every node type implements.

A node type is a class with a ``type`` name, a pydantic ``Config`` for the node's ``data``,
the selectors it reads (checked at compile time), and one ``async run(ctx)`` returning a
:class:`NodeResult`. Nodes never touch the database or HTTP directly: what they need from
the outside (models, the code sandbox, the egress client) comes through ``ctx.services``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from plait.engine.variables import Selector, VariablePool

if TYPE_CHECKING:
    from plait.engine.graph import NodeSpec

SOURCE = "source"
FAIL_BRANCH = "fail-branch"


class NodeConfig(BaseModel):
    """Fields every node's ``data`` may carry; unknown fields are kept (Dify adds them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    title: str = ""
    desc: str = ""
    error_strategy: str | None = None
    default_value: list[dict[str, Any]] | None = None
    retry_config: dict[str, Any] | None = None


class NodeFailed(Exception):
    """A node's own, expected failure (bad input, a failed call): the message is for the
    workflow's author. ``error_type`` names the kind, as Dify reports it; ``code`` and
    ``status`` are the API error a chat app answers with when this failure ends its turn
    (a model's ``provider_not_initialize``, say)."""

    def __init__(
        self, message: str, error_type: str = "NodeError", *, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.code = code
        self.status = status


@dataclass(slots=True)
class NodeResult:
    outputs: dict[str, Any]
    # Source handles whose edges are taken; None means the default "source" handle.
    handles: tuple[str, ...] | None = None
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class NodeContext(Protocol):
    """What a running node can use (implemented by the runtime)."""

    @property
    def pool(self) -> VariablePool: ...

    @property
    def services(self) -> Any: ...

    @property
    def node_id(self) -> str: ...

    def stream(self, output: str, text: str, *, final: bool = False) -> None:
        """Stream a piece of the output ``output`` (an LLM's ``text``) as it is produced."""

    def updated(self, selector: Selector, value: Any) -> None:
        """Report a variable written by this node (assigners)."""

    def emit(self, event: Any) -> None:
        """Emit a run event (containers report their rounds)."""

    async def run_subgraph(self, container_id: str, pool: VariablePool) -> dict[str, Any]:
        """Run a container's child graph on ``pool`` (iteration and loop nodes)."""
        ...


class Node:
    node_type: ClassVar[str]
    Config: ClassVar[type[NodeConfig]] = NodeConfig
    # Handles this node may select besides "source" (if-else cases, classifier classes).
    is_branch: ClassVar[bool] = False
    is_container: ClassVar[bool] = False
    # Markers such as loop-start run like nodes but report nothing (as in Dify).
    silent: ClassVar[bool] = False

    def __init__(self, spec: NodeSpec, config: NodeConfig) -> None:
        self.spec = spec
        self.id = spec.id
        self.config = config
        self.title = config.title or spec.id

    def references(self) -> Sequence[Selector]:
        """Selectors this node reads; the compiler checks that each can exist."""
        return ()

    def branch_handles(self) -> Sequence[str]:
        """The handles a branch node can select (compile-time check of edges)."""
        return ()

    def output_names(self) -> Sequence[str] | None:
        """Names of the outputs this node writes, or None when they cannot be known before
        the run."""
        return None

    def warnings(self) -> Sequence[str]:
        """What might keep this node from running, worth telling at import time."""
        return ()

    async def run(self, ctx: NodeContext) -> NodeResult:
        raise NotImplementedError
