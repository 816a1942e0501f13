"""Agent: an agent strategy (ReAct, function calling) with tools, run by the agents service.
Dify names strategies by their marketplace plugin; the run fails with that name when no
runner provides it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.nodes.tool import parameter_references, resolve
from plait.engine.variables import Selector
from plait.errors import PlaitError


class AgentConfig(NodeConfig):
    agent_strategy_provider_name: str = ""
    agent_strategy_name: str = ""
    agent_strategy_label: str | None = None
    agent_parameters: dict[str, Any] = {}


class AgentNode(Node):
    node_type = "agent"
    Config = AgentConfig
    config: AgentConfig

    def references(self) -> Sequence[Selector]:
        return [s for value in self.config.agent_parameters.values() for s in parameter_references(value)]

    def output_names(self) -> Sequence[str] | None:
        return None

    def warnings(self) -> Sequence[str]:
        strategy = f"{self.config.agent_strategy_provider_name}/{self.config.agent_strategy_name}"
        return [f"node {self.id!r} uses the agent strategy {strategy}; runs fail there unless Plait provides it"]

    async def run(self, ctx: NodeContext) -> NodeResult:
        strategy = f"{self.config.agent_strategy_provider_name}/{self.config.agent_strategy_name}"
        if ctx.services.agents is None:
            raise NodeFailed(f"agent strategy {strategy} is not available in Plait", "AgentNotAvailable")
        parameters = {key: resolve(value, ctx.pool) for key, value in self.config.agent_parameters.items()}
        provider = {"provider": self.config.agent_strategy_provider_name, "strategy": self.config.agent_strategy_name}
        try:
            outputs = await ctx.services.agents.run(self.id, provider, parameters)
        except PlaitError as error:
            raise NodeFailed(f"agent strategy {strategy} failed: {error.message}", "AgentError") from None
        return NodeResult({"text": "", "files": [], "json": [], **outputs}, inputs=parameters)
