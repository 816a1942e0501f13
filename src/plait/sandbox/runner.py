"""``CodeSandbox``: runs a code node's code in a fresh, isolated child process.

The server never executes user code. Each run starts ``isolation.py`` (the launcher) in a
fresh interpreter with a clean environment; the launcher sets up the kernel boundaries it
can (see its docstring) and execs the language runtime, which reads the code and inputs
from stdin and writes one JSON answer to a dedicated result channel; the author's prints go
to a separate, bounded log stream, so they cannot corrupt the answer. The parent side is
pure asyncio and turns every way a run can end (timeout, memory, crash, invalid output,
escape attempt) into a ``CodeExecutionError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from plait.sandbox import isolation, javascript_runtime, seccomp
from plait.sandbox.errors import (
    CodeExecutionError,
    CodeMemoryExceeded,
    CodeTimeout,
    InvalidCodeOutput,
    RuntimeMissing,
    SandboxFailure,
    UserCodeError,
)
from plait.sandbox.limits import MIB, SandboxLimits
from plait.sandbox.output import validate_outputs

log = logging.getLogger(__name__)

Language = Literal["python3", "javascript"]

NODE_CANDIDATES = ("/usr/local/bin/node", "/usr/bin/node", "/bin/node")
SYSTEM_PATHS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
STRONG_LAYERS = ("netns", "mntns", "pidns", "landlock", "seccomp")
RUN_UIDS = (1_800_000_000, 100_000_000)  # root only: a fresh uid per run, far above real accounts
HEADER_LIMIT = 4096
KILL_GRACE_SECONDS = 2.0
MEMORY_MARKERS = ("heap out of memory", "Array buffer allocation failed", "Cannot allocate memory")


def _python_interpreter() -> str:
    """The base interpreter behind this (maybe virtual) environment: -I -S needs no venv."""
    return os.path.realpath(sys.executable)


class CodeSandbox:
    """Runs Dify code-node code (``python3`` or ``javascript``) in an isolated child process.

    ``run`` returns the outputs of ``main`` or raises a ``CodeExecutionError``; it never lets
    a failing child hurt the caller. ``isolation()`` names the kernel layers in force.
    """

    def __init__(
        self, limits: SandboxLimits | None = None, *, node_path: str | None = None, python_path: str | None = None
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._python = python_path or _python_interpreter()
        candidates = (node_path,) if node_path is not None else NODE_CANDIDATES
        self._node = next((p for p in candidates if os.path.isfile(p) and os.access(p, os.X_OK)), None)
        self._python_source = (Path(__file__).with_name("python_runtime.py")).read_text()
        try:
            self._seccomp: str | None = seccomp.build_filter().hex()
        except ValueError:
            self._seccomp = None
        self._layers: list[str] | None = None

    # --- public ---------------------------------------------------------------------------

    async def run(self, language: Language, code: str, inputs: Mapping[str, object]) -> dict[str, object]:
        """Run ``main`` of ``code`` with ``inputs``; return its outputs (Dify semantics)."""
        argv = self._runtime_argv(language)
        try:
            payload = json.dumps(
                {"code": code, "inputs": dict(inputs), "max_output_bytes": self.limits.max_output_bytes},
                allow_nan=False,
            ).encode()
        except (TypeError, ValueError) as exc:
            raise CodeExecutionError(f"The code node's inputs are not JSON-serialisable: {exc}") from None
        workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="plait-sandbox-")
        try:
            return await self._run_in(workdir, language, argv, payload)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    def languages(self) -> list[Language]:
        """The languages this server can run: ``javascript`` needs Node.js."""
        return ["python3", "javascript"] if self._node is not None else ["python3"]

    def isolation(self) -> list[str]:
        """The isolation layers in force (e.g. ``netns``, ``mntns``, ``landlock``, ``seccomp``).

        Taken from the last run, or from one probe launch (about 50 ms, blocking) before any.
        """
        if self._layers is None:
            workdir = tempfile.mkdtemp(prefix="plait-sandbox-")
            try:
                config = self._config(workdir, ["/bin/true"], probe=True)
                done = subprocess.run(  # noqa: S603 - our own launcher, fixed argv
                    self._launcher_argv(config), capture_output=True, env=CLEAN_ENV, timeout=10, check=False
                )
                self._note_layers(json.loads(done.stdout.split(b"\n", 1)[0])["layers"])
            finally:
                shutil.rmtree(workdir, True)
        assert self._layers is not None
        return list(self._layers)

    # --- one run -----------------------------------------------------------------------------

    def _runtime_argv(self, language: str) -> list[str]:
        if language == "python3":
            return [self._python, "-I", "-S", "-B", "-c", self._python_source]
        if language == "javascript":
            if self._node is None:
                raise RuntimeMissing(
                    "JavaScript code nodes need Node.js, which is not installed on this server "
                    "(looked for " + ", ".join(NODE_CANDIDATES) + ")."
                )
            heap_mib = max(16, self.limits.memory_bytes // MIB)
            # No OpenSSL config: without a mount namespace, Landlock would refuse the host's and Node would exit.
            flags = [f"--max-old-space-size={heap_mib}", "--openssl-config=/dev/null", "--no-warnings"]
            return [self._node, *flags, "-e", javascript_runtime.SOURCE]
        raise CodeExecutionError(f"Unsupported code language {language!r}: use python3 or javascript.")

    def _config(self, workdir: str, argv: list[str], *, probe: bool = False) -> dict[str, object]:
        limits = self.limits
        is_node = argv[0] == self._node
        address_space = limits.javascript_address_space_bytes if is_node else limits.memory_bytes
        root, work = os.path.join(workdir, "root"), os.path.join(workdir, "work")
        os.mkdir(root)
        os.mkdir(work)
        os.chmod(workdir, 0o711)  # noqa: S103 - the run's uid must reach work/ when there is no mntns
        uid = None
        if os.geteuid() == 0:
            uid = RUN_UIDS[0] + secrets.randbelow(RUN_UIDS[1])
            try:
                os.chown(work, uid, uid)
            except OSError:  # root of a user namespace that does not map this uid: 65534 or nothing
                uid = None
        prefixes = {sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.dirname(self._python))}
        if self._node is not None:
            prefixes.add(os.path.dirname(os.path.dirname(os.path.realpath(self._node))))
        binds = sorted({*SYSTEM_PATHS, *prefixes}) + list(DEVICES)
        runtime = os.path.realpath(argv[0])
        executables = [runtime, *filter(None, [_elf_interpreter(runtime)])]
        rlimits: dict[str, tuple[int, int]] = {
            "RLIMIT_CPU": (limits.cpu_seconds, limits.cpu_seconds + 1),
            "RLIMIT_AS": (address_space, address_space),
            "RLIMIT_NPROC": (limits.max_processes, limits.max_processes),
            "RLIMIT_NOFILE": (limits.max_open_files, limits.max_open_files),
            "RLIMIT_FSIZE": (limits.max_file_bytes, limits.max_file_bytes),
            "RLIMIT_CORE": (0, 0),
        }
        if is_node:  # V8 reserves gigabytes of address space; bound what it actually writes
            rlimits["RLIMIT_DATA"] = (limits.memory_bytes, limits.memory_bytes)
        return {
            "argv": argv,
            "env": CLEAN_ENV,
            "root": root,
            "workdir": work,
            "binds": binds,
            "read_paths": binds,
            "exec_paths": executables,
            "scratch_bytes": max(limits.max_file_bytes * 4, MIB),
            "uid": uid,
            "gid": uid,
            "rlimits": rlimits,
            "wall_seconds": limits.wall_seconds,
            "seccomp": self._seccomp,
            "probe": probe,
        }

    def _launcher_argv(self, config: dict[str, object]) -> list[str]:
        return [self._python, "-I", "-S", "-B", isolation.__file__, json.dumps(config)]

    async def _run_in(self, workdir: str, language: str, argv: list[str], payload: bytes) -> dict[str, object]:
        limits = self.limits
        config = await asyncio.to_thread(self._config, workdir, argv)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *self._launcher_argv(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=CLEAN_ENV,
            cwd=workdir,
            start_new_session=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        result_limit = HEADER_LIMIT + limits.max_output_bytes
        tasks = (
            asyncio.ensure_future(_feed(proc.stdin, payload)),
            asyncio.ensure_future(_read_bounded(proc.stdout, result_limit, drain=False)),
            asyncio.ensure_future(_read_bounded(proc.stderr, limits.max_log_bytes, drain=True)),
        )
        try:
            async with asyncio.timeout(limits.wall_seconds + KILL_GRACE_SECONDS):
                result, overflow = await tasks[1]
                if overflow:
                    await _stop(proc)
                logs, _ = await tasks[2]
                returncode = await proc.wait()
        except TimeoutError:
            await _stop(proc)
            raise CodeTimeout(f"The code ran longer than {_seconds(limits.wall_seconds)} and was stopped.") from None
        finally:
            for task in tasks:
                task.cancel()
            await _stop(proc)
            await _close_pipes(proc)
        elapsed = time.monotonic() - started
        header, _, body = result.partition(b"\n")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            self._note_layers(json.loads(header)["layers"])
        if overflow:
            raise InvalidCodeOutput(f"The output is larger than the limit of {limits.max_output_bytes} bytes.")
        return self._verdict(language, returncode, body, logs, elapsed)

    def _verdict(self, language: str, returncode: int, body: bytes, logs: bytes, elapsed: float) -> dict[str, object]:
        limits = self.limits
        text = logs.decode("utf-8", "replace")
        if returncode == isolation.EXIT_TIMEOUT and elapsed >= limits.wall_seconds * 0.9:
            raise CodeTimeout(f"The code ran longer than {_seconds(limits.wall_seconds)} and was stopped.")
        if returncode == 128 + signal.SIGXCPU or (returncode == 128 + signal.SIGKILL and elapsed >= limits.cpu_seconds):
            raise CodeTimeout(f"The code used more than {_seconds(limits.cpu_seconds)} of CPU time and was stopped.")
        if any(marker in text for marker in MEMORY_MARKERS):
            raise CodeMemoryExceeded(f"The code used more than the memory limit of {limits.memory_bytes // MIB} MiB.")
        if not body:
            if returncode == isolation.EXIT_SETUP_FAILED:
                log.error("sandbox setup failed: %s", text[-2000:])
                raise SandboxFailure("The code sandbox could not start; see the server log.")
            what = (
                f"was killed by signal {returncode - 128}" if returncode > 128 else f"exited with status {returncode}"
            )
            raise SandboxFailure(f"The {language} process {what} before returning a result.")
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            raise InvalidCodeOutput("The code's result could not be read as JSON.") from None
        if not isinstance(answer, dict):
            raise InvalidCodeOutput("The code's result could not be read.")
        if "error" in answer:
            raise _error_from(answer["error"], limits)
        if "outputs" not in answer:
            raise InvalidCodeOutput("main() must return a dict (an object in JavaScript), not undefined")
        return validate_outputs(answer["outputs"], limits)

    def _note_layers(self, layers: object) -> None:
        if not isinstance(layers, list) or layers == self._layers:
            return
        self._layers = [str(layer) for layer in layers]
        missing = [layer for layer in STRONG_LAYERS if layer not in self._layers]
        if missing:
            log.warning("code sandbox degraded: no %s; in force: %s", ", ".join(missing), ", ".join(self._layers))
        else:
            log.info("code sandbox layers: %s", ", ".join(self._layers))


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def _elf_interpreter(path: str) -> str | None:
    """The dynamic loader an ELF executable names (PT_INTERP): the only other file it may exec."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only, as are our syscall tables
                return None
            order = "<" if head[5] == 1 else ">"
            phoff, phentsize, phnum = (
                struct.unpack_from(order + "Q", head, 32)[0],
                *struct.unpack_from(order + "HH", head, 54),
            )
            for index in range(phnum):
                f.seek(phoff + index * phentsize)
                p_type, _, p_offset, _, _, p_filesz = struct.unpack(order + "IIQQQQ", f.read(40))
                if p_type == 3:  # PT_INTERP
                    f.seek(p_offset)
                    return os.path.realpath(f.read(p_filesz).rstrip(b"\0").decode())
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def _error_from(error: object, limits: SandboxLimits) -> CodeExecutionError:
    if not isinstance(error, dict):
        return InvalidCodeOutput("The code's result could not be read.")
    kind, name = str(error.get("kind", "")), str(error.get("type", "Error"))[:100]
    message, trace = str(error.get("message", ""))[:2000], str(error.get("traceback", ""))[:4000]
    if name == "MemoryError" or any(marker in message for marker in MEMORY_MARKERS):
        return CodeMemoryExceeded(f"The code used more than the memory limit of {limits.memory_bytes // MIB} MiB.")
    if kind == "output":
        return InvalidCodeOutput(f"The code's result is not valid output: {message}")
    text = f"{name}: {message}" + (f"\n{trace}" if trace else "")
    return UserCodeError(text, error_type=name, error_message=message, traceback=trace)


async def _feed(stdin: asyncio.StreamWriter, payload: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(payload)
        await stdin.drain()
        stdin.close()


async def _read_bounded(stream: asyncio.StreamReader, limit: int, *, drain: bool) -> tuple[bytes, bool]:
    """Read up to ``limit`` bytes; past it, keep draining (logs) or stop (result) and say so."""
    chunks: list[bytes] = []
    size, overflow = 0, False
    while chunk := await stream.read(65536):
        if size < limit:
            chunks.append(chunk[: limit - size])
        size += len(chunk)
        if size > limit:
            overflow = True
            if not drain:
                break
    return b"".join(chunks), overflow


async def _close_pipes(proc: asyncio.subprocess.Process) -> None:
    """Read what a killed run left in its pipes, so the transport closes inside the loop."""
    if proc.stdin is not None:
        proc.stdin.close()
    for stream in (proc.stdout, proc.stderr):
        if stream is None:
            continue
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(KILL_GRACE_SECONDS):
                while await stream.read(65536):
                    pass


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Ask the launcher to kill the run (it reaps the whole group); force it after a grace period."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE_SECONDS):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
