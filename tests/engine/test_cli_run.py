"""``plait dsl check`` and ``plait run``: DSL files checked and run headless from the shell."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..conftest import plait_command


def plait(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(plait_command(*args), capture_output=True, text=True, timeout=60)


def test_check_summarises_a_valid_file(shared_fixtures: Path) -> None:
    result = plait("dsl", "check", str(shared_fixtures / "dify-dsl" / "basic_chatflow.yml"))
    assert result.returncode == 0, result.stderr
    assert "advanced-chat app, DSL 0.3.1, 3 nodes" in result.stdout
    assert "llm x1" in result.stdout


def test_check_reports_errors_with_their_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "version: 0.6.0\nkind: app\napp: {name: x, mode: workflow}\n"
        "workflow:\n  graph:\n    nodes:\n    - {id: s, data: {type: start}}\n"
        "    - {id: e, data: {type: end, outputs: [{variable: o, value_selector: [ghost, text]}]}}\n"
        "    edges: [{source: s, target: e}]\n"
    )
    result = plait("dsl", "check", str(broken))
    assert result.returncode == 1
    assert "$.workflow.graph.nodes[1].data" in result.stderr
    assert "ghost" in result.stderr


def test_run_prints_workflow_outputs(shared_fixtures: Path) -> None:
    result = plait(
        "run", str(shared_fixtures / "dify-dsl" / "simple_passthrough_workflow.yml"), "--inputs", '{"query": "hi"}'
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"query": "hi"}


def test_run_answers_chatflows_from_the_fake_model(shared_fixtures: Path) -> None:
    result = plait(
        "run", str(shared_fixtures / "dify-dsl" / "basic_chatflow.yml"), "--query", "hello", "--model", "fake"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"answer": "Plait fake reply: hello"}


def test_run_streams_events_scripted_per_node(shared_fixtures: Path, tmp_path: Path) -> None:
    script = tmp_path / "mock.json"
    script.write_text(json.dumps({"llm": "mocked llm response"}))
    result = plait(
        "run",
        str(shared_fixtures / "dify-dsl" / "basic_chatflow.yml"),
        "--query",
        "q",
        "--mock-llm",
        str(script),
        "--stream",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["kind"] == "workflow_started"
    assert [e["text"] for e in events if e["kind"] == "text_chunk"] == ["mocked", " llm", " response", ""]
    assert events[-1]["kind"] == "workflow_finished"
    assert events[-1]["outputs"] == {"answer": "mocked llm response"}


def test_a_failing_run_exits_non_zero(shared_fixtures: Path, tmp_path: Path) -> None:
    script = tmp_path / "mock.json"
    script.write_text(json.dumps({"llm": {"error": "provider down"}}))
    result = plait("run", str(shared_fixtures / "dify-dsl" / "basic_chatflow.yml"), "--mock-llm", str(script))
    assert result.returncode == 1
    assert "provider down" in result.stderr


def test_bad_inputs_are_refused(shared_fixtures: Path) -> None:
    result = plait("run", str(shared_fixtures / "dify-dsl" / "simple_passthrough_workflow.yml"), "--inputs", "[1]")
    assert result.returncode == 2
    assert "JSON object" in result.stderr
