"""Agent: a model working through the node's query with tools (``plait.engine.agent``).

Dify names its agent strategies by their marketplace plugin; Plait provides the two that
Dify ships, ``langgenius/agent/agent`` with ``function_calling`` and ``ReAct``, itself. A
node asking for any other strategy imports with a warning and fails naming it. A model
that cannot call tools runs ReAct whatever the node asks (Dify does the same).

Parameters, as Dify writes them (each ``{type, value}``): ``model`` (a model selector),
``tools`` (a list of tool settings: provider, name, fixed parameters), ``instruction``,
``query``, ``maximum_iterations``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plait.engine.agent import Agent, AgentStep, AgentTool, Strategy
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.nodes.model_call import memory_messages, resolve_model, usage_metadata
from plait.engine.nodes.tool import parameter_references, resolve, text_of
from plait.engine.variables import Selector
from plait.errors import PlaitError
from plait.events import AgentLog
from plait.ids import new_id
from plait.providers.base import ChatMessage, ToolDefinition
from plait.providers.errors import ModelError
from plait.providers.pricing import pricing_of, usage_record

BUILT_IN_PROVIDERS = ("langgenius/agent/agent", "agent", "plait/agent")
STRATEGIES: dict[str, Strategy] = {
    "function_calling": "function_calling",
    "function_call": "function_calling",
    "react": "react",
}
DEFAULT_ITERATIONS = 5


class AgentConfig(NodeConfig):
    agent_strategy_provider_name: str = ""
    agent_strategy_name: str = ""
    agent_strategy_label: str | None = None
    agent_parameters: dict[str, Any] = {}
    memory: dict[str, Any] | None = None


class AgentNode(Node):
    node_type = "agent"
    Config = AgentConfig
    config: AgentConfig

    @property
    def strategy(self) -> Strategy | None:
        if self.config.agent_strategy_provider_name.lower() not in BUILT_IN_PROVIDERS:
            return None
        return STRATEGIES.get(self.config.agent_strategy_name.lower())

    def _strategy_name(self) -> str:
        return f"{self.config.agent_strategy_provider_name}/{self.config.agent_strategy_name}"

    def references(self) -> Sequence[Selector]:
        return [s for value in self.config.agent_parameters.values() for s in parameter_references(value)]

    def output_names(self) -> Sequence[str] | None:
        return ["text", "files", "json", "usage"]

    def warnings(self) -> Sequence[str]:
        if self.strategy is None:
            return [f"node {self.id!r} uses the agent strategy {self._strategy_name()}, which Plait does not provide"]
        return ()

    async def run(self, ctx: NodeContext) -> NodeResult:
        strategy = self.strategy
        if strategy is None:
            raise NodeFailed(f"agent strategy {self._strategy_name()} is not available in Plait", "AgentNotAvailable")
        parameters = {key: resolve(value, ctx.pool) for key, value in self.config.agent_parameters.items()}
        selector = parameters.get("model")
        if not isinstance(selector, Mapping):
            raise NodeFailed("the agent has no model", "AgentError")
        model_config = {**selector, "name": selector.get("model") or selector.get("name") or ""}
        model = await resolve_model(ctx, model_config)
        if not model.capabilities.tool_calling:
            strategy = "react"
        tools = await self._tools(ctx, parameters.get("tools"))
        messages: list[ChatMessage] = []
        instruction = str(parameters.get("instruction") or "")
        if instruction:
            messages.append(ChatMessage("system", instruction))
        messages.extend(await memory_messages(ctx, self.config.memory))
        query = str(parameters.get("query") or "")
        messages.append(ChatMessage("user", query))
        iterations = int(parameters.get("maximum_iterations") or DEFAULT_ITERATIONS)

        def report(step: AgentStep, done: bool) -> None:
            ctx.emit(
                AgentLog(
                    self.id,
                    f"{self.id}-{step.position}",
                    step.position,
                    step.thought,
                    step.tool,
                    step.tool_input,
                    step.observation,
                    "success" if done else "start",
                )
            )

        agent = Agent(
            model,
            model_name=str(model_config["name"]),
            parameters=dict(selector.get("completion_params") or {}),
            tools=tools,
            strategy=strategy,
            max_iterations=iterations,
            caller=self.id,
            on_text=lambda text: ctx.stream("text", text),
            on_step=report,
        )
        try:
            result = await agent.run(messages)
        except ModelError as error:
            raise NodeFailed(error.message, "ModelError", code=error.code, status=error.status) from None
        ctx.stream("text", "", final=True)
        usage = usage_record(result.usage, pricing_of(model))
        logs = [
            {
                "id": new_id(),
                "position": step.position,
                "thought": step.thought,
                "tool": step.tool,
                "tool_input": step.tool_input,
                "observation": step.observation,
            }
            for step in result.steps
        ]
        outputs = {"text": result.text, "files": [], "json": logs, "usage": usage}
        inputs = {"query": query, "instruction": instruction, "strategy": strategy}
        return NodeResult(outputs, inputs=inputs, metadata=usage_metadata(usage))

    async def _tools(self, ctx: NodeContext, configured: Any) -> list[AgentTool]:
        tools: list[AgentTool] = []
        if not configured:
            return tools
        if ctx.services.tools is None:
            raise NodeFailed("this agent uses tools, but no tools are available here", "ToolNotAvailable")
        for setting in configured if isinstance(configured, list) else []:
            if not isinstance(setting, Mapping) or setting.get("enabled") is False:
                continue
            provider = {
                "provider_id": setting.get("provider_id") or setting.get("provider_name") or "",
                "provider_type": setting.get("type") or setting.get("provider_type") or "builtin",
                "provider_name": setting.get("provider_name") or "",
                "tool_name": setting.get("tool_name") or "",
            }
            fixed = _fixed_parameters(setting)
            try:
                definition = await ctx.services.tools.definition(provider)
            except PlaitError as error:
                raise NodeFailed(
                    f"tool {provider['tool_name']} is not available: {error.message}", "ToolError"
                ) from None
            tools.append(AgentTool(_without(definition, fixed), _caller(ctx, provider, fixed)))
        return tools


def _fixed_parameters(setting: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters the builder set (``auto: 0``, or Dify's older ``tool_parameters``): the
    model neither sees nor chooses them."""
    fixed: dict[str, Any] = dict(setting.get("tool_parameters") or {})
    for name, value in (setting.get("parameters") or {}).items():
        if isinstance(value, Mapping) and "auto" in value:
            if not value.get("auto"):
                fixed[name] = value.get("value")
        elif value not in (None, ""):
            fixed[name] = value
    fixed.update(setting.get("settings") or {})
    return {
        name: value.get("value") if isinstance(value, Mapping) and "value" in value else value
        for name, value in fixed.items()
    }


def _without(definition: ToolDefinition, fixed: Mapping[str, Any]) -> ToolDefinition:
    if not fixed:
        return definition
    schema = dict(definition.parameters)
    schema["properties"] = {k: v for k, v in dict(schema.get("properties") or {}).items() if k not in fixed}
    schema["required"] = [name for name in schema.get("required") or [] if name not in fixed]
    return ToolDefinition(definition.name, definition.description, schema)


def _caller(ctx: NodeContext, provider: Mapping[str, Any], fixed: Mapping[str, Any]) -> Any:
    async def call(arguments: dict[str, Any]) -> str:
        tools = ctx.services.tools
        assert tools is not None
        outputs = await tools.invoke(ctx.node_id, provider, {**arguments, **fixed})
        return text_of(outputs)

    return call
