"""The entry and exit markers inside iteration and loop containers."""

from __future__ import annotations

from collections.abc import Sequence

from plait.engine.nodes.base import Node, NodeContext, NodeResult


class IterationStartNode(Node):
    node_type = "iteration-start"
    silent = True

    def output_names(self) -> Sequence[str]:
        return []

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult({})


class LoopStartNode(IterationStartNode):
    node_type = "loop-start"


class LoopEndNode(IterationStartNode):
    """Reaching it ends the loop after the current round."""

    node_type = "loop-end"
