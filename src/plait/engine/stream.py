"""The response coordinator: streams Answer (and, in workflows, End) templates as early as
their text is certain, in Dify's order.

Response nodes stream one at a time, in topological order. A response node's session opens
once the node is certain to run (no undecided branch lies on the way to it). Its template is
then walked with a cursor: literal text goes out at once (attributed to the response node); a
reference goes out as soon as its value is final (attributed to the node that produced it),
and an output that its producer streams (an LLM's ``text``) is forwarded chunk by chunk while
the producer runs. Chunks for references further along are buffered until the cursor
arrives. The coordinator is driven by the runtime: after every node completes (before its
"succeeded" event) and on every streamed chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from plait.engine.templates import Reference, Segment
from plait.engine.variables import CONVERSATION, ENVIRONMENT, SYSTEM, VariablePool, to_text
from plait.events import TextChunk

StreamKey = tuple[str, str]


class GraphState(Protocol):
    def is_certain(self, node_id: str) -> bool: ...

    def is_skipped(self, node_id: str) -> bool: ...

    def is_resolved(self, node_id: str) -> bool:
        """The node will produce no more output: it finished, failed over, or was skipped."""
        ...

    def pending_writers(self, selector: tuple[str, ...]) -> bool:
        """Whether a node that may still run writes this variable (conversation and loop
        variables are written by assigners)."""
        ...


class ResponseCoordinator:
    def __init__(
        self,
        order: list[str],
        templates: Mapping[str, tuple[Segment, ...]],
        markdown: Mapping[str, bool],
        pool: VariablePool,
        state: GraphState,
        emit: Callable[[TextChunk], None],
        barriers: set[str] | None = None,
    ) -> None:
        self._order = order
        self._templates = templates
        self._markdown = markdown
        self._pool = pool
        self._state = state
        self._emit = emit
        # Containers with response nodes inside: nothing after them streams before they end.
        self._barriers = barriers or set()
        self._active = 0
        self._cursor = dict.fromkeys(order, 0)
        self._streamed: set[StreamKey] = set()
        self._finished: set[StreamKey] = set()
        self._buffers: dict[StreamKey, list[tuple[str, bool]]] = {}

    @property
    def idle(self) -> bool:
        return self._active >= len(self._order)

    def chunk(self, node_id: str, output: str, text: str, *, final: bool) -> None:
        key = (node_id, output)
        self._streamed.add(key)
        self._buffers.setdefault(key, []).append((text, final))
        if final:
            self._finished.add(key)
        self.flush()

    def node_resolved(self, node_id: str) -> None:
        """A node finished: whatever it streamed is complete."""
        for key in [key for key in self._streamed if key[0] == node_id]:
            self._finished.add(key)

    def flush(self) -> None:
        while self._active < len(self._order):
            response_id = self._order[self._active]
            if self._state.is_skipped(response_id):
                self._active += 1
                continue
            if response_id in self._barriers:
                if not self._state.is_resolved(response_id):
                    return
                self._active += 1
                continue
            if not self._state.is_certain(response_id):
                return
            segments = self._templates[response_id]
            index = self._cursor[response_id]
            last_session = self._active == len(self._order) - 1
            while index < len(segments):
                final = last_session and index == len(segments) - 1
                if not self._emit_segment(response_id, segments[index], final):
                    break
                index += 1
            self._cursor[response_id] = index
            if index < len(segments):
                return
            self._active += 1

    def _emit_segment(self, response_id: str, segment: Segment, final: bool) -> bool:
        """Emit what can be emitted of ``segment``; True when the segment is done."""
        if isinstance(segment, str):
            self._emit(TextChunk(segment, response_id, response_id, None, final))
            return True
        selector = segment.selector
        key = (selector[0], selector[1])
        if key in self._streamed:
            buffered = self._buffers.pop(key, [])
            done = key in self._finished
            for position, (text, _) in enumerate(buffered):
                is_last = done and position == len(buffered) - 1
                self._emit(TextChunk(text, selector[0], response_id, selector, final and is_last))
            return done
        if not self._value_ready(selector):
            return False
        text = to_text(self._pool.get(selector), markdown=self._markdown[response_id])
        if text:
            self._emit(TextChunk(text, selector[0], response_id, selector, final))
        return True

    def _value_ready(self, selector: tuple[str, ...]) -> bool:
        if self._state.pending_writers(selector):  # an assigner may still change it
            return False
        owner = selector[0]
        return owner in (SYSTEM, ENVIRONMENT, CONVERSATION) or self._state.is_resolved(owner)


def end_template(outputs: list[tuple[str, ...]]) -> tuple[Segment, ...]:
    """A workflow's End node streams its outputs in order, one per line."""
    segments: list[Segment] = []
    for position, selector in enumerate(outputs):
        if position:
            segments.append("\n")
        segments.append(Reference(selector))
    return tuple(segments)
