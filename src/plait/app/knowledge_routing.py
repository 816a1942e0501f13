"""The knowledge-retrieval node's model-driven choices: which dataset a query goes to
(Dify's ``retrieval_mode: single``) and which documents it may read (``metadata_filtering_mode:
automatic``).

Routing follows Dify's dataset routers. Every dataset becomes a tool named by its id and
described by its description (or, without one, by its name); a model that calls tools
picks one by calling it (Dify's function-call router), any other model is shown the same
tools in the prompt and answers with a ReAct-style ``{"action": ...}`` object (Dify's ReAct
router). One dataset needs no model. A model that picks nothing, or names no dataset
offered, routes nowhere: the node then finds nothing, as in Dify.

Automatic filtering asks the model for Dify's ``metadata_filtering_conditions`` over the
datasets' metadata fields, as strict JSON. Dify's own reply shape, ``{"metadata_map":
[{"metadata_field_name", "metadata_field_value", "comparison_operator"}]}``, is read too.
Output that does not parse, names no known field, or does not compile leaves the search
unfiltered and is logged: a model's mistake must not hide the knowledge base (Dify falls
back the same way).

These calls go to the model directly, not through a node's model call, so they are not
recorded for replay and their tokens do not count towards the node's usage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from plait.engine.nodes.model_call import first_json_object
from plait.errors import InvalidInput
from plait.providers.base import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResult,
    ResponseFormat,
    ToolDefinition,
    collect,
)
from plait.providers.errors import ModelError
from plait.rag.metadata_filter import FieldType, compile_filter
from plait.storage.db.tables import Dataset

log = structlog.get_logger(__name__)

ROUTER_CALLER = "dataset_router"
METADATA_CALLER = "metadata_filter"

ROUTER_SYSTEM = "You are a helpful AI assistant. Call the one knowledge base tool that can answer the user's question."
REACT_SYSTEM = (
    "You choose the knowledge base that can answer the user's question. The knowledge bases are:\n"
    "{tools}\n\n"
    'Reply with one JSON object only: {{"action": "<knowledge base name>", "action_input": "<the question>"}}, '
    'or {{"action": "Final Answer", "action_input": ""}} when none of them fits.'
)
METADATA_SYSTEM = (
    "You turn a search query into a metadata filter for a document search. The documents have "
    "these metadata fields (name: type):\n{fields}\n\n"
    "Reply with one JSON object only, no prose: "
    '{{"logical_operator": "and", "conditions": [{{"name": "<field>", "comparison_operator": "<operator>", '
    '"value": <value>}}]}}. Operators: for string fields contains, not contains, start with, end with, is, '
    "is not, empty, not empty; for number fields =, ≠, >, <, ≥, ≤; for time fields before, after (values as "
    "ISO 8601 dates; today is {today}). Use only the fields listed, only for what the query states, and "
    '{{"conditions": []}} when it states none.'
)


def dataset_tool(dataset: Dataset) -> ToolDefinition:
    """A dataset as a router's tool, as Dify offers it (the query is the only argument)."""
    description = dataset.description.strip() or f"useful for when you want to answer queries about the {dataset.name}"
    return ToolDefinition(dataset.id, description, {"type": "object", "properties": {}, "required": []})


async def choose_dataset(
    model: ChatModel, model_config: Mapping[str, Any], query: str, datasets: Sequence[Dataset]
) -> Dataset | None:
    """The dataset the model routes ``query`` to; ``None`` when it picks none."""
    if len(datasets) <= 1:
        return datasets[0] if datasets else None
    tools = [dataset_tool(dataset) for dataset in datasets]
    by_id = {dataset.id: dataset for dataset in datasets}
    if model.capabilities.tool_calling:
        messages = [ChatMessage("system", ROUTER_SYSTEM), ChatMessage("user", query)]
        reply = await _complete(model, model_config, messages, ROUTER_CALLER, tools=tools)
        chosen = next((call.name for call in reply.tool_calls if call.name in by_id), None)
    else:
        listing = "\n".join(f"- {tool.name}: {tool.description}" for tool in tools)
        messages = [ChatMessage("system", REACT_SYSTEM.format(tools=listing)), ChatMessage("user", query)]
        reply = await _complete(model, model_config, messages, ROUTER_CALLER)
        action = (first_json_object(reply.text) or {}).get("action")
        chosen = action.strip() if isinstance(action, str) else None
    if chosen not in by_id:
        log.info("knowledge.routed_nowhere", reply=reply.text[:200], calls=[call.name for call in reply.tool_calls])
        return None
    return by_id[chosen]


async def automatic_conditions(
    model: ChatModel, model_config: Mapping[str, Any], query: str, fields: Mapping[str, FieldType]
) -> dict[str, Any] | None:
    """The metadata filter the model writes for ``query`` over ``fields``; ``None`` (no
    filter) when there are no fields, the model states no condition, or its reply is unusable."""
    if not fields:
        return None
    listing = "\n".join(f"- {name}: {kind}" for name, kind in fields.items())
    system = METADATA_SYSTEM.format(fields=listing, today=datetime.now(UTC).date().isoformat())
    messages = [ChatMessage("system", system), ChatMessage("user", query)]
    response_format = ResponseFormat("json_object") if model.capabilities.structured_output else None
    try:
        reply = await _complete(model, model_config, messages, METADATA_CALLER, response_format=response_format)
    except ModelError as error:
        log.warning("knowledge.metadata_model_failed", error=error.message)
        return None
    conditions = read_conditions(reply.text, fields)
    if conditions is None:
        log.warning("knowledge.metadata_reply_unusable", reply=reply.text[:500])
    return conditions or None


def read_conditions(text: str, fields: Mapping[str, FieldType]) -> dict[str, Any] | None:
    """A model's filter as ``metadata_filtering_conditions`` over the known ``fields``;
    ``{}`` when it states no condition, ``None`` when the reply is unusable."""
    parsed = first_json_object(text)
    if parsed is None:
        return None
    raw = parsed.get("conditions")
    if raw is None and "metadata_map" in parsed:
        raw = _from_metadata_map(parsed["metadata_map"])
    if not isinstance(raw, list):
        return None
    if not raw:
        return {}
    known = [c for c in raw if isinstance(c, Mapping) and c.get("name") in fields]
    if not known:
        return None
    logical = parsed.get("logical_operator") if parsed.get("logical_operator") in ("and", "or") else "and"
    conditions = {
        "logical_operator": logical,
        "conditions": [
            {"name": c["name"], "comparison_operator": c.get("comparison_operator"), "value": c.get("value")}
            for c in known
        ],
    }
    try:
        compile_filter(conditions, fields=fields)
    except InvalidInput as error:
        log.warning("knowledge.metadata_conditions_invalid", error=error.message)
        return None
    return conditions


def _from_metadata_map(items: Any) -> list[dict[str, Any]] | None:
    """Dify's automatic-filter reply items as conditions (Dify defaults the operator to ``is``)."""
    if not isinstance(items, list):
        return None
    return [
        {
            "name": item.get("metadata_field_name"),
            "comparison_operator": item.get("comparison_operator") or "is",
            "value": item.get("metadata_field_value"),
        }
        for item in items
        if isinstance(item, Mapping)
    ]


async def _complete(
    model: ChatModel,
    model_config: Mapping[str, Any],
    messages: list[ChatMessage],
    caller: str,
    *,
    tools: Sequence[ToolDefinition] = (),
    response_format: ResponseFormat | None = None,
) -> ChatResult:
    parameters = model_config.get("completion_params")
    request = ChatRequest(
        messages,
        str(model_config.get("name") or model.name),
        dict(parameters) if isinstance(parameters, Mapping) else {},
        caller,
        tools=tuple(tools),
        tool_choice="auto" if tools else None,
        response_format=response_format,
    )
    return await collect(model.stream(request))
