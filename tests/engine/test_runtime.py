"""Runtime behaviour beyond the Dify cases: retries, error strategies, stop, limits,
iteration modes, parallel branches, the Jinja sandbox, input validation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from plait.engine.nodes.start import StartVariable, validate_inputs
from plait.engine.runtime import RunLimits, WorkflowRun
from plait.engine.services import FixedModels, Services
from plait.engine.templates import TemplateRenderError, render_jinja
from plait.engine.workflow import compile_workflow
from plait.errors import InvalidInput
from plait.events import NodeFinished, NodeRetry, NodeStarted, WorkflowFinished
from plait.providers.base import ChatChunk, ChatRequest
from plait.providers.errors import ModelError
from plait.providers.fake import ScriptedChatModel

from .graphs import end, finished, graph, llm, run, start, template


class FlakyModel:
    """Fails ``failures`` times, then answers."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ModelError(f"attempt {self.calls} failed")
        yield ChatChunk("ok", final=True)


async def test_retries_until_the_node_succeeds() -> None:
    model = FlakyModel(failures=2)
    retry = {"retry_enabled": True, "max_retries": 3, "retry_interval": 10}
    events = await run(
        graph([start(), llm(retry_config=retry), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]),
        services=Services(models=FixedModels(model)),
    )
    assert finished(events).status == "succeeded"
    assert finished(events).outputs == {"text": "ok"}
    assert [event.retry_index for event in events if isinstance(event, NodeRetry)] == [1, 2]


async def test_retries_run_out_and_the_run_fails() -> None:
    model = FlakyModel(failures=5)
    retry = {"retry_enabled": True, "max_retries": 1, "retry_interval": 0}
    events = await run(
        graph([start(), llm(retry_config=retry), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]),
        services=Services(models=FixedModels(model)),
    )
    assert finished(events).status == "failed"
    assert "attempt 2 failed" in (finished(events).error or "")
    assert model.calls == 2


async def test_fail_branch_takes_only_the_failure_path() -> None:
    model = ScriptedChatModel({"llm": {"error": "model down"}})
    definition = graph(
        [
            start(),
            llm(error_strategy="fail-branch"),
            template("ok", "fine"),
            template("recover", "recovered: {{ e }}", e=["llm", "error_message"]),
            {
                "id": "end",
                "type": "end",
                "outputs": [
                    {"variable": "ok", "value_selector": ["ok", "output"]},
                    {"variable": "recovered", "value_selector": ["recover", "output"]},
                ],
            },
        ],
        [
            ("start", "llm"),
            ("llm", "ok", "source"),
            ("llm", "recover", "fail-branch"),
            ("ok", "end"),
            ("recover", "end"),
        ],
    )
    events = await run(definition, services=Services(models=FixedModels(model)))
    assert finished(events).status == "partial-succeeded"
    assert finished(events).exceptions_count == 1
    assert finished(events).outputs == {"ok": None, "recovered": "recovered: model down"}
    assert "ok" not in [event.node_id for event in events if isinstance(event, NodeStarted)]


async def test_parallel_branches_run_concurrently() -> None:
    class SlowModel:
        name = "slow"

        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            await asyncio.sleep(0.3)
            yield ChatChunk(request.caller or "", final=True)

    definition = graph(
        [start(), llm("a"), llm("b"), llm("c"), end(a=["a", "text"], b=["b", "text"], c=["c", "text"])],
        [("start", "a"), ("start", "b"), ("start", "c"), ("a", "end"), ("b", "end"), ("c", "end")],
    )
    began = time.perf_counter()
    events = await run(definition, services=Services(models=FixedModels(SlowModel())))
    assert time.perf_counter() - began < 0.8  # three 0.3 s calls, side by side
    assert finished(events).outputs == {"a": "a", "b": "b", "c": "c"}


async def test_stop_ends_the_run_as_stopped() -> None:
    class HangingModel:
        name = "hanging"

        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            await asyncio.sleep(60)
            yield ChatChunk("never", final=True)

    compiled = compile_workflow(
        graph([start(), llm(), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]), mode="workflow"
    )
    workflow_run = WorkflowRun(compiled, inputs={}, services=Services(models=FixedModels(HangingModel())))
    events = []
    async for event in workflow_run.events():
        events.append(event)
        if isinstance(event, NodeStarted) and event.node_id == "llm":
            workflow_run.stop()
    assert finished(events).status == "stopped"


async def test_the_time_limit_fails_the_run() -> None:
    class SlowModel:
        name = "slow"

        async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
            await asyncio.sleep(5)
            yield ChatChunk("late", final=True)

    events = await run(
        graph([start(), llm(), end(text=["llm", "text"])], [("start", "llm"), ("llm", "end")]),
        services=Services(models=FixedModels(SlowModel())),
        max_seconds=0.2,
    )
    assert finished(events).status == "failed"
    assert "time limit" in (finished(events).error or "")


async def test_the_step_limit_fails_the_run() -> None:
    loop = {
        "id": "loop",
        "type": "loop",
        "loop_count": 100,
        "start_node_id": "loop-start",
        "loop_variables": [{"label": "i", "var_type": "number", "value": "0"}],
    }
    inner = {"id": "loop-start", "type": "loop-start", "isInLoop": True, "loop_id": "loop"}
    body = {
        "id": "inc",
        "type": "assigner",
        "isInLoop": True,
        "loop_id": "loop",
        "items": [{"variable_selector": ["loop", "i"], "operation": "+=", "input_type": "constant", "value": 1}],
    }
    definition = graph(
        [start(), loop, inner, body, end(i=["loop", "i"])], [("start", "loop"), ("loop-start", "inc"), ("loop", "end")]
    )
    events = await run(definition, max_steps=20)
    assert finished(events).status == "failed"
    assert "20 node executions" in (finished(events).error or "")


def iteration_graph(mode: str, *, parallel: bool = False, flatten: bool = True) -> dict[str, Any]:
    return graph(
        [
            {"id": "start", "type": "start", "variables": []},
            {
                "id": "it",
                "type": "iteration",
                "iterator_selector": ["sys", "items"],
                "output_selector": ["double", "output"],
                "start_node_id": "it-start",
                "is_parallel": parallel,
                "parallel_nums": 3,
                "error_handle_mode": mode,
                "flatten_output": flatten,
            },
            {"id": "it-start", "type": "iteration-start", "isInIteration": True, "iteration_id": "it"},
            {
                "id": "double",
                "type": "template-transform",
                "isInIteration": True,
                "iteration_id": "it",
                "template": "{{ (item * 2) if item is number else item.missing.attribute }}",
                "variables": [{"variable": "item", "value_selector": ["it", "item"]}],
            },
            end(out=["it", "output"]),
        ],
        [("start", "it"), ("it-start", "double"), ("it", "end")],
    )


async def run_iteration(mode: str, items: list[Any], **options: Any) -> WorkflowFinished:
    compiled = compile_workflow(iteration_graph(mode, **options), mode="workflow")
    workflow_run = WorkflowRun(compiled, inputs={}, system={"items": items}, services=Services())
    return finished([event async for event in workflow_run.events()])


@pytest.mark.parametrize("parallel", [False, True])
async def test_iteration_keeps_item_order(parallel: bool) -> None:
    result = await run_iteration("terminated", [1, 2, 3, 4, 5], parallel=parallel)
    assert result.outputs == {"out": ["2", "4", "6", "8", "10"]}


async def test_iteration_error_modes() -> None:
    items = [1, "bad", 3]
    assert (await run_iteration("terminated", items)).status == "failed"
    assert (await run_iteration("continue-on-error", items)).outputs == {"out": ["2", None, "6"]}
    assert (await run_iteration("remove-abnormal-output", items)).outputs == {"out": ["2", "6"]}


async def test_template_transform_cannot_reach_python_internals() -> None:
    # Walking from an object to its class, module globals or the OS is refused outright.
    for escape in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    ):
        with pytest.raises(TemplateRenderError, match="unsafe"):
            render_jinja(escape, {"x": "text"})
    # Reading a private attribute yields nothing at all.
    for quiet in ("{{ x.__class__ }}", "{{ self._TemplateReference__context }}", "{{ lipsum.__globals__ }}"):
        assert render_jinja(quiet, {"x": "text"}) == ""


def test_template_output_is_bounded() -> None:
    with pytest.raises(TemplateRenderError, match="longer than"):
        render_jinja("{% for i in range(n) %}xxxxxxxxxx{% endfor %}", {"n": 100_000}, max_output=1000)


def test_start_inputs_are_validated_with_the_variable_named() -> None:
    declared = [
        StartVariable(variable="name", type="text-input", required=True, max_length=5),
        StartVariable(variable="age", type="number"),
        StartVariable(variable="tier", type="select", options=["free", "pro"], default="free"),
    ]
    assert validate_inputs(declared, {"name": "ada", "age": "36"}) == {"name": "ada", "age": 36, "tier": "free"}
    for inputs, name in (
        ({}, "name"),
        ({"name": "too long"}, "name"),
        ({"name": "ada", "age": "old"}, "age"),
        ({"name": "ada", "tier": "gold"}, "tier"),
    ):
        with pytest.raises(InvalidInput) as raised:
            validate_inputs(declared, inputs)
        assert raised.value.params == name


async def test_node_events_pair_up_with_indexes_in_order() -> None:
    events = await run(
        graph(
            [start("x"), template("t", "{{ x }}!", x=["start", "x"]), end(out=["t", "output"])],
            [("start", "t"), ("t", "end")],
        ),
        inputs={"x": "hi"},
    )
    started = [e for e in events if isinstance(e, NodeStarted)]
    done = [e for e in events if isinstance(e, NodeFinished)]
    assert [e.node_id for e in started] == [e.node_id for e in done] == ["start", "t", "end"]
    assert [e.index for e in started] == [1, 2, 3]
    assert [e.predecessor_node_id for e in started] == [None, "start", "t"]
    assert finished(events).outputs == {"out": "hi!"}


async def test_an_oversized_output_fails_the_node() -> None:
    definition = graph(
        [start("x"), template("big", "{{ x * 1000 }}", x=["start", "x"]), end(out=["big", "output"])],
        [("start", "big"), ("big", "end")],
    )
    events = await run(definition, inputs={"x": "0123456789"}, max_variable_bytes=5000)
    assert finished(events).status == "failed"
    assert "5000 byte limit" in (finished(events).error or "")
    events = await run(definition, inputs={"x": "0123456789"}, max_variable_bytes=20000)
    assert finished(events).status == "succeeded"


async def test_runs_nested_too_deep_fail() -> None:
    compiled = compile_workflow(graph([start(), end()], [("start", "end")]), mode="workflow")
    workflow_run = WorkflowRun(
        compiled, inputs={}, services=Services(), limits=RunLimits(max_call_depth=2), call_depth=3
    )
    result = finished([event async for event in workflow_run.events()])
    assert result.status == "failed"
    assert "2 levels deep" in (result.error or "")
