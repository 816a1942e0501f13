"""Question classifier: the model picks one of the configured classes; the branch of that
class is taken. A reply that names no class falls back to the first class, as in Dify."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from plait.engine import templates
from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.nodes.model_call import (
    complete,
    first_json_object,
    image_parts,
    memory_messages,
    resolve_model,
    usage_metadata,
    with_images,
)
from plait.engine.variables import MISSING, Selector, as_selector, to_text
from plait.providers.base import ChatMessage


class ClassSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str = ""


class QuestionClassifierConfig(NodeConfig):
    query_variable_selector: list[str] = []
    model: dict[str, Any] = {}
    classes: list[ClassSpec] = []
    instruction: str = ""
    memory: dict[str, Any] | None = None
    vision: dict[str, Any] | None = None


SYSTEM_PROMPT = (
    "You classify the user's input into exactly one of these categories. "
    'Reply with JSON only: {{"category_id": "<id>", "category_name": "<name>"}}.\n'
    "Categories:\n{categories}\n{instruction}"
)


class QuestionClassifierNode(Node):
    node_type = "question-classifier"
    Config = QuestionClassifierConfig
    config: QuestionClassifierConfig
    is_branch = True

    def references(self) -> Sequence[Selector]:
        found = [as_selector(self.config.query_variable_selector)] if self.config.query_variable_selector else []
        return found + templates.references(self.config.instruction)

    def branch_handles(self) -> Sequence[str]:
        return [spec.id for spec in self.config.classes]

    def output_names(self) -> Sequence[str]:
        return ["class_name", "class_id", "class_label", "usage"]

    def _pick(self, reply: str) -> ClassSpec:
        parsed = first_json_object(reply) or {}
        for spec in self.config.classes:
            if parsed.get("category_id") == spec.id or (spec.name and parsed.get("category_name") == spec.name):
                return spec
        for spec in self.config.classes:
            if spec.name and spec.name.lower() in reply.lower():
                return spec
        return self.config.classes[0]

    async def run(self, ctx: NodeContext) -> NodeResult:
        if not self.config.classes:
            raise NodeFailed("the classifier has no classes", "ClassifierError")
        query = ctx.pool.get(self.config.query_variable_selector)
        query_text = to_text(None if query is MISSING else query)
        categories = "\n".join(f"- id: {spec.id}, name: {spec.name}" for spec in self.config.classes)
        instruction = templates.render(templates.parse(self.config.instruction), ctx.pool)
        model = await resolve_model(ctx, self.config.model)
        messages = [
            ChatMessage("system", SYSTEM_PROMPT.format(categories=categories, instruction=instruction)),
            *await memory_messages(ctx, self.config.memory),
            ChatMessage("user", query_text),
        ]
        messages = with_images(messages, await image_parts(ctx, self.config.vision, model))
        result, usage = await complete(ctx, self.config.model, messages, model=model)
        chosen = self._pick(result.text)
        outputs = {
            "class_name": chosen.name,
            "class_id": chosen.id,
            "class_label": chosen.name,
            "usage": usage,
        }
        return NodeResult(
            outputs,
            handles=(chosen.id,),
            inputs={"query": query_text},
            process_data={"reply": result.text, "usage": usage},
            metadata=usage_metadata(usage),
        )
