"""Code nodes run with Dify's semantics: main(...) gets the inputs, its dict is the outputs."""

from __future__ import annotations

import asyncio
import time

import pytest

from plait.sandbox import CodeSandbox, InvalidCodeOutput, RuntimeMissing, UserCodeError

from .conftest import LIMITS, needs_node

PY_ECHO = """
def main(text: str, n: int, items: list, obj: dict) -> dict:
    return {"text": text.upper(), "n": n * 2, "f": n / 4, "items": items[::-1], "obj": {"inner": obj}, "none": None}
"""
JS_ECHO = """
function main({text, n, items, obj}) {
  return {text: text.toUpperCase(), n: n * 2, f: n / 4, items: items.slice().reverse(), obj: {inner: obj}, none: null};
}
"""
INPUTS = {"text": "héllo ✓ 日本 🎉", "n": 5, "items": ["a", "b", "c"], "obj": {"k": [1, 2.5, True]}}
EXPECTED = {
    "text": "HÉLLO ✓ 日本 🎉",
    "n": 10,
    "f": 1.25,
    "items": ["c", "b", "a"],
    "obj": {"inner": {"k": [1, 2.5, True]}},
    "none": None,
}


async def test_python_main_gets_inputs_and_returns_outputs(sandbox: CodeSandbox) -> None:
    assert await sandbox.run("python3", PY_ECHO, INPUTS) == EXPECTED


@needs_node
async def test_javascript_main_gets_one_object_argument(sandbox: CodeSandbox) -> None:
    assert await sandbox.run("javascript", JS_ECHO, INPUTS) == EXPECTED


async def test_prints_do_not_corrupt_the_result(sandbox: CodeSandbox) -> None:
    code = """
import sys
def main():
    print('{"outputs": {"forged": 1}}')
    print("\\n" * 100, "noise", file=sys.stderr)
    for _ in range(200):
        sys.stdout.write("x" * 10000)
    return {"ok": True}
"""
    assert await sandbox.run("python3", code, {}) == {"ok": True}


@needs_node
async def test_javascript_console_output_does_not_corrupt_the_result(sandbox: CodeSandbox) -> None:
    code = """
function main() {
  console.log('{"outputs": {"forged": 1}}');
  process.stdout.write('half a line');
  console.error('noise');
  return {ok: true};
}
"""
    assert await sandbox.run("javascript", code, {}) == {"ok": True}


async def test_stdlib_modules_dify_allows_are_available(sandbox: CodeSandbox) -> None:
    code = """
import base64, datetime, hashlib, json, math, random, re
def main(s):
    return {
        "b64": base64.b64encode(s.encode()).decode(),
        "sha": hashlib.sha256(s.encode()).hexdigest()[:8],
        "pi": round(math.pi, 2),
        "m": re.findall(r"\\d", "a1b2"),
        "year": datetime.date(2024, 1, 2).year,
        "j": json.loads('{"a": 1}'),
        "r": random.Random(1).randint(1, 1),
    }
"""
    out = await sandbox.run("python3", code, {"s": "hi"})
    assert out == {"b64": "aGk=", "sha": "8f434346", "pi": 3.14, "m": ["1", "2"], "year": 2024, "j": {"a": 1}, "r": 1}


async def test_user_exception_reports_type_message_and_own_lines_only(sandbox: CodeSandbox) -> None:
    code = "def helper(x):\n    return 1 / x\n\ndef main(x):\n    return {'y': helper(x)}\n"
    with pytest.raises(UserCodeError) as caught:
        await sandbox.run("python3", code, {"x": 0})
    err = caught.value
    assert err.error_type == "ZeroDivisionError"
    assert err.error_message == "division by zero"
    assert "line 2, in helper" in err.traceback
    assert "line 5, in main" in err.traceback
    assert (err.code, err.status, err.reason) == ("code_execution_error", 400, "user_error")
    for leak in ("/work", "/root", "site-packages", "plait", "python_runtime"):
        assert leak not in err.message


@needs_node
async def test_javascript_exception_reports_type_message_and_line(sandbox: CodeSandbox) -> None:
    code = "function main({x}) {\n  if (x) {\n    throw new TypeError('bad x');\n  }\n}\n"
    with pytest.raises(UserCodeError) as caught:
        await sandbox.run("javascript", code, {"x": 1})
    assert caught.value.error_type == "TypeError"
    assert caught.value.error_message == "bad x"
    assert "line 3" in caught.value.traceback
    assert "/work" not in caught.value.message
    assert "node:" not in caught.value.traceback


async def test_missing_main_and_syntax_errors_are_user_errors(sandbox: CodeSandbox) -> None:
    with pytest.raises(UserCodeError, match="must define a function main"):
        await sandbox.run("python3", "x = 1", {})
    with pytest.raises(UserCodeError, match="SyntaxError"):
        await sandbox.run("python3", "def main(:\n", {})


async def test_javascript_without_node_fails_clearly() -> None:
    sandbox = CodeSandbox(LIMITS, node_path="/nonexistent/node")
    assert sandbox.languages() == ["python3"]
    with pytest.raises(RuntimeMissing, match=r"need Node\.js"):
        await sandbox.run("javascript", "function main() { return {} }", {})


async def test_result_must_be_a_dict(sandbox: CodeSandbox) -> None:
    with pytest.raises(InvalidCodeOutput, match="must return a dict"):
        await sandbox.run("python3", "def main():\n    return [1, 2]", {})


async def test_runs_are_concurrent_and_never_block_the_event_loop(sandbox: CodeSandbox) -> None:
    lag = 0.0

    async def ticker() -> None:
        nonlocal lag
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lag = max(lag, time.monotonic() - before - 0.01)

    tick = asyncio.create_task(ticker())
    code = "import time\ndef main(i):\n    time.sleep(0.5)\n    return {'i': i}"
    started = time.monotonic()
    results = await asyncio.gather(*(sandbox.run("python3", code, {"i": i}) for i in range(4)))
    elapsed = time.monotonic() - started
    tick.cancel()
    assert results == [{"i": i} for i in range(4)]
    assert elapsed < 1.8, "four half-second runs should overlap"
    assert lag < 0.2
