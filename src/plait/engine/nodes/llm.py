"""LLM: render the prompt (with conversation memory, context and images), call the chat
model, stream its text; structured output and reasoning as Dify's node offers them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.nodes.model_call import (
    first_json_object,
    image_parts,
    memory_messages,
    resolve_model,
    usage_metadata,
    with_images,
)
from plait.engine.reasoning import CLOSE, OPEN, ThinkSplitter, split_think
from plait.engine.templates import TemplateRenderError, render_jinja
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.providers.base import ChatMessage, ChatModel, ChatRequest, ResponseFormat, Usage
from plait.providers.errors import ModelError
from plait.providers.pricing import pricing_of, usage_record

ROLES = ("system", "user", "assistant")
STRUCTURED_OUTPUT_INSTRUCTION = (
    "Reply with one JSON object only, no prose and no code fences, that matches this JSON Schema:\n{schema}"
)


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
    vision: dict[str, Any] | None = None
    # Dify has written the switch under both names.
    structured_output_enabled: bool = False
    structured_output_switch_on: bool = False
    structured_output: dict[str, Any] | None = None
    reasoning_format: str = "tagged"


def context_to_text(value: Any) -> str:
    """The prompt's ``{{#context#}}``: knowledge-retrieval records give their passages, one
    per line (as Dify joins them); any other value its text."""
    if isinstance(value, list) and value and all(isinstance(item, dict) and "content" in item for item in value):
        return "\n".join(str(item["content"]) for item in value)
    return to_text(None if value is MISSING else value)


class LlmNode(Node):
    node_type = "llm"
    Config = LlmConfig
    config: LlmConfig

    def _messages(self) -> list[PromptMessage]:
        prompt = self.config.prompt_template
        return [prompt] if isinstance(prompt, PromptMessage) else list(prompt)

    def _schema(self) -> dict[str, Any] | None:
        if not (self.config.structured_output_enabled or self.config.structured_output_switch_on):
            return None
        schema = (self.config.structured_output or {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}

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
        query_template = (self.config.memory or {}).get("query_prompt_template")
        if isinstance(query_template, str):
            found.extend(templates.references(query_template))
        return found

    def output_names(self) -> Sequence[str]:
        return ["text", "reasoning_content", "usage", "finish_reason", "structured_output", "files"]

    def _render(self, ctx: NodeContext) -> list[ChatMessage]:
        context_text = ""
        context = self.config.context
        if context and context.enabled and context.variable_selector:
            context_text = context_to_text(ctx.pool.get(context.variable_selector))
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
        return messages

    async def _prompt(self, ctx: NodeContext, model: ChatModel) -> list[ChatMessage]:
        """System messages, then the conversation so far, then the rest of the template and
        this turn's query (when memory is on and the template does not ask it itself)."""
        rendered = self._render(ctx)
        split = next((i for i, message in enumerate(rendered) if message.role != "system"), len(rendered))
        messages = [*rendered[:split], *await memory_messages(ctx, self.config.memory), *rendered[split:]]
        if self.config.memory and not any(message.role == "user" for message in rendered):
            query_template = self.config.memory.get("query_prompt_template") or "{{#sys.query#}}"
            query = templates.render(templates.parse(str(query_template)), ctx.pool)
            if query:
                messages.append(ChatMessage("user", query))
        schema = self._schema()
        if schema is not None and not model.capabilities.structured_output:
            instruction = STRUCTURED_OUTPUT_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))
            messages.insert(0, ChatMessage("system", instruction))
        return with_images(messages, await image_parts(ctx, self.config.vision, model))

    async def run(self, ctx: NodeContext) -> NodeResult:
        model = await resolve_model(ctx, self.config.model.model_dump())
        messages = await self._prompt(ctx, model)
        schema = self._schema()
        response_format = (
            ResponseFormat("json_schema", schema)
            if schema is not None and model.capabilities.structured_output
            else None
        )
        request = ChatRequest(
            messages,
            self.config.model.name,
            dict(self.config.model.completion_params),
            self.id,
            response_format=response_format,
        )
        separated = self.config.reasoning_format == "separated"
        splitter = ThinkSplitter() if separated else None
        text_parts: list[str] = []
        reasoning_parts: list[str] = []
        usage, finish_reason, extra = Usage(), "stop", {}
        thinking = False  # tagged format: inside the <think> block made of separately sent reasoning
        started = time.perf_counter()
        try:
            async for chunk in model.stream(request):
                pieces: list[str] = []
                if chunk.reasoning and separated:
                    reasoning_parts.append(chunk.reasoning)
                elif chunk.reasoning:
                    if not thinking:
                        pieces.append(f"{OPEN}\n")
                        thinking = True
                    pieces.append(chunk.reasoning)
                if chunk.text or (chunk.final and thinking):
                    if thinking:
                        pieces.append(f"\n{CLOSE}\n\n")
                        thinking = False
                    pieces.append(chunk.text)
                text = "".join(pieces)
                if splitter is not None:
                    text, inline_reasoning = splitter.feed(text)
                    reasoning_parts.append(inline_reasoning)
                    if chunk.final:
                        rest, inline_reasoning = splitter.flush()
                        text += rest
                        reasoning_parts.append(inline_reasoning)
                text_parts.append(text)
                ctx.stream("text", text, final=chunk.final)
                if text:
                    # Let the chunk go out before reading the next one: when several arrive
                    # together, the first would otherwise wait for the rest to be parsed.
                    await asyncio.sleep(0)
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.finish_reason:
                    finish_reason = chunk.finish_reason
                extra.update(chunk.extra_outputs)
        except ModelError as error:
            raise NodeFailed(error.message, "ModelError", code=error.code, status=error.status) from None
        text = "".join(text_parts)
        usage_out = usage_record(usage, pricing_of(model), time.perf_counter() - started)
        outputs: dict[str, Any] = {
            "text": text,
            "reasoning_content": "".join(reasoning_parts).strip(),
            "usage": usage_out,
            "finish_reason": finish_reason,
        }
        if schema is not None:
            parsed = first_json_object(split_think(text)[0])
            if parsed is None:
                raise NodeFailed("the model's reply is not a JSON object for the structured output", "OutputError")
            outputs["structured_output"] = parsed
        outputs.update(extra)
        process_data = {
            "model_mode": self.config.model.mode,
            "model_provider": self.config.model.provider,
            "model_name": self.config.model.name,
            "prompts": [{"role": m.role, "text": m.text, "files": len(m.images)} for m in messages],
            "usage": usage_out,
            "finish_reason": finish_reason,
        }
        return NodeResult(outputs, process_data=process_data, metadata=usage_metadata(usage_out))
