"""The DSL document's top-level shape: Dify's app documents are read and written back
without loss, and anything else is refused with an error that points at the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from plait.engine.dsl import CURRENT_DSL_VERSION, MAX_DSL_BYTES, DslError, dump_app_document, parse_app_document

WORKFLOW_APP = """
version: 0.6.0
kind: app
app: {name: Echo, mode: workflow, icon: "🤖"}
workflow:
  graph: {nodes: [{id: start, data: {type: start, title: Start, variables: []}}], edges: []}
  features: {}
  environment_variables: []
  conversation_variables: []
"""


def _app_documents(fixtures: Path) -> list[Path]:
    found = []
    for path in sorted(fixtures.joinpath("dify-dsl").rglob("*.yml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and data.get("kind", "app") == "app" and "app" in data:
            found.append(path)
    return found


def test_every_dify_fixture_app_parses_and_round_trips(shared_fixtures: Path) -> None:
    paths = _app_documents(shared_fixtures)
    assert len(paths) >= 25
    for path in paths:
        original = yaml.safe_load(path.read_text())
        document = parse_app_document(path.read_text())
        again = yaml.safe_load(dump_app_document(document))
        assert again["version"] == CURRENT_DSL_VERSION
        assert again["app"] == original["app"], path.name
        assert again.get("workflow") == original.get("workflow"), path.name
        assert again.get("model_config") == original.get("model_config"), path.name
        assert again["dependencies"] == (original.get("dependencies") or []), path.name


def test_unknown_top_level_keys_survive_the_round_trip() -> None:
    text = WORKFLOW_APP + "x_team_owner: platform\nx_labels: [a, b]\n"
    again = yaml.safe_load(dump_app_document(parse_app_document(text)))
    assert again["x_team_owner"] == "platform"
    assert again["x_labels"] == ["a", "b"]


def test_a_missing_version_is_read_as_the_oldest() -> None:
    text = WORKFLOW_APP.replace("version: 0.6.0\n", "")
    assert parse_app_document(text).version == "0.1.0"


def test_chat_apps_carry_model_config() -> None:
    document = parse_app_document(
        "version: '0.1.5'\nkind: app\napp: {name: Bot, mode: chat}\nmodel_config: {pre_prompt: Be brief.}\n"
    )
    assert document.mode == "chat"
    assert document.workflow is None
    assert document.model_config == {"pre_prompt": "Be brief."}


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("app: [unclosed", "$", "not valid YAML at line 1"),
        ("", "$", "empty"),
        ("- a\n- b\n", "$", "must be a mapping"),
        ("nodes: []\nedges: []\n", "$", "not a Dify app document"),
        ("kind: graph\ngraph: {nodes: []}\n", "$", "not a Dify app document"),
        (WORKFLOW_APP.replace("version: 0.6.0", "version: 0.6"), "$.version", "must be a string"),
        (WORKFLOW_APP.replace("version: 0.6.0", "version: 6"), "$.version", "must be a string"),
        (WORKFLOW_APP.replace("version: 0.6.0", "version: 0.7.0"), "$.version", "newer"),
        (WORKFLOW_APP.replace("version: 0.6.0", "version: 1.0.0"), "$.version", "newer"),
        (WORKFLOW_APP.replace("version: 0.6.0", "version: banana"), "$.version", "MAJOR.MINOR.PATCH"),
        (WORKFLOW_APP.replace("mode: workflow", "mode: spreadsheet"), "$.app.mode", "must be one of"),
        (WORKFLOW_APP.replace("name: Echo", "name: [1, 2]"), "$.app.name", "must be a string"),
        ("version: 0.6.0\nkind: app\napp: {name: X, mode: workflow}\n", "$.workflow", "must be a mapping"),
        ("version: 0.6.0\nkind: app\napp: {name: X, mode: workflow}\nworkflow: {}\n", "$.workflow.graph", "mapping"),
        (
            "version: 0.6.0\nkind: app\napp: {name: X, mode: workflow}\nworkflow: {graph: {nodes: {}}}\n",
            "$.workflow.graph.nodes",
            "must be a list",
        ),
        (WORKFLOW_APP + "dependencies: {a: 1}\n", "$.dependencies", "must be a list"),
        ("kind: app\napp: no\n", "$.app", "must be a mapping"),
    ],
)
def test_invalid_documents_are_refused_with_a_path(text: str, path: str, words: str) -> None:
    with pytest.raises(DslError) as raised:
        parse_app_document(text)
    assert raised.value.path == path
    assert words in raised.value.message
    assert raised.value.code == "invalid_dsl"
    assert raised.value.status == 400


def test_yaml_tags_never_construct_objects() -> None:
    text = "!!python/object/apply:os.system ['echo pwned > /tmp/plait-dsl-pwned']\n"
    with pytest.raises(DslError):
        parse_app_document(text)
    assert not Path("/tmp/plait-dsl-pwned").exists()


def test_oversized_documents_are_refused_before_parsing() -> None:
    with pytest.raises(DslError) as raised:
        parse_app_document("#" * (MAX_DSL_BYTES + 1))
    assert "larger than" in raised.value.message
