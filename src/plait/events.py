"""Run events: what the engine yields while it runs a workflow.

A discriminated union (``kind``) of small immutable records. The engine only yields them;
persistence, SSE, usage accounting and tracing are consumers in the ``app`` layer. Each kind
maps one-to-one onto a Dify SSE event: ``workflow_started``, ``node_started``,
``node_finished``, ``node_retry``, ``iteration_*``, ``loop_*``, ``text_chunk`` (``message`` in
chat apps), ``agent_log`` (``agent_thought`` in agent apps), ``workflow_finished``;
``variable_updated`` is internal (assigner writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RunStatus = Literal["running", "succeeded", "failed", "stopped", "partial-succeeded"]
NodeStatus = Literal["succeeded", "failed", "exception", "stopped"]


@dataclass(frozen=True, slots=True)
class WorkflowStarted:
    run_id: str
    inputs: dict[str, Any]
    kind: Literal["workflow_started"] = "workflow_started"


@dataclass(frozen=True, slots=True)
class NodeStarted:
    execution_id: str
    node_id: str
    node_type: str
    title: str
    index: int
    predecessor_node_id: str | None = None
    iteration_id: str | None = None
    loop_id: str | None = None
    kind: Literal["node_started"] = "node_started"


@dataclass(frozen=True, slots=True)
class NodeFinished:
    execution_id: str
    node_id: str
    node_type: str
    title: str
    index: int
    status: NodeStatus
    inputs: dict[str, Any] | None = None
    process_data: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    elapsed_time: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    predecessor_node_id: str | None = None
    iteration_id: str | None = None
    loop_id: str | None = None
    kind: Literal["node_finished"] = "node_finished"


@dataclass(frozen=True, slots=True)
class NodeRetry:
    node_id: str
    node_type: str
    retry_index: int
    error: str
    kind: Literal["node_retry"] = "node_retry"


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A piece of an Answer or End node's output, streamed as soon as it is certain.

    ``node_id`` is the node the text comes from (the LLM streaming it, the node whose output
    it is, or the Answer/End node itself for literal text); ``response_node_id`` is the
    Answer/End node whose template is being streamed."""

    text: str
    node_id: str
    response_node_id: str
    selector: tuple[str, ...] | None = None
    is_final: bool = False
    kind: Literal["text_chunk"] = "text_chunk"


@dataclass(frozen=True, slots=True)
class VariableUpdated:
    node_id: str
    selector: tuple[str, ...]
    value: Any
    kind: Literal["variable_updated"] = "variable_updated"


@dataclass(frozen=True, slots=True)
class IterationStarted:
    node_id: str
    title: str
    inputs: dict[str, Any]
    kind: Literal["iteration_started"] = "iteration_started"


@dataclass(frozen=True, slots=True)
class IterationNext:
    node_id: str
    index: int
    kind: Literal["iteration_next"] = "iteration_next"


@dataclass(frozen=True, slots=True)
class IterationCompleted:
    node_id: str
    outputs: dict[str, Any] | None
    status: NodeStatus
    error: str | None = None
    steps: int = 0
    kind: Literal["iteration_completed"] = "iteration_completed"


@dataclass(frozen=True, slots=True)
class LoopStarted:
    node_id: str
    title: str
    inputs: dict[str, Any]
    kind: Literal["loop_started"] = "loop_started"


@dataclass(frozen=True, slots=True)
class LoopNext:
    node_id: str
    index: int
    kind: Literal["loop_next"] = "loop_next"


@dataclass(frozen=True, slots=True)
class LoopCompleted:
    node_id: str
    outputs: dict[str, Any] | None
    status: NodeStatus
    error: str | None = None
    steps: int = 0
    kind: Literal["loop_completed"] = "loop_completed"


@dataclass(frozen=True, slots=True)
class AgentLog:
    """A round of an agent node: the model's thought, the tools it called and what they
    returned. Dify's ``agent_log`` in workflows and ``agent_thought`` in agent apps; a round
    is reported when its tools are called (``status`` "start") and when it is done."""

    node_id: str
    id: str
    position: int
    thought: str
    tool: str
    tool_input: str
    observation: str
    status: Literal["start", "success", "error"] = "success"
    kind: Literal["agent_log"] = "agent_log"


@dataclass(frozen=True, slots=True)
class RunFailure:
    node_id: str | None
    message: str
    code: str | None = None
    status: int | None = None


@dataclass(frozen=True, slots=True)
class WorkflowFinished:
    run_id: str
    status: RunStatus
    outputs: dict[str, Any]
    error: str | None = None
    total_steps: int = 0
    exceptions_count: int = 0
    elapsed_time: float = 0.0
    total_tokens: int = 0
    # When a node's failure ended the run: that node's own message and, when it says so,
    # the API error it stands for (a model provider not configured...), for chat apps.
    failure: RunFailure | None = None
    kind: Literal["workflow_finished"] = "workflow_finished"


RunEvent = (
    WorkflowStarted
    | NodeStarted
    | NodeFinished
    | NodeRetry
    | TextChunk
    | VariableUpdated
    | IterationStarted
    | IterationNext
    | IterationCompleted
    | LoopStarted
    | LoopNext
    | LoopCompleted
    | AgentLog
    | WorkflowFinished
)
