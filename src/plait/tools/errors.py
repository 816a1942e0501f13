"""What can go wrong with a tool, in Plait's terms.

Every tool (built-in, OpenAPI, MCP) raises one of these, never a library's exception, and
the message is written for the workflow's author: it names the tool and, where there is
one, the parameter or the place in the schema, and never carries a credential.

    ToolError                    400 tool_error                (never raised itself)
    ├── ToolNotFound             404 tool_not_found            unknown provider or tool name
    ├── ToolArgumentError        400 invalid_tool_parameter    ``parameter``: the argument at fault
    ├── ToolDefinitionError      400 invalid_tool_definition   ``path``: where in the schema/config
    ├── ToolCallFailed           502 tool_call_failed          ``remote_status``: the remote HTTP status
    └── ToolTimeout              504 tool_timeout              retryable
"""

from __future__ import annotations

from plait.errors import PlaitError


class ToolError(PlaitError):
    """A tool could not be found, configured or run."""

    code = "tool_error"
    status = 400
    retryable = False


class ToolNotFound(ToolError):
    code = "tool_not_found"
    status = 404


class ToolArgumentError(ToolError):
    """An argument is missing, of the wrong type or out of range; ``parameter`` names it
    (None when the problem is the arguments as a whole)."""

    code = "invalid_tool_parameter"

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ToolDefinitionError(ToolError):
    """A tool provider's definition is unusable: an OpenAPI document, a credentials config.
    ``path`` points into it, JSON-pointer style (``paths./pets/{id}.get``)."""

    code = "invalid_tool_definition"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ToolCallFailed(ToolError):
    """The tool ran and failed: the remote API answered an error, refused, or was unreachable.
    ``remote_status`` is the remote HTTP status when there was one; 5xx and unreachable are retryable."""

    code = "tool_call_failed"
    status = 502

    def __init__(self, message: str, *, remote_status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.remote_status = remote_status
        self.retryable = retryable


class ToolTimeout(ToolError):
    code = "tool_timeout"
    status = 504
    retryable = True
