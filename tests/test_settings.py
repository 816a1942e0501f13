"""Settings: embedded defaults, errors that name the variable, production refuses unsafe
secrets, and the generated development secret is private and stable."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from plait.app.bootstrap import resolve_secret_key
from plait.errors import ConfigurationError
from plait.settings import KNOWN_DEFAULT_SECRET_KEYS, load_settings

from .conftest import plait_command

PLAIT_VARIABLES = (
    "DATABASE_URL",
    "DEPLOY_ENV",
    "SECRET_KEY",
    "PLAIT_DATA_DIR",
    "LOG_LEVEL",
    "REDIS_URL",
    "STORAGE_TYPE",
    "VECTOR_STORE",
    "MIGRATION_ENABLED",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("PLAIT_") or name in PLAIT_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_are_the_embedded_shape() -> None:
    settings = load_settings()
    assert settings.deploy_env == "DEVELOPMENT"
    assert settings.data_dir == Path("data")
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('data').resolve() / 'plait.db'}"
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 5001
    assert settings.storage.type == "local"
    assert settings.vector.store == "embedded"
    assert settings.redis.url is None


def test_data_dir_moves_the_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLAIT_DATA_DIR", str(tmp_path / "elsewhere"))
    assert load_settings().database_url == f"sqlite+aiosqlite:///{tmp_path / 'elsewhere' / 'plait.db'}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/plait", "postgresql+asyncpg://u:p@db:5432/plait"),
        ("postgres://u@db/plait", "postgresql+asyncpg://u@db/plait"),
        ("postgresql+psycopg2://u@db/plait", "postgresql+asyncpg://u@db/plait"),
        ("sqlite:////var/lib/plait/plait.db", "sqlite+aiosqlite:////var/lib/plait/plait.db"),
    ],
)
def test_database_urls_get_plaits_drivers(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert load_settings().database_url == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLAIT_PORT", "not-a-port"),
        ("PLAIT_PORT", "70000"),
        ("DATABASE_URL", "mysql://root@localhost/plait"),
        ("LOG_LEVEL", "LOUD"),
        ("DEPLOY_ENV", "staging"),
        ("PLAIT_DB_POOL_SIZE", "0"),
        ("MIGRATION_ENABLED", "perhaps"),
        ("STORAGE_TYPE", "floppy"),
        ("VECTOR_STORE", "abacus"),
        ("REDIS_URL", "http://localhost:6379"),
        ("PLAIT_SESSION_TTL_SECONDS", "-5"),
        ("PLAIT_EGRESS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-network"),
        ("UPLOAD_FILE_SIZE_LIMIT", "0"),
    ],
)
def test_a_malformed_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert variable in raised.value.message


def test_values_are_case_insensitive_where_dify_is() -> None:
    os.environ["LOG_LEVEL"] = "debug"
    os.environ["DEPLOY_ENV"] = "development"
    try:
        settings = load_settings()
    finally:
        del os.environ["LOG_LEVEL"], os.environ["DEPLOY_ENV"]
    assert settings.log.level == "DEBUG"
    assert settings.deploy_env == "DEVELOPMENT"


@pytest.mark.parametrize("secret", ["", "   ", *sorted(KNOWN_DEFAULT_SECRET_KEYS), "too-short-but-not-empty"])
def test_production_refuses_default_or_weak_secret_keys(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("DEPLOY_ENV", "PRODUCTION")
    monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "SECRET_KEY" in raised.value.message
    if len(secret) > 12:  # the value itself is never echoed (short ones are ordinary words)
        assert secret not in raised.value.message


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOY_ENV", "PRODUCTION")
    monkeypatch.setenv("SECRET_KEY", "k" * 12 + "7fK2pQ9xLm4vR8sT1wZ3yB6nC0dE5")
    assert load_settings().production


def test_development_generates_a_private_stable_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    first = resolve_secret_key(settings)
    assert len(first) >= 48
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret_key(settings) == first


def test_an_explicit_secret_key_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PLAIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SECRET_KEY", "operator-chosen-secret")
    assert resolve_secret_key(load_settings()) == "operator-chosen-secret"
    assert not (tmp_path / "data" / "secret_key").exists()


def test_the_cli_stops_with_the_variable_name_and_no_traceback(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLAIT_")}
    env |= {"PLAIT_DATA_DIR": str(tmp_path), "PLAIT_PORT": "eighty"}
    result = subprocess.run(plait_command("apps", "list"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "PLAIT_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_serve_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY",)}
    env |= {"PLAIT_DATA_DIR": str(tmp_path), "DEPLOY_ENV": "PRODUCTION"}
    result = subprocess.run(plait_command("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


def test_egress_networks_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIT_EGRESS_ALLOWED_NETWORKS", " 10.1.2.3/32, fd00::/8 ")
    networks = load_settings().egress.networks()
    assert [str(network) for network in networks] == ["10.1.2.3/32", "fd00::/8"]
