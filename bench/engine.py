"""Side-by-side engine benchmark: Plait vs graphon (Dify's engine) vs LangGraph, in one run.

Run with the project venv: ``.venv/bin/python bench/engine.py`` (``--help`` for the knobs).
Each workload (bench/workloads.py) is built once as a Dify DSL graph dict; Plait runs it
in-process, graphon and LangGraph in their own virtualenvs (created on first use, see
bench/venvs.py) behind a JSON-lines pipe. Every engine first proves it computes the expected
outputs, warms up, then blocks of N runs are timed one engine at a time, the engines'
blocks interleaved round by round (rotating who goes first) so background load drifts
affect all of them alike; the median block gives runs/s, and µs/node = 1e6 / runs/s / nodes
executed. Prints a table, the Plait ratios, and one JSON line per engine and workload.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import report
import venvs
import workloads
from peer_client import PeerProcess
from plait_runner import make_bench

BENCH = Path(__file__).resolve().parent
PEERS = {
    "graphon": (venvs.GRAPHON, BENCH / "peers" / "graphon_runner.py"),
    "langgraph": (venvs.LANGGRAPH, BENCH / "peers" / "langgraph_runner.py"),
}
ENGINES = ("plait", "graphon", "langgraph")


class Handler(Protocol):
    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]: ...


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per engine and workload (median kept)")
    parser.add_argument("--block-seconds", type=float, default=2.0, help="target duration of one block")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="warm-up per engine and workload")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset of " + ",".join(ENGINES))
    parser.add_argument("--workloads", default="W1,W2,W3", help="comma-separated subset of W1,W2,W3")
    return parser.parse_args(argv)


def _start_engines(names: list[str]) -> tuple[dict[str, Handler], dict[str, str]]:
    """Handlers for the engines that could start, and a note for each that could not."""
    handlers: dict[str, Handler] = {}
    failures: dict[str, str] = {}
    for name in names:
        if name == "plait":
            handlers[name] = make_bench()
            continue
        venv, script = PEERS[name]
        try:
            handlers[name] = PeerProcess(venvs.ensure(venv), script)
        except Exception as error:
            failures[name] = f"could not start: {type(error).__name__}: {error}"
    return handlers, failures


def _measure(
    workload: workloads.Workload,
    handlers: dict[str, Handler],
    info: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> list[report.Result]:
    """Prepare every engine for one workload, then run the interleaved rounds of blocks."""
    payload = workload.to_json()
    results = {name: report.Result(name, workload.name, workload.executed_nodes) for name in handlers}
    ready = []
    for name, handler in handlers.items():
        results[name].version = info[name]["version"]
        prepared = handler.handle(
            {
                "op": "prepare",
                "workload": payload,
                "warmup_seconds": args.warmup_seconds,
                "block_seconds": args.block_seconds,
            }
        )
        if "error" in prepared:
            results[name].note = prepared["error"]
        else:
            results[name].block_runs = prepared["runs"]
            ready.append(name)
    for round_index in range(args.blocks):
        shift = round_index % max(1, len(ready))
        for name in ready[shift:] + ready[:shift]:
            reply = handlers[name].handle({"op": "block", "workload": workload.name})
            results[name].blocks.append(reply["runs_per_s"])
            results[name].peak_rss_mb = reply["peak_rss_mb"]
    return list(results.values())


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    names = [name for name in ENGINES if name in args.engines.split(",")]
    chosen = [workload for workload in workloads.all_workloads() if workload.name in args.workloads.split(",")]
    handlers, failures = _start_engines(names)
    info = {name: handler.handle({"op": "hello"}) for name, handler in handlers.items()}
    load_before = os.getloadavg()
    started = time.perf_counter()
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, load {load_before[0]:.2f}; {args.blocks} blocks of "
        f"~{args.block_seconds:g} s per engine and workload, median kept; warm-up {args.warmup_seconds:g} s",
        flush=True,
    )
    for name, hello in info.items():
        print(f"# {report.ENGINE_LABELS[name]} {hello['version']}", flush=True)
    results: list[report.Result] = []
    try:
        for workload in chosen:
            print(f"# {workload.name}: {workload.description} ({workload.executed_nodes} nodes)", flush=True)
            results.extend(_measure(workload, handlers, info, args))
            for name, note in failures.items():
                results.append(report.Result(name, workload.name, workload.executed_nodes, note=note))
    finally:
        for handler in handlers.values():
            if isinstance(handler, PeerProcess):
                handler.close()
    order = {name: index for index, name in enumerate(ENGINES)}
    results.sort(key=lambda result: (result.workload, order[result.engine]))
    report.add_ratios(results)
    print(f"# measured in {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    print()
    print(report.table(results))
    print()
    print(report.ratio_lines(results))
    print()
    print(report.json_lines(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
