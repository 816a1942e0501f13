"""Errors a code node run can end with.

Everything the sandboxed code does wrong, and everything the sandbox stops it from doing,
ends as one ``CodeExecutionError`` (400 ``code_execution_error``): the workflow author's
code failed, not the server. ``reason`` says why, for the run log and for tests::

    CodeExecutionError                reason
    ├── CodeTimeout                   "timeout"          wall clock or CPU seconds spent
    ├── CodeMemoryExceeded            "memory"           the memory limit was hit
    ├── InvalidCodeOutput             "invalid_output"   not a dict, not JSON, over a limit, too large
    ├── UserCodeError                 "user_error"       main() raised; type, message, short traceback
    ├── RuntimeMissing                "runtime_missing"  no interpreter for the language (node)
    └── SandboxFailure                "sandbox_failure"  the child crashed or could not start
"""

from __future__ import annotations

from plait.errors import PlaitError


class CodeExecutionError(PlaitError):
    """A code node's code could not run to a valid result."""

    code = "code_execution_error"
    status = 400
    reason: str = "sandbox_failure"


class CodeTimeout(CodeExecutionError):
    reason = "timeout"


class CodeMemoryExceeded(CodeExecutionError):
    reason = "memory"


class InvalidCodeOutput(CodeExecutionError):
    reason = "invalid_output"


class UserCodeError(CodeExecutionError):
    """``main`` (or the module body) raised. The traceback lists the author's lines only."""

    reason = "user_error"

    def __init__(self, message: str, *, error_type: str, error_message: str, traceback: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class RuntimeMissing(CodeExecutionError):
    reason = "runtime_missing"


class SandboxFailure(CodeExecutionError):
    reason = "sandbox_failure"
