"""Agents: a model that works through a task with tools, round after round.

Two strategies, as Dify offers them: **function calling** for models that call tools
natively (the model asks for calls; Plait runs them and sends back the results), and
**ReAct** for models that cannot (the model writes ``Thought`` / ``Action`` / ``Observation``
text; Plait parses the action, runs it and writes the observation back). Both stop when
the model answers without asking for a tool, or after ``max_iterations`` rounds, when the
model is asked for its answer with no tools offered.

The loop knows nothing of workflows: the agent node and agent-chat apps give it a model,
tools (each a definition and a coroutine), a place to stream text and a place to report
each round (``on_step``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from plait.errors import PlaitError
from plait.providers.base import ChatMessage, ChatModel, ChatRequest, ToolCall, ToolDefinition, Usage

Strategy = Literal["function_calling", "react"]
ToolFunction = Callable[[dict[str, Any]], Awaitable[str]]
MAX_OBSERVATION_CHARS = 20_000


@dataclass(frozen=True)
class AgentTool:
    definition: ToolDefinition
    call: ToolFunction


@dataclass
class AgentStep:
    """One round: what the model thought, which tools it called with what, what came back."""

    position: int
    thought: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    observations: dict[str, str] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    @property
    def tool(self) -> str:
        return ";".join(call.name for call in self.calls)

    @property
    def tool_input(self) -> str:
        return json.dumps({call.name: _arguments(call) for call in self.calls}, ensure_ascii=False)

    @property
    def observation(self) -> str:
        return json.dumps(self.observations, ensure_ascii=False) if self.observations else ""


@dataclass
class AgentResult:
    text: str
    steps: list[AgentStep]
    usage: Usage
    finish_reason: str


class AgentFailed(PlaitError):
    code = "agent_error"
    status = 400


class Agent:
    def __init__(
        self,
        model: ChatModel,
        *,
        model_name: str,
        parameters: Mapping[str, Any] | None = None,
        tools: Sequence[AgentTool] = (),
        strategy: Strategy = "function_calling",
        max_iterations: int = 5,
        caller: str | None = None,
        on_text: Callable[[str], None] | None = None,
        on_step: Callable[[AgentStep, bool], None] | None = None,
    ) -> None:
        self._model = model
        self._model_name = model_name
        self._parameters = dict(parameters or {})
        self._tools = {tool.definition.name: tool for tool in tools}
        self.strategy: Strategy = strategy
        self._max_iterations = max(1, max_iterations)
        self._caller = caller
        self._on_text = on_text or (lambda _text: None)
        self._on_step = on_step or (lambda _step, _done: None)

    async def run(self, messages: Sequence[ChatMessage]) -> AgentResult:
        if self.strategy == "react":
            return await self._react(list(messages))
        return await self._function_calling(list(messages))

    # -- function calling --------------------------------------------------------------
    async def _function_calling(self, messages: list[ChatMessage]) -> AgentResult:
        steps: list[AgentStep] = []
        usage = Usage()
        definitions = [tool.definition for tool in self._tools.values()]
        for position in range(1, self._max_iterations + 2):
            last_round = position > self._max_iterations
            step = AgentStep(position)
            text, calls, step.usage, finish = await self._call(messages, () if last_round else definitions, step)
            usage = usage + step.usage
            step.thought = text
            if not calls:
                steps.append(step)
                self._on_step(step, True)
                return AgentResult(text, steps, usage, finish)
            step.calls = list(calls)
            self._on_step(step, False)
            messages.append(ChatMessage("assistant", text, tool_calls=tuple(calls)))
            results = await asyncio.gather(*(self._invoke(call) for call in calls))
            for call, result in zip(calls, results, strict=True):
                step.observations[call.name] = result
                messages.append(ChatMessage("tool", result, tool_call_id=call.id, name=call.name))
            steps.append(step)
            self._on_step(step, True)
        raise AgentFailed("the agent did not answer")  # unreachable: the last round offers no tools

    async def _call(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolDefinition], step: AgentStep
    ) -> tuple[str, tuple[ToolCall, ...], Usage, str]:
        request = ChatRequest(list(messages), self._model_name, self._parameters, self._caller, tools=tuple(tools))
        text: list[str] = []
        calls: list[ToolCall] = []
        usage, finish = Usage(), "stop"
        async for chunk in self._model.stream(request):
            if chunk.text:
                text.append(chunk.text)
                self._on_text(chunk.text)
            calls.extend(chunk.tool_calls)
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.finish_reason:
                finish = chunk.finish_reason
        return "".join(text), tuple(calls), usage, finish

    async def _invoke(self, call: ToolCall) -> str:
        """A tool's result as the model will read it; failures are results too (the model
        may try another way), never exceptions that end the run."""
        tool = self._tools.get(call.name)
        if tool is None:
            return f"there is no tool named {call.name!r}; the tools are: {', '.join(self._tools) or 'none'}"
        try:
            arguments = call.parsed()
        except ValueError as error:
            return f"the arguments for {call.name} are not a JSON object: {error}"
        try:
            result = await tool.call(arguments)
        except PlaitError as error:
            return f"tool {call.name} failed: {error.message}"
        return result[:MAX_OBSERVATION_CHARS]

    # -- ReAct -------------------------------------------------------------------------
    async def _react(self, messages: list[ChatMessage]) -> AgentResult:
        steps: list[AgentStep] = []
        usage = Usage()
        system = react_instructions(list(self._tools.values()))
        if messages and messages[0].role == "system":
            messages[0] = ChatMessage("system", f"{messages[0].text}\n\n{system}")
        else:
            messages.insert(0, ChatMessage("system", system))
        scratchpad = ""
        for position in range(1, self._max_iterations + 2):
            last_round = position > self._max_iterations
            step = AgentStep(position)
            prompt = [*messages]
            if scratchpad:
                prompt.append(ChatMessage("assistant", scratchpad))
            if last_round:
                prompt.append(ChatMessage("user", "Give your Final Answer now, without using any more tools."))
            reply, step.usage = await self._react_call(prompt)
            usage = usage + step.usage
            thought, action, final = parse_react(reply)
            step.thought = thought
            if final is not None or action is None or last_round:
                answer = final if final is not None else (thought or reply).strip()
                steps.append(step)
                self._on_step(step, True)
                return AgentResult(answer, steps, usage, "stop")
            name, arguments = action
            call = ToolCall(f"react_{position}", name, json.dumps(arguments, ensure_ascii=False))
            step.calls = [call]
            self._on_step(step, False)
            observation = await self._invoke(call)
            step.observations[name] = observation
            steps.append(step)
            self._on_step(step, True)
            scratchpad += f"{reply.rstrip()}\nObservation: {observation}\n"
        raise AgentFailed("the agent did not answer")

    async def _react_call(self, messages: Sequence[ChatMessage]) -> tuple[str, Usage]:
        parameters = {**self._parameters, "stop": ["Observation:", *(self._parameters.get("stop") or [])]}
        request = ChatRequest(list(messages), self._model_name, parameters, self._caller)
        text: list[str] = []
        usage = Usage()
        streamer = _FinalAnswerStreamer(self._on_text)
        async for chunk in self._model.stream(request):
            text.append(chunk.text)
            streamer.feed(chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
        return "".join(text), usage


REACT_INSTRUCTIONS = """Answer the user's request as well as you can. You have access to these tools:

{tools}

Use this format:

Thought: what you think about the next step
Action:
```
{{"action": "<one of: {names}>", "action_input": {{<the tool's arguments as JSON>}}}}
```
Observation: the tool's result (written for you; never write it yourself)
... (Thought, Action and Observation may repeat)
Thought: I know the answer
Final Answer: the answer to the user

If no tool is needed, write the Final Answer at once."""


def react_instructions(tools: Sequence[AgentTool]) -> str:
    described = "\n".join(
        f"- {tool.definition.name}: {tool.definition.description} "
        f"Arguments (JSON Schema): {json.dumps(tool.definition.parameters, ensure_ascii=False)}"
        for tool in tools
    )
    names = ", ".join(tool.definition.name for tool in tools)
    return REACT_INSTRUCTIONS.format(tools=described or "(none)", names=names or "none")


_FINAL = re.compile(r"Final Answer\s*:\s*", re.IGNORECASE)
_ACTION_BLOB = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)
_ACTION_LINES = re.compile(r"Action\s*:\s*(?P<name>[^\n`{]+?)\s*\n+\s*Action Input\s*:\s*(?P<input>.*)", re.DOTALL)


def parse_react(text: str) -> tuple[str, tuple[str, dict[str, Any]] | None, str | None]:
    """(thought, (tool, arguments) or None, final answer or None) from a ReAct reply.
    Both action styles models write are read: a JSON blob and ``Action:``/``Action Input:``
    lines."""
    final = _FINAL.search(text)
    thought_end = len(text)
    action: tuple[str, dict[str, Any]] | None = None
    blob = _ACTION_BLOB.search(text)
    if blob is not None:
        try:
            parsed = json.loads(blob.group(1))
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("action"), str):
            arguments = parsed.get("action_input")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments)
                except json.JSONDecodeError:
                    arguments = {"input": arguments}
            action = (parsed["action"].strip(), arguments if isinstance(arguments, dict) else {})
            thought_end = blob.start()
    if action is None:
        lines = _ACTION_LINES.search(text)
        if lines is not None:
            raw = lines.group("input").strip()
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError:
                arguments = {"input": raw}
            action = (lines.group("name").strip(), arguments if isinstance(arguments, dict) else {"input": arguments})
            thought_end = lines.start()
    if final is not None and (action is None or final.start() < thought_end):
        thought = text[: final.start()]
        return _thought(thought), None, text[final.end() :].strip()
    if action is not None and action[0].lower() in ("final answer", "final_answer"):
        answer = action[1].get("input") if "input" in action[1] else json.dumps(action[1], ensure_ascii=False)
        return _thought(text[:thought_end]), None, str(answer)
    return _thought(text[:thought_end]), action, None


def _thought(text: str) -> str:
    text = re.sub(r"^\s*Thought\s*:\s*", "", text.strip(), flags=re.IGNORECASE)
    return re.sub(r"\s*Action\s*:\s*$", "", text).strip()


def _arguments(call: ToolCall) -> Any:
    try:
        return call.parsed()
    except ValueError:
        return call.arguments


class _FinalAnswerStreamer:
    """Streams a ReAct reply's final answer as it is written (the rest of the reply is the
    agent's scratchpad and is reported as steps instead)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._text = ""
        self._sent = 0
        self._start: int | None = None

    def feed(self, text: str) -> None:
        self._text += text
        if self._start is None:
            match = _FINAL.search(self._text)
            if match is None:
                return
            self._start = self._sent = match.end()
        if self._sent == self._start:  # the answer has not begun: skip the space after the colon
            while self._sent < len(self._text) and self._text[self._sent].isspace():
                self._sent += 1
                self._start += 1
        if len(self._text) > self._sent:
            self._emit(self._text[self._sent :])
            self._sent = len(self._text)
