"""Offline token counting: known counts per encoding, the model families, OpenAI's chat
overhead, and proof that counting reads nothing but the vocabularies in the package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plait.providers.base import ChatMessage, ImagePart, TextPart, ToolCall
from plait.providers.tokens import IMAGE_TOKENS, IMAGE_TOKENS_LOW, count_message_tokens, count_tokens, encoding_for


def test_known_counts_in_cl100k() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("hello world", "gpt-4") == 2
    # OpenAI's cookbook ("How to count tokens with tiktoken"): [83, 1609, 5963, 374, 2294, 0].
    assert count_tokens("tiktoken is great!", "gpt-3.5-turbo") == 6
    assert count_tokens("") == 0


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        (None, "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-5", "cl100k_base"),
        ("deepseek-chat", "cl100k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.1-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("openai/gpt-oss-20b", "o200k_base"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama3"),
        ("llama3.2:3b", "llama3"),
        ("llama-30b", "cl100k_base"),
        ("Qwen/Qwen2.5-7B-Instruct", "qwen3"),
        ("qwen3-235b-a22b", "qwen3"),
        ("qwq-32b", "qwen3"),
        ("ollama-model", "cl100k_base"),
    ],
)
def test_the_encoding_follows_the_model_family(model: str | None, encoding: str) -> None:
    assert encoding_for(model) == encoding


def test_cjk_text_counts_per_encoding() -> None:
    text = "你好，世界"  # noqa: RUF001 (a Chinese comma, on purpose)
    # tiktoken: cl100k encodes 你好 as [57668, 53901]; the newer vocabularies hold whole words.
    assert count_tokens("你好") == 2
    assert count_tokens(text) == 6
    assert count_tokens(text, "gpt-4o") == 3
    assert count_tokens(text, "qwen2.5-72b") == 3
    assert count_tokens(text, "llama-3.3-70b") == 4


def test_special_token_strings_count_as_text() -> None:
    # A prompt may quote "<|endoftext|>": counted as the characters it is, never refused.
    assert count_tokens("hello world <|endoftext|>") == 8


# The cookbook's example conversation, whose counts OpenAI's API confirms: 129 prompt tokens
# for gpt-3.5-turbo and gpt-4, 124 for gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES = [
    ChatMessage(
        "system", "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."
    ),
    ChatMessage("system", "New synergies will help drive top-line growth.", name="example_user"),
    ChatMessage("system", "Things working well together will increase revenue.", name="example_assistant"),
    ChatMessage(
        "system",
        "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
        name="example_user",
    ),
    ChatMessage("system", "Let's talk later when we're less busy about how to do better.", name="example_assistant"),
    ChatMessage("user", "This late pivot means we don't have time to boil the ocean for the client deliverable."),
]


@pytest.mark.parametrize(("model", "expected"), [("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4o", 124)])
def test_message_overhead_matches_openai(model: str, expected: int) -> None:
    assert count_message_tokens(COOKBOOK_MESSAGES, model) == expected


def test_images_and_tool_calls_are_estimated() -> None:
    text_only = count_message_tokens([ChatMessage("user", "What is this?")])
    with_images = count_message_tokens(
        [
            ChatMessage(
                "user",
                (
                    TextPart("What is this?"),
                    ImagePart("https://x.test/a.png", "low"),
                    ImagePart("https://x.test/b.png"),
                ),
            )
        ]
    )
    assert with_images == text_only + IMAGE_TOKENS_LOW + IMAGE_TOKENS
    call = ToolCall("call_1", "get_weather", '{"city": "Paris"}')
    plain = count_message_tokens([ChatMessage("assistant", "")])
    calling = count_message_tokens([ChatMessage("assistant", "", tool_calls=(call,))])
    assert calling == plain + count_tokens("get_weather") + count_tokens('{"city": "Paris"}')
    assert count_message_tokens([]) == 3  # the reply's priming


# Runs in a fresh interpreter: an audit hook (which cannot be removed again) records every
# socket the Python side opens and every module that could download; the user caches
# quicktok knows ($QUICKTOK_DATA, ~/.cache/quicktok) hold broken vocabularies, so reading
# them would fail or change the counts.
NO_NETWORK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    events = []
    WATCHED = {"quicktok.importer", "urllib.request", "huggingface_hub", "requests", "httpx"}

    def audit(event, args):
        if event.startswith("socket.") or (event == "import" and args[0] in WATCHED):
            events.append(f"{event} {args[0]!r}")

    sys.addaudithook(audit)
    from plait.providers.tokens import count_tokens
    counts = {str(model): count_tokens("hello world 你好", model) for model in (None, "gpt-4o", "llama-3", "qwen3")}
    print(json.dumps({"counts": counts, "events": events}))
    """
)


def test_counting_needs_no_network_and_no_download_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for cache in (home / ".cache" / "quicktok", tmp_path / "quicktok-data"):
        cache.mkdir(parents=True)
        for name in ("cl100k", "o200k", "llama3", "qwen3"):
            (cache / f"{name}.vocab").write_text("broken\n")
            (cache / f"{name}.special").write_text("broken\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "QUICKTOK_DATA": str(tmp_path / "quicktok-data"),
        # Any proxy would be a way out; there is none to use.
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    command = [sys.executable, "-c", NO_NETWORK_SCRIPT]
    # Where the machine allows it, in a network namespace of its own: not even loopback.
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        command = [unshare, "--net", *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["events"] == []
    assert report["counts"] == {"None": 5, "gpt-4o": 4, "llama-3": 4, "qwen3": 4}
