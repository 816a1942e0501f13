"""Iteration: run the child graph once per item of an array, sequentially or in parallel,
and collect one output per item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from plait.engine.nodes.base import Node, NodeConfig, NodeContext, NodeFailed, NodeResult
from plait.engine.variables import MISSING, Selector, as_selector
from plait.events import IterationCompleted, IterationNext, IterationStarted

MAX_PARALLEL = 10


class IterationConfig(NodeConfig):
    iterator_selector: list[str] = []
    output_selector: list[str] = []
    start_node_id: str | None = None
    is_parallel: bool = False
    parallel_nums: int = 10
    error_handle_mode: str = "terminated"
    flatten_output: bool = True


class _Dropped:
    pass


DROPPED = _Dropped()


class IterationNode(Node):
    node_type = "iteration"
    Config = IterationConfig
    config: IterationConfig
    is_container = True

    def references(self) -> Sequence[Selector]:
        return [as_selector(self.config.iterator_selector)] if self.config.iterator_selector else []

    async def run(self, ctx: NodeContext) -> NodeResult:
        items = ctx.pool.get(self.config.iterator_selector)
        if items is MISSING or items is None:
            items = []
        if not isinstance(items, list):
            raise NodeFailed(f"iteration input must be an array, got {type(items).__name__}", "IteratorError")
        ctx.emit(IterationStarted(self.id, self.title, {"iterator_selector": items}))
        mode = self.config.error_handle_mode

        async def one(index: int, item: Any) -> Any:
            pool = ctx.pool.child()
            pool.set_outputs(self.id, {"item": item, "index": index})
            try:
                await ctx.run_subgraph(self.id, pool)
            except Exception as error:
                if mode == "continue-on-error":
                    return None
                if mode == "remove-abnormal-output":
                    return DROPPED
                raise NodeFailed(f"iteration round {index} failed: {error}", "IterationError") from error
            value = pool.get(self.config.output_selector) if self.config.output_selector else None
            return None if value is MISSING else value

        if self.config.is_parallel and len(items) > 1:
            limit = asyncio.Semaphore(max(1, min(self.config.parallel_nums, MAX_PARALLEL)))

            async def bounded(index: int, item: Any) -> Any:
                async with limit:
                    ctx.emit(IterationNext(self.id, index))
                    return await one(index, item)

            results = list(await asyncio.gather(*(bounded(i, item) for i, item in enumerate(items))))
        else:
            results = []
            for index, item in enumerate(items):
                ctx.emit(IterationNext(self.id, index))
                results.append(await one(index, item))
        kept = [value for value in results if value is not DROPPED]
        if self.config.flatten_output and kept and all(isinstance(value, list) for value in kept):
            kept = [element for value in kept for element in value]
        outputs = {"output": kept}
        ctx.emit(IterationCompleted(self.id, outputs, "succeeded", steps=len(items)))
        return NodeResult(outputs, inputs={"iterator_selector": items}, metadata={"iteration_length": len(items)})
