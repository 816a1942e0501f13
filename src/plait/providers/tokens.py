"""Token counting with no network: the BPE vocabularies bundled in ``quicktok``
(cl100k, o200k, Llama 3, Qwen), exact against tiktoken.

Used to size chunks and to report usage when a server reports none. The encoding follows
the model's family: o200k for GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and the o-series, the Llama 3
and Qwen vocabularies when the name says so, cl100k for everything else (the usual
approximation for models whose vocabulary is not bundled).

Only the vocabularies inside the installed package are read. quicktok's ``get_encoding``
falls back to a user cache (``~/.cache/quicktok``, filled from the network by its importer)
for names it does not bundle; Plait loads the bundled ones directly and never reaches it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any, Literal

from plait.providers.base import ChatMessage, ImagePart

Encoding = Literal["cl100k_base", "o200k_base", "llama3", "qwen3"]

_FAMILIES: tuple[tuple[re.Pattern[str], Encoding], ...] = (
    (re.compile(r"^(chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o[1-9])(?!\d)"), "o200k_base"),
    (re.compile(r"llama-?3(?!\d)"), "llama3"),
    (re.compile(r"qwen-?[23](?!\d)|qwq"), "qwen3"),
)

# OpenAI's documented overhead for chat messages ("How to count tokens with tiktoken"):
# each message is wrapped in three tokens, a name costs one more, and every reply is
# primed with three.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_REPLY = 3
# OpenAI prices an image by its tiles: 85 tokens at low detail; a 1024x1024 image at high
# detail is 85 + 4 * 170. The size is unknown here, so that is the estimate.
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS = 765

_ENCODINGS: dict[Encoding, Any] = {}
_ENCODINGS_LOCK = threading.Lock()


def encoding_for(model: str | None) -> Encoding:
    """The bundled encoding that counts ``model``'s tokens (best match by family)."""
    if not model:
        return "cl100k_base"
    name = model.strip().lower().rsplit("/", 1)[-1]
    for pattern, encoding in _FAMILIES:
        if pattern.search(name):
            return encoding
    return "cl100k_base"


def _encoding(name: Encoding) -> Any:
    # Loading a vocabulary takes up to a second or two: once per process, and only once
    # even when threads ask together.
    with _ENCODINGS_LOCK:
        encoding = _ENCODINGS.get(name)
        if encoding is None:
            import quicktok  # type: ignore[import-untyped]

            # The bundled data directory (""), never quicktok's user cache.
            encoding = _ENCODINGS[name] = quicktok.Tokenizer(name, "")
        return encoding


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model`` (cl100k when ``None``). Special-token strings such
    as ``<|endoftext|>`` count as the plain text they are."""
    if not text:
        return 0
    count: int = _encoding(encoding_for(model)).count(text)
    return count


def count_message_tokens(messages: Sequence[ChatMessage], model: str | None = None) -> int:
    """Prompt tokens of a chat request, with OpenAI's per-message overhead. Exact for
    OpenAI's text messages; an estimate for images, tool calls and other vendors."""
    total = TOKENS_PER_REPLY
    for message in messages:
        total += TOKENS_PER_MESSAGE + count_tokens(message.role, model) + count_tokens(message.text, model)
        if message.name:
            total += TOKENS_PER_NAME + count_tokens(message.name, model)
        for call in message.tool_calls:
            total += count_tokens(call.name, model) + count_tokens(call.arguments, model)
        if message.tool_call_id:
            total += count_tokens(message.tool_call_id, model)
        total += sum(_image_tokens(image) for image in message.images)
    return total


def _image_tokens(image: ImagePart) -> int:
    return IMAGE_TOKENS_LOW if image.detail == "low" else IMAGE_TOKENS
