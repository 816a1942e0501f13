"""Chat and completion apps (Dify's ``model_config``) as workflows.

A prompt-based app is a start node with the app's input form, one LLM call (an agent, for
agent apps) and an answer. Building that graph lets these apps run on the same engine as
workflows (streaming, recording, limits) instead of a second code path. Chat and agent apps
remember their conversation, as Dify's do. Dify writes form variables in prompts as
``{{name}}``; in the graph they become ``{{#start.name#}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

START, LLM, AGENT, ANSWER, KNOWLEDGE = "start", "llm", "agent", "answer", "knowledge"
# Conversation memory of chat apps: Dify keeps what fits its token budget; Plait a number of turns.
CHAT_MEMORY = {"window": {"enabled": False}}
AGENT_STRATEGIES = {"function_call": "function_calling", "react": "ReAct"}
_FORM_VARIABLE = re.compile(r"\{\{(?!#)\s*([a-zA-Z_][a-zA-Z0-9_]{0,29})\s*\}\}")
_SPECIAL = {"#query#": "{{#sys.query#}}", "#histories#": "", "#context#": "{{#context#}}"}


def _references(text: str) -> str:
    for special, replacement in _SPECIAL.items():
        text = text.replace("{{" + special + "}}", replacement)
    return _FORM_VARIABLE.sub(lambda match: "{{#start." + match.group(1) + "#}}", text)


def _start_variables(form: Any) -> list[dict[str, Any]]:
    variables = []
    for item in form or []:
        if not isinstance(item, Mapping) or len(item) != 1:
            continue
        kind, fields = next(iter(item.items()))
        if isinstance(fields, Mapping) and fields.get("variable"):
            variables.append({**fields, "type": kind})
    return variables


def _prompt(mode: str, config: Mapping[str, Any]) -> list[dict[str, Any]]:
    if config.get("prompt_type") == "advanced":
        if mode == "completion":
            text = ((config.get("completion_prompt_config") or {}).get("prompt") or {}).get("text", "")
            return [{"role": "user", "text": _references(str(text))}]
        messages = ((config.get("chat_prompt_config") or {}).get("prompt")) or []
        return [{"role": m.get("role", "user"), "text": _references(str(m.get("text", "")))} for m in messages]
    pre_prompt = _references(str(config.get("pre_prompt") or ""))
    if mode == "completion":
        return [{"role": "user", "text": pre_prompt or "{{#sys.query#}}"}]
    prompt = [{"role": "system", "text": pre_prompt}] if pre_prompt else []
    return [*prompt, {"role": "user", "text": "{{#sys.query#}}"}]


def _agent(config: Mapping[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    agent_mode = config.get("agent_mode") or {}
    tools = [
        {**tool, "type": tool.get("provider_type") or "builtin"}
        for tool in agent_mode.get("tools") or []
        if isinstance(tool, Mapping) and tool.get("enabled", True)
    ]
    strategy = AGENT_STRATEGIES.get(str(agent_mode.get("strategy") or "function_call"), "function_calling")
    selector = {**model, "model": model.get("name", ""), "model_type": "llm"}
    return {
        "type": "agent",
        "title": "Agent",
        "agent_strategy_provider_name": "langgenius/agent/agent",
        "agent_strategy_name": strategy,
        "agent_parameters": {
            "model": {"type": "constant", "value": selector},
            "tools": {"type": "constant", "value": tools},
            "instruction": {"type": "mixed", "value": _references(str(config.get("pre_prompt") or ""))},
            "query": {"type": "mixed", "value": "{{#sys.query#}}"},
            "maximum_iterations": {"type": "constant", "value": int(agent_mode.get("max_iteration") or 5)},
        },
        "memory": CHAT_MEMORY,
    }


# Where a prompt without ``{{#context#}}`` gets the retrieved passages: before the app's own
# instructions, with the rule that keeps answers to them.
CONTEXT_PREAMBLE = (
    "Answer using the knowledge between the <context> tags. If it does not hold the answer, say so "
    "rather than guessing, and answer in the language of the question.\n<context>\n{{#context#}}\n</context>\n\n"
)


def dataset_ids(config: Mapping[str, Any]) -> list[str]:
    """The enabled datasets of a ``dataset_configs`` block (Dify nests them twice)."""
    block = ((config.get("dataset_configs") or {}).get("datasets") or {}).get("datasets") or []
    ids = []
    for item in block:
        dataset = item.get("dataset") if isinstance(item, Mapping) else None
        if isinstance(dataset, Mapping) and dataset.get("id") and dataset.get("enabled", True):
            ids.append(str(dataset["id"]))
    return ids


def _knowledge(mode: str, config: Mapping[str, Any], ids: list[str], model: Mapping[str, Any]) -> dict[str, Any]:
    settings = config.get("dataset_configs") or {}
    reranking = settings.get("reranking_model") or {}
    multiple = {
        "top_k": settings.get("top_k") or 4,
        "score_threshold": settings.get("score_threshold") if settings.get("score_threshold_enabled") else None,
        "reranking_enable": bool(settings.get("reranking_enable")),
        "reranking_mode": settings.get("reranking_mode") or "reranking_model",
        "reranking_model": {
            "provider": reranking.get("reranking_provider_name", ""),
            "model": reranking.get("reranking_model_name", ""),
        },
        "weights": settings.get("weights"),
    }
    # Completion apps have no query: they search with the form variable Dify names.
    query = [START, str(config.get("dataset_query_variable") or "query")] if mode == "completion" else ["sys", "query"]
    return {
        "type": "knowledge-retrieval",
        "title": "Knowledge",
        "query_variable_selector": query,
        "dataset_ids": ids,
        "retrieval_mode": "single" if settings.get("retrieval_model") == "single" else "multiple",
        "multiple_retrieval_config": multiple,
        # Single mode: the app's own model picks the dataset, as in Dify.
        "single_retrieval_config": {"model": dict(model)},
        "metadata_model_config": settings.get("metadata_model_config") or dict(model),
        "metadata_filtering_mode": settings.get("metadata_filtering_mode") or "disabled",
        "metadata_filtering_conditions": settings.get("metadata_filtering_conditions"),
    }


def _with_context(prompt: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if any("{{#context#}}" in message["text"] for message in prompt):
        return prompt
    if prompt and prompt[0]["role"] == "system":
        return [{"role": "system", "text": CONTEXT_PREAMBLE + prompt[0]["text"]}, *prompt[1:]]
    if prompt and prompt[0]["role"] == "user" and len(prompt) == 1:  # completion apps: one user prompt
        return [{"role": "user", "text": CONTEXT_PREAMBLE + prompt[0]["text"]}]
    return [{"role": "system", "text": CONTEXT_PREAMBLE.rstrip()}, *prompt]


def workflow_from_model_config(mode: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The DSL ``workflow`` section equivalent to a chat, completion or agent app's
    configuration."""
    model = dict(config.get("model") or {})
    model.setdefault("mode", "chat")
    model["completion_params"] = dict(model.get("completion_params") or {})
    if mode == "agent-chat":
        worker, data = AGENT, _agent(config, model)
    else:
        worker = LLM
        data = {"type": "llm", "title": "LLM", "model": model, "prompt_template": _prompt(mode, config)}
        if mode == "chat":
            data["memory"] = CHAT_MEMORY
    knowledge = dataset_ids(config) if mode != "agent-chat" else []
    nodes = [
        {
            "id": START,
            "data": {"type": "start", "title": "Start", "variables": _start_variables(config.get("user_input_form"))},
        },
        {"id": worker, "data": data},
        {"id": ANSWER, "data": {"type": "answer", "title": "Answer", "answer": "{{#" + worker + ".text#}}"}},
    ]
    edges = [{"source": START, "target": worker}, {"source": worker, "target": ANSWER}]
    if knowledge:
        # Retrieval runs first; its passages become the LLM's context.
        nodes.insert(1, {"id": KNOWLEDGE, "data": _knowledge(mode, config, knowledge, model)})
        data["context"] = {"enabled": True, "variable_selector": [KNOWLEDGE, "result"]}
        data["prompt_template"] = _with_context(data["prompt_template"])
        edges = [{"source": START, "target": KNOWLEDGE}, {"source": KNOWLEDGE, "target": worker}, edges[1]]
    return {
        "graph": {"nodes": nodes, "edges": edges},
        "features": dict(config),
        "environment_variables": [],
        "conversation_variables": [],
    }
