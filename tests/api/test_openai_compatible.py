"""The official ``openai`` client against a live ``plait serve``: models, a completion and a
streamed completion from a chatflow app, with the app key as the API key."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from ..conftest import OWNER_EMAIL, OWNER_PASSWORD, free_port, plait_command
from .test_service_chat import CHATFLOW


@pytest.fixture(scope="module")
def live_plait(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real server on a fresh embedded data directory, with a published chatflow and its key."""
    data = tmp_path_factory.mktemp("openai-live")
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY")}
    env |= {"PLAIT_DATA_DIR": str(data), "PLAIT_LOG_FORMAT": "json"}

    def cli(*args: str, stdin: str | None = None) -> str:
        result = subprocess.run(plait_command(*args), env=env, input=stdin, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    cli("setup", "--email", OWNER_EMAIL, "--password", OWNER_PASSWORD)
    app_id = cli("apps", "import", "-", "--publish", stdin=yaml.safe_dump(CHATFLOW))
    key = cli("keys", "create", app_id)
    port = free_port()
    log = (data / "serve.log").open("w")
    server = subprocess.Popen(plait_command("serve", "--port", str(port)), env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.1)
        yield f"{base}/v1", key
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_the_app_is_the_model(live_plait: tuple[str, str]) -> None:
    base_url, key = live_plait
    client = openai.OpenAI(base_url=base_url, api_key=key)
    assert [model.id for model in client.models.list()] == ["Counter"]


def test_a_completion(live_plait: tuple[str, str]) -> None:
    base_url, key = live_plait
    client = openai.OpenAI(base_url=base_url, api_key=key)
    completion = client.chat.completions.create(
        model="Counter",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
    )
    assert completion.choices[0].message.content == "Turn 1. Plait fake reply: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0


def test_a_streamed_completion(live_plait: tuple[str, str]) -> None:
    base_url, key = live_plait
    client = openai.OpenAI(base_url=base_url, api_key=key)
    stream = client.chat.completions.create(
        model="Counter", messages=[{"role": "user", "content": "stream"}], stream=True
    )
    pieces, finish = [], None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == "Turn 1. Plait fake reply: stream"
    assert finish == "stop"


def test_a_wrong_key_is_refused(live_plait: tuple[str, str]) -> None:
    base_url, _ = live_plait
    client = openai.OpenAI(base_url=base_url, api_key="app-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
