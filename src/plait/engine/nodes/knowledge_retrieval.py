"""Knowledge retrieval: passages for a query from the configured datasets, through the
retrieval service (``ctx.services.retrieval``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.errors import PlaitError


class KnowledgeRetrievalConfig(NodeConfig):
    query_variable_selector: list[str] = []
    dataset_ids: list[str] = []
    retrieval_mode: str = "multiple"
    multiple_retrieval_config: dict[str, Any] | None = None
    single_retrieval_config: dict[str, Any] | None = None
    metadata_filtering_mode: str = "disabled"
    metadata_filtering_conditions: dict[str, Any] | None = None
    metadata_model_config: dict[str, Any] | None = None


class KnowledgeRetrievalNode(Node):
    node_type = "knowledge-retrieval"
    Config = KnowledgeRetrievalConfig
    config: KnowledgeRetrievalConfig

    def references(self) -> Sequence[Selector]:
        selector = self.config.query_variable_selector
        return [as_selector(selector)] if selector else []

    def output_names(self) -> Sequence[str]:
        return ["result"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        query = ctx.pool.get(self.config.query_variable_selector)
        text = to_text(None if query is MISSING else query)
        if ctx.services.retrieval is None:
            raise NodeFailed(
                "knowledge retrieval is not available in this run (no knowledge base service)", "RetrievalError"
            )
        config = self.config.model_dump(
            include={
                "retrieval_mode",
                "multiple_retrieval_config",
                "single_retrieval_config",
                "metadata_filtering_mode",
                "metadata_filtering_conditions",
                "metadata_model_config",
            }
        )
        try:
            records = await ctx.services.retrieval.retrieve(text, self.config.dataset_ids, config)
        except PlaitError as error:
            raise NodeFailed(error.message, "RetrievalError") from None
        return NodeResult({"result": records}, inputs={"query": text})
