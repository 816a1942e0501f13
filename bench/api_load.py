"""Load shapes: a closed loop (N clients back to back) and an open loop (a fixed send timetable).

Both run in this process on one event loop, with the raw client of ``api_http``. The closed
loop answers "how many requests per second can the server sustain"; the open loop answers
"what latency does a caller see at a steady, moderate rate", which a closed loop cannot tell
because its clients slow down with the server (coordinated omission). The open loop
therefore counts latency from each request's *scheduled* send time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api_cpu import CpuWindow
from api_http import Connection, Reply

Check = Callable[[Reply], bool]


@dataclass
class Sample:
    """What one measured window produced."""

    seconds: float  # what the rate is computed over (open loop: until the last reply)
    window: float  # the nominal measured window, over which CPU is read
    ttfe: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    errors: int = 0  # non-200 replies, replies failing the check, broken connections
    error_kinds: dict[str, int] = field(default_factory=dict)
    send_lag: list[float] = field(default_factory=list)  # open loop: send time minus scheduled time
    connections: int = 0
    server_cpu_s: float | None = None  # CPU time of the server process during the window
    client_cpu_s: float | None = None  # CPU time of this process (the load generator) during the window
    machine_busy: float | None = None  # busy fraction of all the machine's CPUs during the window

    def add(self, reply: Reply, ok: bool) -> None:
        if reply.status != 200 or not ok:
            self.fail(f"status {reply.status}" if reply.status != 200 else "bad body")
            return
        self.ttfe.append(reply.ttfe)
        self.total.append(reply.total)

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def summary(self) -> dict[str, Any]:
        done = len(self.ttfe)
        # CPU is read over the nominal window; divide by the replies that rate implies in it.
        in_window = done / self.seconds * self.window if self.seconds else 0.0
        return {
            "rps": round(done / self.seconds, 1),
            "ttfe_p50_ms": _ms(percentile(self.ttfe, 50)),
            "ttfe_p99_ms": _ms(percentile(self.ttfe, 99)),
            "latency_p50_ms": _ms(percentile(self.total, 50)),
            "latency_p99_ms": _ms(percentile(self.total, 99)),
            "requests": done,
            "errors": self.errors,
            **({"error_kinds": self.error_kinds} if self.error_kinds else {}),
            "seconds": round(self.seconds, 2),
            "connections": self.connections,
            "server_cpu_ms_per_req": _per(self.server_cpu_s, in_window, 2),
            "client_cpu_ms_per_req": _per(self.client_cpu_s, in_window, 3),
            "machine_cpu_busy_pct": round(self.machine_busy * 100, 1) if self.machine_busy is not None else None,
            **({"send_lag_p50_ms": _ms(percentile(self.send_lag, 50))} if self.send_lag else {}),
            **({"send_lag_p99_ms": _ms(percentile(self.send_lag, 99))} if self.send_lag else {}),
        }


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: p99 is a latency some request really had)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _per(cpu_seconds: float | None, requests: float, digits: int) -> float | None:
    """CPU milliseconds per request."""
    return round(cpu_seconds * 1000 / requests, digits) if cpu_seconds is not None and requests else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


async def _watch_cpu(cpu: CpuWindow, sample: Sample, begin: float, end: float) -> None:
    """Read CPU counters at the measured window's edges (a task beside the load)."""
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))
    cpu.start()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    sample.server_cpu_s, sample.client_cpu_s, sample.machine_busy = cpu.stop()


async def closed_loop(
    port: int, raw: bytes, check: Check, cpu: CpuWindow, *, clients: int, warmup: float, duration: float
) -> Sample:
    """``clients`` connections, each sending ``raw`` back to back. Replies that *complete*
    inside the measured window (after ``warmup``, for ``duration`` seconds) are counted."""
    connections = [await Connection.open(port) for _ in range(clients)]
    begin = time.perf_counter() + warmup
    end = begin + duration
    sample = Sample(duration, duration, connections=clients)

    async def client(index: int) -> None:
        while True:
            now = time.perf_counter()
            if now >= end:
                return
            connection = connections[index]
            if connection.closed:
                connection = connections[index] = await Connection.open(port)
                sample.connections += 1
            try:
                reply = await connection.request(raw)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                if begin <= time.perf_counter() < end:
                    sample.fail(type(error).__name__)
                continue
            if begin <= time.perf_counter() < end:
                sample.add(reply, check(reply))

    try:
        await asyncio.gather(_watch_cpu(cpu, sample, begin, end), *(client(i) for i in range(clients)))
    finally:
        for connection in connections:
            connection.close()
    return sample


async def open_loop(
    port: int, raw: bytes, check: Check, cpu: CpuWindow, *, rate: float, warmup: float, duration: float, pool: int = 64
) -> Sample:
    """Send ``raw`` at ``rate`` per second on a fixed timetable, whatever the replies do.
    Each send takes an idle keep-alive connection (pre-opened ``pool``; a new one is opened
    when all are busy). Requests scheduled inside the measured window are counted, and the
    loop waits for all of them to finish."""
    idle = [await Connection.open(port) for _ in range(pool)]
    sample = Sample(duration, duration, connections=pool)
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    measured_from = start + warmup
    sends = int((warmup + duration) * rate)
    pending: set[asyncio.Task[None]] = set()
    watcher = asyncio.ensure_future(_watch_cpu(cpu, sample, measured_from, measured_from + duration))
    last_reply = measured_from

    async def one(scheduled: float, counted: bool) -> None:
        nonlocal last_reply
        connection = idle.pop() if idle else None
        while connection is not None and connection.stale:
            connection.close()
            connection = idle.pop() if idle else None
        if connection is None:
            connection = await Connection.open(port)
            sample.connections += 1
        try:
            reply = await connection.request(raw, started=scheduled)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            if counted:
                sample.fail(type(error).__name__)
            return
        if not connection.closed:
            idle.append(connection)
        if counted:
            sample.add(reply, check(reply))
            last_reply = max(last_reply, time.perf_counter())

    for i in range(sends):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        counted = scheduled >= measured_from
        if counted:
            sample.send_lag.append(time.perf_counter() - scheduled)
        task = asyncio.ensure_future(one(scheduled, counted))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(watcher, *pending)
    # Achieved rate: replies over the time from the window's first send to its last reply,
    # so a server that falls behind shows a rate below the offered one.
    sample.seconds = max(duration, last_reply - measured_from)
    for connection in idle:
        connection.close()
    return sample
