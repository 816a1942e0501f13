"""Code execution for code nodes, in a separate, kernel-isolated, resource-limited process.

    sandbox = CodeSandbox(SandboxLimits(wall_seconds=5))
    outputs = await sandbox.run("python3", "def main(a):\n    return {'b': a + 1}", {"a": 1})

See ``runner`` for the flow, ``isolation`` for the layers, ``errors`` for how runs fail.
"""

from plait.sandbox.errors import (
    CodeExecutionError,
    CodeMemoryExceeded,
    CodeTimeout,
    InvalidCodeOutput,
    RuntimeMissing,
    SandboxFailure,
    UserCodeError,
)
from plait.sandbox.limits import SandboxLimits
from plait.sandbox.runner import CodeSandbox

__all__ = [
    "CodeExecutionError",
    "CodeMemoryExceeded",
    "CodeSandbox",
    "CodeTimeout",
    "InvalidCodeOutput",
    "RuntimeMissing",
    "SandboxFailure",
    "SandboxLimits",
    "UserCodeError",
]
