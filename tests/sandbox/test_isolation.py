"""The kernel layers in force. In CI (Linux, root) the strong path must be the one taken."""

from __future__ import annotations

import os
import sys

import pytest

from plait.sandbox import CodeSandbox
from plait.sandbox.seccomp import build_filter, supported_arch

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox isolates with Linux kernel features")


async def test_network_and_filesystem_isolation_are_active(sandbox: CodeSandbox) -> None:
    await sandbox.run("python3", "def main():\n    return {}", {})
    layers = set(sandbox.isolation())
    assert {"netns", "seccomp", "rlimits"} <= layers, layers
    assert {"mntns", "landlock"} <= layers, layers
    if os.geteuid() == 0:
        assert {"uid", "pidns"} <= layers, layers


def test_isolation_probe_before_any_run(sandbox: CodeSandbox) -> None:
    assert "netns" in sandbox.isolation()


async def test_the_child_runs_as_an_unprivileged_user_in_an_empty_world(sandbox: CodeSandbox) -> None:
    code = """
import os, socket
def main():
    paths = ("/etc/passwd", "/etc/shadow", "/home", "/proc", "/root/.ssh", "/work", "/var", "/sys", "/run")
    seen = [p for p in paths if os.path.exists(p)]
    return {"uid": os.getuid(), "pid": os.getpid(), "seen": seen, "cwd": os.getcwd()}
"""
    out = await sandbox.run("python3", code, {})
    assert out["uid"] != 0
    assert out["pid"] == 2  # in its own PID namespace, under an init that reaps it
    assert out["seen"] == []
    assert out["cwd"] == "/tmp"


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_seccomp_filter_builds_for_both_arches(machine: str) -> None:
    program = build_filter(machine)
    assert len(program) % 8 == 0
    assert 0 < len(program) // 8 < 4096
    assert supported_arch(machine)


def test_unknown_arch_has_no_filter() -> None:
    assert not supported_arch("riscv64")
    with pytest.raises(ValueError, match="riscv64"):
        build_filter("riscv64")
