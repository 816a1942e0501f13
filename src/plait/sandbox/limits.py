"""Limits of one code run.

The output limits are Dify's (``CODE_MAX_STRING_LENGTH`` 400000, depth 5, 30 items for
arrays of strings or objects, 1000 for arrays of numbers) so that workflows imported from
Dify behave the same; the process limits are Plait's, enforced by the kernel in the child.
"""

from __future__ import annotations

from dataclasses import dataclass

from plait.errors import ConfigurationError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource and output limits for one run. Every value must be positive."""

    cpu_seconds: int = 5
    """CPU time of the child (RLIMIT_CPU); SIGXCPU then SIGKILL one second later."""
    wall_seconds: float = 10.0
    """Wall-clock time of the whole run, enforced by the launcher and again by the server."""
    memory_bytes: int = 256 * MIB
    """Address space of a Python child (RLIMIT_AS); the V8 heap and data size of a Node child."""
    javascript_address_space_bytes: int = 4096 * MIB
    """RLIMIT_AS of a Node child: V8 reserves far more address space than it uses."""
    max_processes: int = 32
    """RLIMIT_NPROC: processes and threads of the run's user (Node alone uses about a dozen threads)."""
    max_open_files: int = 64
    max_file_bytes: int = 16 * MIB
    """RLIMIT_FSIZE: the largest file the code may write in its temp dir."""
    max_output_bytes: int = 1 * MIB
    """Size of the serialised result; the child is killed as soon as it writes more."""
    max_log_bytes: int = 64 * 1024
    """print()/console.log output kept for diagnostics; the rest is read and dropped."""
    max_string_length: int = 400_000
    max_depth: int = 5
    max_array_items: int = 30
    """Arrays of strings, objects or mixed values."""
    max_number_array_items: int = 1000

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not value > 0:
                raise ConfigurationError(f"sandbox limit {name} must be positive, got {value!r}")
