"""Turning block timings into results, a table, the ratios and one JSON line per result."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

ENGINE_LABELS = {"plait": "Plait", "graphon": "graphon", "langgraph": "LangGraph"}


@dataclass
class Result:
    engine: str
    workload: str
    nodes: int
    version: str | None = None
    block_runs: int | None = None  # N, runs per block
    blocks: list[float] = field(default_factory=list)  # runs/s of each block
    peak_rss_mb: float | None = None
    note: str | None = None
    ratios: dict[str, float] = field(default_factory=dict)  # "ratio_vs_<engine>": this / that

    @property
    def runs_per_s(self) -> float | None:
        return statistics.median(self.blocks) if self.blocks else None

    @property
    def us_per_node(self) -> float | None:
        rate = self.runs_per_s
        return None if rate is None else 1e6 / rate / self.nodes

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the block rates: how noisy the measurement was."""
        rate = self.runs_per_s
        return None if rate is None else (max(self.blocks) - min(self.blocks)) / rate

    def to_json(self) -> dict[str, Any]:
        rate, per_node = self.runs_per_s, self.us_per_node
        line: dict[str, Any] = {
            "engine": self.engine,
            "workload": self.workload,
            "runs_per_s": None if rate is None else round(rate, 1),
            "us_per_node": None if per_node is None else round(per_node, 1),
            "nodes": self.nodes,
            "runs": None if self.block_runs is None else self.block_runs * len(self.blocks),
            "blocks": [round(block, 1) for block in self.blocks],
            **{key: round(value, 2) for key, value in self.ratios.items()},
            "version": self.version,
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
        }
        if self.note:
            line["note"] = self.note
        return line


def add_ratios(results: list[Result]) -> None:
    """Each result's runs/s over every other engine's on the same workload."""
    by_key = {(result.engine, result.workload): result for result in results}
    for result in results:
        for other in ("graphon", "langgraph"):
            peer = by_key.get((other, result.workload))
            if peer is None or peer is result or result.runs_per_s is None or peer.runs_per_s is None:
                continue
            result.ratios[f"ratio_vs_{other}"] = result.runs_per_s / peer.runs_per_s


def _cell(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    header = f"{'workload':<8} {'engine':<10} {'nodes':>5} {'runs/s':>9} {'µs/node':>9} {'spread':>7} "
    header += f"{'N/block':>8} {'RSS MB':>7}  note"
    lines = [header, "-" * len(header)]
    for result in results:
        spread = None if result.spread is None else result.spread * 100
        lines.append(
            f"{result.workload:<8} {ENGINE_LABELS[result.engine]:<10} {result.nodes:>5} "
            f"{_cell(result.runs_per_s, '.1f'):>9} {_cell(result.us_per_node, '.1f'):>9} "
            f"{_cell(spread, '.1f') + '%':>7} {result.block_runs or '—':>8} "
            f"{_cell(result.peak_rss_mb, '.0f'):>7}  {result.note or ''}"
        )
    return "\n".join(lines)


def ratio_lines(results: list[Result]) -> str:
    lines = []
    for result in results:
        if result.engine != "plait":
            continue
        parts = [
            f"Plait/{ENGINE_LABELS[other]} = {_cell(result.ratios.get(f'ratio_vs_{other}'), '.2f')}x"
            for other in ("graphon", "langgraph")
        ]
        lines.append(f"{result.workload}: " + ", ".join(parts))
    return "\n".join(lines)


def json_lines(results: list[Result]) -> str:
    return "\n".join(json.dumps(result.to_json(), ensure_ascii=False) for result in results)
