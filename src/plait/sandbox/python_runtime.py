"""The Python side of a code run, executed inside the sandbox as ``python -I -S -B -c SOURCE``.

Standard library only and self-contained: the server passes this file's text, not its path,
so nothing of the server's tree needs to be visible in the sandbox. It reads one JSON
payload ``{"code", "inputs", "max_output_bytes"}`` from stdin, runs the author's module in a
fresh namespace, calls ``main(**inputs)`` and writes one JSON document to the result fd::

    {"outputs": <what main returned>}
    {"error": {"kind": "user" | "output", "type", "message", "traceback"}}

The server re-validates everything: this process is untrusted once user code has run.
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import sys
import traceback

RESULT_FD = 3
CODE_FILENAME = "<code>"
MAX_FRAMES = 5
MAX_MESSAGE = 2000


def _user_traceback(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == CODE_FILENAME][-MAX_FRAMES:]
    return "\n".join(f"  line {f.lineno}, in {f.name}: {(f.line or '').strip()}" for f in frames)


def _error(kind: str, exc: BaseException) -> dict[str, object]:
    message = str(exc)[:MAX_MESSAGE]
    if isinstance(exc, SyntaxError) and exc.filename == CODE_FILENAME:
        message = f"{exc.msg} (line {exc.lineno})"
    return {"error": {"kind": kind, "type": type(exc).__name__, "message": message, "traceback": _user_traceback(exc)}}


def _run(payload: dict[str, object]) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    code = str(payload["code"])
    linecache.cache[CODE_FILENAME] = (len(code), None, code.splitlines(True), CODE_FILENAME)  # source in tracebacks
    try:
        exec(compile(code, CODE_FILENAME, "exec"), namespace)  # noqa: S102 - this is the sandbox
        main = namespace.get("main")
        if not callable(main):
            raise NameError("the code must define a function main(...)")
        inputs = payload["inputs"]
        assert isinstance(inputs, dict)
        result = main(**inputs)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are the author's errors too
        return _error("user", exc)
    return {"outputs": result}


def _encode(answer: dict[str, object], limit: int | None) -> bytes:
    """Serialise piecewise, giving up as soon as the size passes ``limit`` (no 100 MB copies)."""
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
    parts: list[bytes] = []
    size = 0
    for chunk in encoder.iterencode(answer):
        size += len(chunk)  # characters: a lower bound of the UTF-8 size, checked before encoding
        if limit is not None and size > limit:
            raise ValueError(f"the output is larger than the limit of {limit} bytes")
        parts.append(chunk.encode())
    data = b"".join(parts)
    if limit is not None and len(data) > limit:
        raise ValueError(f"the output is larger than the limit of {limit} bytes")
    return data


def main() -> None:
    pid = os.getpid()
    payload = json.loads(sys.stdin.buffer.read())
    answer = _run(payload)
    if os.getpid() != pid:  # a fork of the author's returned here: only the first process answers
        os._exit(0)
    limit = payload.get("max_output_bytes")
    try:
        data = _encode(answer, limit if isinstance(limit, int) else None)
    except (TypeError, ValueError, RecursionError) as exc:
        data = json.dumps(_error("output", exc)).encode()
    except MemoryError as exc:
        data = json.dumps(_error("user", exc)).encode()
    sys.stdout.flush()
    view = memoryview(data)
    while view:
        view = view[os.write(RESULT_FD, view) :]


if __name__ == "__main__":
    main()
