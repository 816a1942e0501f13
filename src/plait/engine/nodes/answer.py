"""Answer: a chatflow's reply, a template streamed as its parts become certain."""

from __future__ import annotations

from collections.abc import Sequence

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeResult
from plait.engine.variables import Selector


class AnswerConfig(NodeConfig):
    answer: str = ""


class AnswerNode(Node):
    node_type = "answer"
    Config = AnswerConfig
    config: AnswerConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.segments = templates.parse(self.config.answer)

    def references(self) -> Sequence[Selector]:
        return templates.references(self.config.answer)

    def output_names(self) -> Sequence[str]:
        return ["answer", "files"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult({"answer": templates.render(self.segments, ctx.pool, markdown=True), "files": []})
