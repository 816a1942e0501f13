"""One pass over one graph level: the top level of a run, or one round of an iteration or
loop container.

Semantics (Dify's): a node runs when every incoming edge is resolved and at least one was
taken; edges out of handles a node did not select are skipped, and a node whose incoming
edges are all skipped is skipped in turn. Nodes that are ready together run concurrently.
Retry, ``fail-branch`` and ``default-value`` error strategies and the step limit are applied
here; iteration and loop nodes run their child graphs through ``NodeContext.run_subgraph``.

Cost matters: when one node is ready and nothing else runs, it is awaited directly (no task);
tasks are created only for real concurrency, and events go out through the run's queue.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plait.engine.compile import CompiledGraph
from plait.engine.nodes.base import FAIL_BRANCH, SOURCE, Node, NodeFailed, NodeResult
from plait.engine.run_state import RunFailed, RunState
from plait.engine.runtime_markers import LOOP_END
from plait.engine.stream import ResponseCoordinator, end_template
from plait.engine.templates import Segment
from plait.engine.variables import Selector, VariablePool
from plait.events import NodeFinished, NodeRetry, NodeStarted, RunEvent, TextChunk, VariableUpdated
from plait.ids import new_id

PENDING, RUNNING, DONE, SKIPPED = 0, 1, 2, 3
UNRESOLVED, TAKEN, SKIPPED_EDGE = 0, 1, 2


@dataclass(slots=True)
class _Outcome:
    node_id: str
    execution_id: str
    result: NodeResult | None
    failure: BaseException | None
    elapsed: float


class _Context:
    """What a node sees while it runs (``NodeContext``)."""

    __slots__ = ("_execution", "node_id", "pool")

    def __init__(self, execution: Execution, node_id: str) -> None:
        self._execution = execution
        self.node_id = node_id
        self.pool = execution.pool

    @property
    def services(self) -> Any:
        return self._execution.run.services

    def stream(self, output: str, text: str, *, final: bool = False) -> None:
        self._execution.coordinator.chunk(self.node_id, output, text, final=final)

    def updated(self, selector: Selector, value: Any) -> None:
        self._execution.run.emit(VariableUpdated(self.node_id, selector, value))

    def emit(self, event: RunEvent) -> None:
        self._execution.run.emit(event)

    async def run_subgraph(self, container_id: str, pool: VariablePool) -> dict[str, Any]:
        parent = self._execution.graph
        scope = {"iteration_id" if parent.nodes[container_id].spec.type == "iteration" else "loop_id": container_id}
        execution = Execution(self._execution.run, parent.children[container_id], pool, scope=scope)
        await execution.execute()
        return execution.outputs


class Execution:
    """One pass over one graph level (the top level, or one round of a container)."""

    def __init__(
        self, run: RunState, graph: CompiledGraph, pool: VariablePool, *, scope: Mapping[str, str] | None = None
    ) -> None:
        self.run = run
        self.graph = graph
        self.pool = pool
        scope = scope or {}
        self.iteration_id = scope.get("iteration_id")
        self.loop_id = scope.get("loop_id")
        self.status: dict[str, int] = dict.fromkeys(graph.nodes, PENDING)
        self.edges: dict[str, int] = {}
        self.remaining = {node_id: len(edges) for node_id, edges in graph.in_edges.items()}
        self.taken_in: set[str] = set()
        self.certain: set[str] = set()
        self.outputs: dict[str, Any] = {}
        self.predecessor: dict[str, str] = {}
        self.writers = self._variable_writers()
        templates: dict[str, tuple[Segment, ...]] = {}
        markdown: dict[str, bool] = {}
        streaming_order = []
        barriers = set()
        for node_id in graph.response_order:
            node = graph.nodes[node_id]
            if node.is_container:
                barriers.add(node_id)
                templates[node_id], markdown[node_id] = (), False
            elif node.spec.type == "answer":
                templates[node_id] = node.segments  # type: ignore[attr-defined]
                markdown[node_id] = True
            elif run.mode == "workflow":
                templates[node_id] = end_template([selector for _, selector in node.output_selectors])  # type: ignore[attr-defined]
                markdown[node_id] = False
            else:
                continue
            streaming_order.append(node_id)
        self.coordinator = ResponseCoordinator(streaming_order, templates, markdown, pool, self, self._chunk, barriers)

    # -- GraphState, for the coordinator ------------------------------------------------
    def is_skipped(self, node_id: str) -> bool:
        return self.status.get(node_id) == SKIPPED

    def is_resolved(self, node_id: str) -> bool:
        status = self.status.get(node_id)
        return status is None or status in (DONE, SKIPPED)  # None: a node outside this level

    def is_certain(self, node_id: str) -> bool:
        """Whether ``node_id`` will run: it started, an incoming edge was taken, or a node
        that will run leads to it through nodes that do not branch. Once true it stays true
        (taken edges and started nodes are final), so positive answers are kept."""
        if node_id in self.certain:
            return True
        stack, seen = [node_id], {node_id}
        while stack:
            current = stack.pop()
            if current in self.certain or self.status[current] in (RUNNING, DONE) or current in self.taken_in:
                self.certain.add(node_id)
                return True
            if self.status[current] == SKIPPED:
                continue
            for edge in self.graph.in_edges[current]:
                source = edge.source
                if source in seen or self.edges.get(edge.id) == SKIPPED_EDGE:
                    continue
                source_node = self.graph.nodes[source]
                if source_node.is_branch or source_node.config.error_strategy == "fail-branch":
                    continue
                seen.add(source)
                stack.append(source)
        return False

    def pending_writers(self, selector: tuple[str, ...]) -> bool:
        writers = self.writers.get((selector[0], selector[1]), ())
        return any(self.status[node_id] in (PENDING, RUNNING) for node_id in writers)

    def _variable_writers(self) -> dict[tuple[str, str], list[str]]:
        """Nodes of this graph that write variables (assigners: conversation and loop ones);
        a container counts as writing whatever the nodes inside it write."""
        writers: dict[tuple[str, str], list[str]] = {}
        for node_id in self.graph.nodes:
            for selector in _writes(self.graph, node_id):
                writers.setdefault((selector[0], selector[1]), []).append(node_id)
        return writers

    def _chunk(self, chunk: TextChunk) -> None:
        if self.run.mode != "workflow":
            self.run.answer_parts.append(chunk.text)
        self.run.emit(chunk)

    # -- scheduling ------------------------------------------------------------------------
    async def execute(self) -> None:
        ready = [self.graph.root]
        running: set[asyncio.Task[_Outcome]] = set()
        try:
            while ready or running:
                if len(ready) == 1 and not running:
                    ready.extend(self._complete(await self._run_node(ready.pop())))
                    continue
                running.update(asyncio.ensure_future(self._run_node(node_id)) for node_id in ready)
                ready.clear()
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    running.discard(task)
                    ready.extend(self._complete(task.result()))
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        self.coordinator.flush()

    async def _run_node(self, node_id: str) -> _Outcome:
        run = self.run
        run.steps += 1
        if run.steps > run.limits.max_steps:
            raise RunFailed(f"the run exceeded {run.limits.max_steps} node executions", "StepLimitExceeded")
        node = self.graph.nodes[node_id]
        self.status[node_id] = RUNNING
        retry = node.config.retry_config or {}
        attempts = int(retry.get("max_retries", 0)) if retry.get("retry_enabled") else 0
        interval = float(retry.get("retry_interval", 0)) / 1000
        context = _Context(self, node_id)
        execution_id = new_id()
        started = time.perf_counter()
        if not node.silent:
            self._emit_started(node, execution_id)
        self.coordinator.flush()
        failure: BaseException | None = None
        result: NodeResult | None = None
        for attempt in range(attempts + 1):
            try:
                result = await node.run(context)
                _check_size(result.outputs, run.limits.max_variable_bytes)
                failure = None
                break
            except (asyncio.CancelledError, RunFailed):
                raise
            except Exception as error:  # a node's failure is data for the error strategy
                failure = error
                if attempt < attempts:
                    run.emit(NodeRetry(node_id, node.spec.type, attempt + 1, _message(error)))
                    if interval:
                        await asyncio.sleep(interval)
        return _Outcome(node_id, execution_id, result, failure, time.perf_counter() - started)

    def _emit_started(self, node: Node, execution_id: str) -> None:
        self.run.emit(
            NodeStarted(
                execution_id,
                node.id,
                node.spec.type,
                node.title,
                self.run.steps,
                self.predecessor.get(node.id),
                self.iteration_id,
                self.loop_id,
            )
        )

    def _complete(self, outcome: _Outcome) -> list[str]:
        node_id, result, failure = outcome.node_id, outcome.result, outcome.failure
        node = self.graph.nodes[node_id]
        execution_id, elapsed = outcome.execution_id, outcome.elapsed
        status = "succeeded"
        error = error_type = None
        if failure is not None:
            error, error_type = _message(failure), getattr(failure, "error_type", type(failure).__name__)
            strategy = node.config.error_strategy
            if strategy == "default-value":
                defaults = {str(item.get("key")): item.get("value") for item in node.config.default_value or []}
                result = NodeResult({**defaults, "error_message": error, "error_type": error_type})
            elif strategy == "fail-branch":
                result = NodeResult({"error_message": error, "error_type": error_type}, handles=(FAIL_BRANCH,))
            else:
                self.status[node_id] = DONE
                self.run.emit(self._finished(node, execution_id, "failed", None, elapsed, error, error_type))
                raise RunFailed(
                    f"node {node.title!r} failed: {error}", error_type or "NodeError", cause=failure, node_id=node_id
                )
            status = "exception"
            self.run.exceptions += 1
        assert result is not None
        self.run.total_tokens += int(result.metadata.get("total_tokens", 0) or 0)
        self.pool.set_outputs(node_id, result.outputs)
        self.status[node_id] = DONE
        if node.spec.type == "end":
            self.outputs.update(result.outputs)
        elif node.spec.type == "loop-end":
            self.outputs[LOOP_END] = True
        ready = self._resolve_edges(node_id, result.handles or (SOURCE,))
        self.coordinator.node_resolved(node_id)
        self.coordinator.flush()
        if not node.silent:
            self.run.emit(self._finished(node, execution_id, status, result, elapsed, error, error_type))
        return ready

    def _finished(
        self,
        node: Node,
        execution_id: str,
        status: Any,
        result: NodeResult | None,
        elapsed: float,
        error: str | None,
        error_type: str | None,
    ) -> NodeFinished:
        return NodeFinished(
            execution_id,
            node.id,
            node.spec.type,
            node.title,
            self.run.steps,
            status,
            self.run.masked(result.inputs) if result else None,
            self.run.masked(result.process_data) if result else None,
            result.outputs if result else None,
            error,
            error_type,
            elapsed,
            result.metadata if result else {},
            self.predecessor.get(node.id),
            self.iteration_id,
            self.loop_id,
        )

    def _resolve_edges(self, node_id: str, handles: tuple[str, ...]) -> list[str]:
        ready: list[str] = []
        stack = [(node_id, handles)]
        while stack:
            source, selected = stack.pop()
            for edge in self.graph.out_edges[source]:
                taken = selected is not None and edge.handle in selected
                self.edges[edge.id] = TAKEN if taken else SKIPPED_EDGE
                target = edge.target
                if taken:
                    self.taken_in.add(target)
                    self.predecessor.setdefault(target, source)
                self.remaining[target] -= 1
                if self.remaining[target] == 0:
                    if target in self.taken_in:
                        ready.append(target)
                    else:
                        self.status[target] = SKIPPED
                        stack.append((target, ()))  # nothing selected: skip everything after it
        return ready


def _check_size(outputs: Mapping[str, Any], limit: int) -> None:
    """Refuse outputs over the variable size limit (a node failure, so error strategies
    apply). Short strings and numbers, the common case, cost a length check."""
    for name, value in outputs.items():
        if value is None or isinstance(value, bool | int | float):
            continue
        if isinstance(value, str):
            if len(value) * 4 <= limit or len(value.encode()) <= limit:
                continue
        elif len(json.dumps(value, ensure_ascii=False, default=str).encode()) <= limit:
            continue
        raise NodeFailed(f"output {name!r} is larger than the {limit} byte limit for a variable", "VariableTooLarge")


def _writes(graph: CompiledGraph, node_id: str) -> list[Selector]:
    found: list[Selector] = list(getattr(graph.nodes[node_id], "writes", list)())
    child = graph.children.get(node_id)
    if child is not None:
        for inner in child.nodes:
            found.extend(_writes(child, inner))
    return found


def _message(error: BaseException) -> str:
    return str(getattr(error, "message", None) or error) or type(error).__name__
