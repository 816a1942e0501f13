"""LLM: render the prompt, call the chat model, stream its text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.templates import TemplateRenderError, render_jinja
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.providers.base import ChatMessage, ChatRequest, Usage
from plait.providers.errors import ModelError

ROLES = ("system", "user", "assistant")


class PromptMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = "user"
    text: str = ""
    edition_type: str | None = None
    jinja2_text: str | None = None


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    provider: str = ""
    name: str = ""
    mode: str = "chat"
    completion_params: dict[str, Any] = {}


class ContextConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False
    variable_selector: list[str] | None = None


class LlmConfig(NodeConfig):
    model: ModelConfig = ModelConfig()
    prompt_template: list[PromptMessage] | PromptMessage = []
    context: ContextConfig | None = None
    prompt_config: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None


class LlmNode(Node):
    node_type = "llm"
    Config = LlmConfig
    config: LlmConfig

    def _messages(self) -> list[PromptMessage]:
        prompt = self.config.prompt_template
        return [prompt] if isinstance(prompt, PromptMessage) else list(prompt)

    def references(self) -> Sequence[Selector]:
        found: list[Selector] = []
        for message in self._messages():
            found.extend(s for s in templates.references(message.text) if s[0] != "context")
        context = self.config.context
        if context and context.enabled and context.variable_selector:
            found.append(as_selector(context.variable_selector))
        for variable in (self.config.prompt_config or {}).get("jinja2_variables") or []:
            if variable.get("value_selector"):
                found.append(as_selector(variable["value_selector"]))
        return found

    def output_names(self) -> Sequence[str]:
        return ["text", "reasoning_content", "usage", "finish_reason", "structured_output", "files"]

    def _render(self, ctx: NodeContext) -> list[ChatMessage]:
        context_text = ""
        context = self.config.context
        if context and context.enabled and context.variable_selector:
            context_text = to_text(ctx.pool.get(context.variable_selector))
        jinja_values = {}
        for variable in (self.config.prompt_config or {}).get("jinja2_variables") or []:
            value = ctx.pool.get(variable.get("value_selector") or [])
            jinja_values[variable.get("variable", "")] = None if value is MISSING else value
        messages = []
        for message in self._messages():
            if message.edition_type == "jinja2":
                try:
                    text = render_jinja(message.jinja2_text or "", jinja_values)
                except TemplateRenderError as error:
                    raise NodeFailed(str(error), "TemplateError") from None
            else:
                text = templates.render(templates.parse(message.text.replace("{{#context#}}", context_text)), ctx.pool)
            role = message.role if message.role in ROLES else "user"
            messages.append(ChatMessage(role, text))  # type: ignore[arg-type]
        query = ctx.pool.get(("sys", "query"))
        if self.config.memory and isinstance(query, str) and query and not any(m.role == "user" for m in messages):
            messages.append(ChatMessage("user", query))
        return messages

    async def run(self, ctx: NodeContext) -> NodeResult:
        messages = self._render(ctx)
        model = ctx.services.chat_model(self.config.model.model_dump())
        request = ChatRequest(messages, self.config.model.name, dict(self.config.model.completion_params), self.id)
        parts: list[str] = []
        usage, finish_reason, extra = Usage(), "stop", {}
        try:
            async for chunk in model.stream(request):
                parts.append(chunk.text)
                ctx.stream("text", chunk.text, final=chunk.final)
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish_reason = chunk.finish_reason
                extra.update(chunk.extra_outputs)
        except ModelError as error:
            raise NodeFailed(str(error), "ModelError") from None
        usage_out = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        outputs = {"text": "".join(parts), "reasoning_content": "", "usage": usage_out, "finish_reason": finish_reason}
        outputs.update(extra)
        process_data = {
            "model_provider": self.config.model.provider,
            "model_name": self.config.model.name,
            "prompts": [{"role": m.role, "text": m.content} for m in messages],
        }
        metadata = {
            "total_tokens": usage.total_tokens,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
        }
        return NodeResult(outputs, process_data=process_data, metadata=metadata)
