"""HTTP benchmark of the Service API: an empty workflow through ``POST /v1/workflows/run``.

Run with the project venv: ``.venv/bin/python bench/api.py`` (``--help`` for the knobs).
For each database shape (embedded SQLite, PostgreSQL) it starts a real ``plait serve``, sets
it up through the CLI (bench/api_server.py), checks that a blocking reply echoes the input
and a stream runs from workflow_started to workflow_finished, then measures each response
mode under two loads (bench/api_load.py) with a raw asyncio HTTP/1.1 client
(bench/api_http.py): ``c50``, 50 clients back to back (throughput), and ``r100``, an open
loop at 100 requests/s (latency at a steady rate). Every run is recorded by Plait as usual.
Prints a table, then one JSON line per shape, mode and load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import uvloop
from api_cpu import CpuWindow
from api_http import Connection, Reply, build_post, sse_events, sse_first_last
from api_load import Check, Sample, closed_loop, open_loop
from api_server import Server, serve

SHAPES = ("sqlite", "postgres")
MODES = ("blocking", "streaming")
PATH = "/v1/workflows/run"
ECHOED = {"q": "hi"}
TARGET_RPS = 400.0  # c50, from the issue
TARGET_TTFE_P50_MS = 10.0  # r100
TARGET_TTFE_P99_MS = 50.0  # r100
DIFY = "Dify's published figures: 36-40 req/s on three 1-CPU replicas, TTFE p50 51 ms"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated subset of sqlite,postgres")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of blocking,streaming")
    parser.add_argument("--clients", type=int, default=50, help="closed loop: concurrent clients")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: requests per second")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each measured window")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each measured window")
    parser.add_argument("--profile", type=Path, default=None, help="run the server under cProfile: DIR/<shape>.prof")
    return parser.parse_args(argv)


def _check(mode: str) -> Check:
    """What a correct reply looks like under load; anything else counts as an error."""
    if mode == "blocking":
        return lambda reply: json.loads(reply.body)["data"]["outputs"] == ECHOED

    def streamed(reply: Reply) -> bool:
        first, last = sse_first_last(reply.body)
        return first == "workflow_started" and last.get("event") == "workflow_finished" and _echoed(last)

    return streamed


def _echoed(payload: dict[str, Any]) -> bool:
    data = payload.get("data")
    return isinstance(data, dict) and data.get("outputs") == ECHOED


async def _measure(server: Server, mode: str, args: argparse.Namespace) -> dict[str, Sample]:
    payload = {"inputs": {"q": "hi"}, "user": "bench", "response_mode": mode}
    raw = build_post(server.port, PATH, payload, server.token)
    check = _check(mode)
    await _verify(server, raw, check, mode)
    cpu = CpuWindow(server.pid)
    c50 = await closed_loop(
        server.port, raw, check, cpu, clients=args.clients, warmup=args.warmup, duration=args.duration
    )
    r100 = await open_loop(server.port, raw, check, cpu, rate=args.rate, warmup=args.warmup, duration=args.duration)
    return {f"c{args.clients}": c50, f"r{args.rate:g}": r100}


async def _verify(server: Server, raw: bytes, check: Check, mode: str) -> None:
    """Fail loudly, before any timing, unless the reply is right."""
    connection = await Connection.open(server.port)
    try:
        reply = await connection.request(raw)
    finally:
        connection.close()
    events = sse_events(reply.body) if mode == "streaming" else []
    if mode == "streaming" and (events[:1] != ["workflow_started"] or events[-1:] != ["workflow_finished"]):
        raise SystemExit(f"[{server.shape}/{mode}] stream is not workflow_started ... workflow_finished: {events}")
    if reply.status != 200 or not check(reply):
        raise SystemExit(f"[{server.shape}/{mode}] wrong reply {reply.status}: {reply.body[:500]!r}")
    shown = " -> ".join(events) if events else f"data.outputs == {ECHOED}"
    print(f"[{server.shape}/{mode}] verified: {shown}", file=sys.stderr)


def _rows(shape: str, mode: str, samples: dict[str, Sample]) -> list[dict[str, Any]]:
    rows = []
    for load, sample in samples.items():
        row: dict[str, Any] = {"shape": shape, "mode": mode, "load": load, **sample.summary()}
        row["target_met"] = _target_met(load, row)
        rows.append(row)
    return rows


def _target_met(load: str, row: dict[str, Any]) -> bool:
    """The issue's targets: throughput for the closed loop, latency for the open loop."""
    if row["errors"]:
        return False
    if load.startswith("c"):
        return bool(row["rps"] >= TARGET_RPS)
    p50, p99 = row["ttfe_p50_ms"], row["ttfe_p99_ms"]
    return p50 is not None and p99 is not None and p50 <= TARGET_TTFE_P50_MS and p99 <= TARGET_TTFE_P99_MS


COLUMNS = (  # (title, row key, width); times in ms
    ("req/s", "rps", 8),
    ("TTFE p50", "ttfe_p50_ms", 9),
    ("TTFE p99", "ttfe_p99_ms", 9),
    ("lat p50", "latency_p50_ms", 8),
    ("lat p99", "latency_p99_ms", 8),
    ("errors", "errors", 6),
    ("srv CPU/req", "server_cpu_ms_per_req", 11),
    ("CPU busy%", "machine_cpu_busy_pct", 9),
    ("target", "target_met", 6),
)


def _table(rows: list[dict[str, Any]]) -> str:
    """Human-readable summary; times in milliseconds."""
    header = f"{'shape':<9} {'mode':<10} {'load':<5} " + " ".join(f"{title:>{width}}" for title, _, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = " ".join(f"{_fmt(row[key]):>{width}}" for _, key, width in COLUMNS)
        lines.append(f"{row['shape']:<9} {row['mode']:<10} {row['load']:<5} {cells}")
    return "\n".join(lines)


def _fmt(value: float | bool | None) -> str:
    if isinstance(value, bool):
        return "met" if value else "MISSED"
    return "-" if value is None else f"{value:.1f}"


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    modes = [m for m in args.modes.split(",") if m]
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    for shape in shapes:
        profile = args.profile / f"{shape}.prof" if args.profile else None
        with serve(shape, profile) as server:
            for mode in modes:
                samples = uvloop.run(_measure(server, mode, args))
                rows.extend(_rows(shape, mode, samples))
                print(f"[{shape}/{mode}] done", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(_table(rows))
    print(
        f"targets: c{args.clients} >= {TARGET_RPS:g} req/s; r{args.rate:g} TTFE p50 <= {TARGET_TTFE_P50_MS:g} ms, "
        f"p99 <= {TARGET_TTFE_P99_MS:g} ms. {DIFY}."
    )
    print(f"load average (1/5/15 min) before: {_load(load_before)}, after: {_load(load_after)}; {os.cpu_count()} CPUs")
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
