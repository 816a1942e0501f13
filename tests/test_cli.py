"""The ``plait`` command as automation uses it: results on the last line of standard
output, errors as one line and a non-zero exit, every command on PLAIT_DATA_DIR/DATABASE_URL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from plait.ids import is_uuid

from .conftest import OWNER_EMAIL, OWNER_PASSWORD, plait_command

CHAT_APP = """
version: 0.1.5
kind: app
app: {name: Helpdesk, mode: chat, icon: "💬", description: Answers questions.}
model_config:
  pre_prompt: You are a helpful assistant.
  opening_statement: Hello!
  model: {provider: openai, name: gpt-4o-mini, mode: chat, completion_params: {temperature: 0.2}}
"""


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        plait_command(*args), env=os.environ | env, input=stdin, capture_output=True, text=True, timeout=120
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def set_up(plait_env: dict[str, str]) -> dict[str, str]:
    account_id = last_line(run(plait_env, "setup", "--email", OWNER_EMAIL, "--password", OWNER_PASSWORD))
    assert is_uuid(account_id)
    return plait_env


def test_commands_before_setup_say_what_to_do(plait_env: dict[str, str], tmp_path: Path) -> None:
    app_file = tmp_path / "app.yml"
    app_file.write_text(CHAT_APP)
    result = run(plait_env, "apps", "import", str(app_file))
    assert result.returncode == 1
    assert "plait setup" in result.stderr
    assert "Traceback" not in result.stderr


def test_setup_happens_once(set_up: dict[str, str]) -> None:
    again = run(set_up, "setup", "--email", "second@example.com", "--password", OWNER_PASSWORD)
    assert again.returncode == 1
    assert "already been set up" in again.stderr


def test_setup_enforces_the_password_policy(plait_env: dict[str, str]) -> None:
    result = run(plait_env, "setup", "--email", OWNER_EMAIL, "--password", "short")
    assert result.returncode == 1
    assert "Password" in result.stderr


def test_import_publish_list_export_round_trip(set_up: dict[str, str], tmp_path: Path, shared_fixtures: Path) -> None:
    fixture = shared_fixtures / "dify-dsl" / "basic_chatflow.yml"
    app_id = last_line(run(set_up, "apps", "import", str(fixture), "--publish", "--name", "Support flow"))
    assert is_uuid(app_id)

    listing = run(set_up, "apps", "list")
    assert listing.returncode == 0
    line = next(row for row in listing.stdout.splitlines() if row.startswith(app_id))
    assert "advanced-chat" in line
    assert "published" in line
    assert line.endswith("Support flow")

    exported = run(set_up, "apps", "export", app_id)
    assert exported.returncode == 0
    document = yaml.safe_load(exported.stdout)
    original = yaml.safe_load(fixture.read_text())
    assert document["app"]["name"] == "Support flow"
    assert document["workflow"] == original["workflow"]

    exported_file = tmp_path / "exported.yml"
    exported_file.write_text(exported.stdout)
    second = last_line(run(set_up, "apps", "import", str(exported_file)))
    assert second != app_id
    assert yaml.safe_load(run(set_up, "apps", "export", second).stdout) == document


def test_import_reads_standard_input_and_keeps_drafts_unpublished(set_up: dict[str, str]) -> None:
    app_id = last_line(run(set_up, "apps", "import", "-", stdin=CHAT_APP))
    line = next(row for row in run(set_up, "apps", "list").stdout.splitlines() if row.startswith(app_id))
    assert "chat" in line
    assert "draft" in line
    assert yaml.safe_load(run(set_up, "apps", "export", app_id).stdout)["model_config"]["pre_prompt"] == (
        "You are a helpful assistant."
    )


def test_invalid_dsl_is_refused_with_its_path(set_up: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(CHAT_APP.replace("version: 0.1.5", "version: 0.1"))
    result = run(set_up, "apps", "import", str(bad))
    assert result.returncode == 1
    assert "$.version" in result.stderr
    assert result.stdout == ""


def test_keys_create_prints_the_key_last(set_up: dict[str, str]) -> None:
    app_id = last_line(run(set_up, "apps", "import", "-", stdin=CHAT_APP))
    app_key = last_line(run(set_up, "keys", "create", app_id))
    assert app_key.startswith("app-")
    assert len(app_key) == len("app-") + 24
    dataset_key = last_line(run(set_up, "keys", "create", "--datasets"))
    assert dataset_key.startswith("ds-")


def test_keys_create_refuses_unknown_apps_and_ambiguous_calls(set_up: dict[str, str]) -> None:
    unknown = run(set_up, "keys", "create", "00000000-0000-7000-8000-000000000000")
    assert unknown.returncode == 1
    assert "not found" in unknown.stderr.lower()
    both = run(set_up, "keys", "create", "00000000-0000-7000-8000-000000000000", "--datasets")
    assert both.returncode == 2


def test_export_of_an_unknown_app_fails_cleanly(set_up: dict[str, str]) -> None:
    result = run(set_up, "apps", "export", "not-an-id")
    assert result.returncode == 1
    assert "App not found" in result.stderr


def test_commands_honour_the_data_directory(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PLAIT_DATA_DIR"] = str(tmp_path / "custom-data")
    result = subprocess.run(plait_command("db", "upgrade"), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "custom-data" / "plait.db").is_file()
    assert (tmp_path / "custom-data" / "secret_key").is_file()
