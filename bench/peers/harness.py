"""Timing and the runner protocol, shared by every engine (stdlib only).

Every engine is measured by this same code, whether in-process (Plait) or in a peer's
virtualenv (graphon, LangGraph), so differences come from the engines, not the method.
Per workload: check the outputs once per input, warm up while estimating the rate (doubling
batches until ``warmup_seconds`` have passed), size N so one block of N runs lasts about
``block_seconds``, then time blocks on request. The driver interleaves the engines' blocks
(one engine at a time, never concurrently) so slow drifts in background load hit all
engines alike, and keeps the median block.

A peer runner answers JSON requests, one per line on stdin, with one JSON line on stdout::

    {"op": "hello"}                                   -> {"engine", "version", "peak_rss_mb"}
    {"op": "prepare", "workload": {...}, "warmup_seconds": s, "block_seconds": s}
                                                      -> {"runs": N} or {"error": "..."}
    {"op": "block", "workload": "W1"}                 -> {"runs_per_s": r, "peak_rss_mb": m}
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RunOne = Callable[[dict[str, Any]], Mapping[str, Any]]  # inputs -> the run's outputs
RunBatch = Callable[[int], None]  # run n times, cycling through the workload's inputs
MakeEngine = Callable[[Mapping[str, Any]], "Engine"]


@dataclass(frozen=True)
class Engine:
    """What a runner gives the harness for one workload."""

    run_one: RunOne
    run_batch: RunBatch


def cycling_batch(run_one: RunOne, inputs: list[dict[str, Any]]) -> RunBatch:
    """A batch for synchronous engines: run after run, alternating the inputs across calls."""
    state = {"next": 0}

    def run_batch(count: int) -> None:
        index = state["next"]
        size = len(inputs)
        for offset in range(count):
            run_one(inputs[(index + offset) % size])
        state["next"] = (index + count) % size

    return run_batch


def check(engine: Engine, workload: Mapping[str, Any]) -> None:
    """Fail loudly if the engine computes anything other than the expected outputs."""
    for inputs, expected in zip(workload["inputs"], workload["expected"], strict=True):
        outputs = dict(engine.run_one(dict(inputs)))
        if outputs != expected:
            raise AssertionError(f"{workload['name']}: inputs {inputs} gave {outputs}, expected {expected}")


def timed(run_batch: RunBatch, count: int) -> float:
    started = time.perf_counter()
    run_batch(count)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Bench:
    """One engine's side of the protocol; used in-process for Plait, behind stdin for peers."""

    def __init__(self, engine: str, version: str, make_engine: MakeEngine) -> None:
        self.engine = engine
        self.version = version
        self.make_engine = make_engine
        self.prepared: dict[str, tuple[Engine, int]] = {}

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "hello":
            return {"engine": self.engine, "version": self.version, "peak_rss_mb": peak_rss_mb()}
        if op == "prepare":
            return self.prepare(request["workload"], float(request["warmup_seconds"]), float(request["block_seconds"]))
        if op == "block":
            engine, runs = self.prepared[request["workload"]]
            return {"runs_per_s": runs / timed(engine.run_batch, runs), "peak_rss_mb": peak_rss_mb()}
        raise ValueError(f"unknown op {op!r}")

    def prepare(self, workload: Mapping[str, Any], warmup_seconds: float, block_seconds: float) -> dict[str, Any]:
        """Build, check and warm up; an engine that cannot run the workload answers an error."""
        try:
            engine = self.make_engine(workload)
            check(engine, workload)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            return {"error": f"{type(error).__name__}: {error}"}
        count, spent, rate = 1, 0.0, 0.0
        while spent < warmup_seconds:
            elapsed = timed(engine.run_batch, count)
            spent += elapsed
            rate = count / max(elapsed, 1e-9)
            count *= 2
        runs = max(10, round(rate * block_seconds))
        self.prepared[workload["name"]] = (engine, runs)
        return {"runs": runs}


def serve(engine: str, version: str, make_engine: MakeEngine) -> None:
    """The peer side: answer request lines until stdin closes."""
    replies, sys.stdout = sys.stdout, sys.stderr  # stray prints must not corrupt the replies
    bench = Bench(engine, version, make_engine)
    for line in sys.stdin:
        if line.strip():
            replies.write(json.dumps(bench.handle(json.loads(line))) + "\n")
            replies.flush()
