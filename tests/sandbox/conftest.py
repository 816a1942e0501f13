"""Fixtures for the code sandbox tests: small limits so every escape attempt ends in seconds."""

from __future__ import annotations

import pytest

from plait.sandbox import CodeSandbox, SandboxLimits
from plait.sandbox.limits import MIB

LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=3, memory_bytes=256 * MIB, max_output_bytes=1 * MIB)
HAS_NODE = "javascript" in CodeSandbox(LIMITS).languages()
needs_node = pytest.mark.skipif(not HAS_NODE, reason="Node.js is not installed")


@pytest.fixture
def sandbox() -> CodeSandbox:
    return CodeSandbox(LIMITS)
