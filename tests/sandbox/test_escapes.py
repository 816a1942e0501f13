"""Escape attempts: each ends as a CodeExecutionError or a result proving no access, and the
server stays healthy (security-lessons.md, first row). The boundary under test is the kernel
(namespaces, Landlock, seccomp, rlimits, uid), not a blacklist: no attempt is refused by name."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from plait.sandbox import (
    CodeExecutionError,
    CodeMemoryExceeded,
    CodeSandbox,
    CodeTimeout,
    InvalidCodeOutput,
    UserCodeError,
)

from .conftest import LIMITS, needs_node

CANARY = "PLAIT_CANARY_SECRET"


class Listener:
    """A TCP server in the test process: the sandbox must never reach it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    target = Listener()
    server = await asyncio.start_server(target._accept, "127.0.0.1", 0)
    target.port = server.sockets[0].getsockname()[1]
    async with server:
        yield target
        await asyncio.sleep(0.05)  # a connection made at the last moment would be counted by now


async def _py(sandbox: CodeSandbox, body: str, **inputs: object) -> dict[str, object]:
    return await sandbox.run("python3", body, inputs)


# --- processes ----------------------------------------------------------------------------------


async def test_os_system_cannot_run_a_shell(sandbox: CodeSandbox) -> None:
    out = await _py(sandbox, "import os\ndef main():\n    return {'status': os.system('id')}")
    assert out["status"] != 0


async def test_subprocess_cannot_exec_anything(sandbox: CodeSandbox) -> None:
    code = "import subprocess\ndef main():\n    return {'out': subprocess.run(['id'], capture_output=True).stdout}"
    with pytest.raises(UserCodeError) as caught:
        await _py(sandbox, code)
    assert caught.value.error_type in {"PermissionError", "FileNotFoundError"}


async def test_ctypes_libc_system_is_contained(sandbox: CodeSandbox, tmp_path: Path) -> None:
    marker = tmp_path / "ctypes-pwned"
    code = f"""
import ctypes
def main():
    libc = ctypes.CDLL(None)
    status = libc.system(b"touch {marker}")
    fd = libc.socket(2, 1, 0)
    return {{"status": status, "socket": fd, "errno": ctypes.get_errno()}}
"""
    out = await _py(sandbox, code)
    assert out["status"] != 0
    assert out["socket"] == -1
    assert not marker.exists()


async def test_importlib_and_subclass_walks_reach_only_a_jailed_os(sandbox: CodeSandbox) -> None:
    code = """
import importlib
def main():
    os1 = importlib.import_module("os")
    wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close"][0]
    os2 = wrap.__init__.__globals__["sys"].modules["os"]
    popen = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "Popen"]
    return {
        "system": os1.system("cat /etc/passwd"),
        "same": os1 is os2,
        "popen": len(popen),
        "spawn": os2.spawnv(os2.P_WAIT, "/bin/sh", ["sh", "-c", "id"]),
    }
"""
    out = await _py(sandbox, code)
    assert out["same"] is True
    assert out["system"] != 0
    assert out["spawn"] != 0


async def test_fork_bomb_fails_and_the_server_survives(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeExecutionError):
        await _py(sandbox, "import os\ndef main():\n    while True:\n        os.fork()")


# --- network ------------------------------------------------------------------------------------


async def test_socket_connect_to_the_host_fails(sandbox: CodeSandbox, listener: Listener) -> None:
    code = "import socket\ndef main(port):\n    socket.create_connection(('127.0.0.1', port), timeout=1)\n    return {}"
    with pytest.raises(UserCodeError) as caught:
        await _py(sandbox, code, port=listener.port)
    assert caught.value.error_type == "PermissionError"
    assert listener.connections == 0


async def test_urllib_cannot_fetch(sandbox: CodeSandbox, listener: Listener) -> None:
    code = "import urllib.request\ndef main(url):\n    return {'b': urllib.request.urlopen(url, timeout=1).read()}"
    with pytest.raises(UserCodeError, match="URLError"):
        await _py(sandbox, code, url=f"http://127.0.0.1:{listener.port}/")
    assert listener.connections == 0


# --- files and environment ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/etc/passwd", "/proc/1/environ", "/proc/self/environ", str(Path.cwd())])
async def test_host_files_are_not_readable(sandbox: CodeSandbox, path: str) -> None:
    code = "import os\ndef main(path):\n"
    code += "    return {'d': os.listdir(path) if os.path.isdir(path) else open(path).read()}"
    with pytest.raises(UserCodeError) as caught:
        await _py(sandbox, code, path=path)
    assert caught.value.error_type in {"FileNotFoundError", "PermissionError"}


async def test_the_server_environment_is_invisible(sandbox: CodeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(8)
    monkeypatch.setenv(CANARY, secret)
    monkeypatch.setenv("SECRET_KEY", secret)
    code = "import os\ndef main():\n    return {'env': dict(os.environ)}"
    out = await _py(sandbox, code)
    assert secret not in repr(out)
    assert set(out["env"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "LC_CTYPE"}  # type: ignore[arg-type]


async def test_writes_land_in_a_private_scratch_dir_only(sandbox: CodeSandbox, tmp_path: Path) -> None:
    name = f"/tmp/plait-pwned-{secrets.token_hex(4)}"
    code = f"""
def main(outside):
    open("{name}", "w").write("x")
    results = {{}}
    for path in ("/usr/pwned", outside, "/pwned"):
        try:
            open(path, "w").write("x")
            results[path] = "written"
        except OSError as exc:
            results[path] = type(exc).__name__
    return results
"""
    outside = str(tmp_path / "pwned")
    out = await _py(sandbox, code, outside=outside)
    assert "written" not in out.values()
    assert not os.path.exists(name)
    assert not os.path.exists(outside)


# --- resources ----------------------------------------------------------------------------------


async def test_memory_bomb_is_a_memory_error(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeMemoryExceeded):
        await _py(sandbox, "def main():\n    block = bytearray(2 * 1024**3)\n    return {'n': len(block)}")


async def test_busy_loop_hits_the_cpu_limit(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeTimeout, match="CPU"):
        await _py(sandbox, "def main():\n    while True:\n        pass")


async def test_sleeping_forever_hits_the_wall_clock(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeTimeout, match="longer than 3 seconds"):
        await _py(sandbox, "import time\ndef main():\n    time.sleep(60)")


async def test_ignoring_sigxcpu_still_ends(sandbox: CodeSandbox) -> None:
    code = (
        "import signal\ndef main():\n    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n    while True:\n        pass"
    )
    with pytest.raises(CodeTimeout):
        await _py(sandbox, code)


async def test_deep_recursion_is_an_error(sandbox: CodeSandbox) -> None:
    with pytest.raises(UserCodeError, match="RecursionError"):
        await _py(sandbox, "def main():\n    return main()")
    code = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\n"
    code += "def main():\n    return {'x': f(0)}"
    with pytest.raises(CodeExecutionError):
        await _py(sandbox, code)


# --- output -------------------------------------------------------------------------------------


async def test_a_100_mb_output_is_refused() -> None:
    sandbox = CodeSandbox(replace(LIMITS, cpu_seconds=3, wall_seconds=5))  # building 100 MB takes a while
    with pytest.raises(InvalidCodeOutput, match="limit"):
        await _py(sandbox, "def main():\n    return {'x': 'a' * 100_000_000}")


async def test_writing_100_mb_to_the_result_channel_is_cut_off(sandbox: CodeSandbox) -> None:
    code = "import os\ndef main():\n    chunk = b'a' * 1_000_000\n    for _ in range(100):\n        os.write(3, chunk)"
    with pytest.raises(InvalidCodeOutput, match="larger than the limit"):
        await _py(sandbox, code)


async def test_100_mb_of_prints_is_dropped(sandbox: CodeSandbox) -> None:
    code = "import sys\ndef main():\n"
    code += "    for _ in range(100):\n        sys.stdout.write('p' * 10**6)\n    return {'ok': 1}"
    assert await _py(sandbox, code) == {"ok": 1}


# --- JavaScript ---------------------------------------------------------------------------------


@needs_node
async def test_js_child_process_cannot_exec(sandbox: CodeSandbox) -> None:
    code = "function main() { return {out: require('child_process').execSync('id').toString()}; }"
    with pytest.raises(UserCodeError):
        await sandbox.run("javascript", code, {})


@needs_node
async def test_js_cannot_read_etc_passwd(sandbox: CodeSandbox) -> None:
    code = "function main() { return {p: require('fs').readFileSync('/etc/passwd', 'utf8')}; }"
    with pytest.raises(UserCodeError, match=r"ENOENT|EACCES"):
        await sandbox.run("javascript", code, {})


@needs_node
async def test_js_net_connect_fails(sandbox: CodeSandbox, listener: Listener) -> None:
    code = """
function main({port}) {
  return new Promise((resolve, reject) => {
    const socket = require('net').connect(port, '127.0.0.1', () => resolve({connected: true}));
    socket.on('error', reject);
  });
}
"""
    with pytest.raises(UserCodeError, match=r"EPERM|EACCES"):
        await sandbox.run("javascript", code, {"port": listener.port})
    assert listener.connections == 0


@needs_node
async def test_js_busy_loop_is_stopped(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeTimeout):
        await sandbox.run("javascript", "function main() { while (true) {} }", {})


@needs_node
@pytest.mark.parametrize(
    "body",
    [
        "const a = []; while (true) { a.push(new Array(1e6).fill(1.5)); }",
        "return {n: Buffer.alloc(2 * 1024 ** 3).length};",
    ],
)
async def test_js_memory_bombs_are_memory_errors(sandbox: CodeSandbox, body: str) -> None:
    with pytest.raises(CodeMemoryExceeded):
        await sandbox.run("javascript", f"function main() {{ {body} }}", {})


@needs_node
async def test_js_process_env_is_clean(sandbox: CodeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(8)
    monkeypatch.setenv(CANARY, secret)
    out = await sandbox.run("javascript", "function main() { return {env: process.env}; }", {})
    assert secret not in repr(out)
    assert CANARY not in out["env"]  # type: ignore[operator]


# --- and afterwards -----------------------------------------------------------------------------


async def test_the_server_is_healthy_after_the_escape_suite(sandbox: CodeSandbox) -> None:
    assert await _py(sandbox, "def main(a):\n    return {'a': a}", a=1) == {"a": 1}
    assert os.environ.get(CANARY) is None
