"""Reasoning kept apart from the answer, as Dify's ``reasoning_format`` asks.

Models reason in one of two ways: the provider sends the reasoning separately (DeepSeek's
``reasoning_content``, Anthropic's thinking blocks), or the model writes it inline between
``<think>`` and ``</think>`` in its text (Qwen, DeepSeek-R1 served by vLLM or Ollama).
``separated`` takes both kinds out of the text into ``reasoning_content``; ``tagged`` (Dify's
default) leaves inline tags in the text and puts separately sent reasoning there too, tagged,
so the text reads the same whatever the provider.

:class:`ThinkSplitter` works on a stream: a tag may arrive split across chunks.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Feed text deltas; get back (answer, reasoning) deltas with the tags removed."""

    __slots__ = ("_buffer", "_closed", "_inside")

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False
        # Just after a closing tag: the blank lines a model writes there are not answer.
        self._closed = False

    def feed(self, text: str) -> tuple[str, str]:
        self._buffer += text
        answer: list[str] = []
        reasoning: list[str] = []
        while self._buffer:
            tag = CLOSE if self._inside else OPEN
            index = self._buffer.find(tag)
            if index >= 0:
                self._take(self._buffer[:index], answer, reasoning)
                self._buffer = self._buffer[index + len(tag) :]
                self._closed = self._inside
                self._inside = not self._inside
                continue
            keep = _partial_tag_length(self._buffer, tag)
            ready, self._buffer = self._buffer[: len(self._buffer) - keep], self._buffer[len(self._buffer) - keep :]
            self._take(ready, answer, reasoning)
            break
        return "".join(answer), "".join(reasoning)

    def _take(self, text: str, answer: list[str], reasoning: list[str]) -> None:
        if self._inside:
            reasoning.append(text)
            return
        if self._closed:
            text = text.lstrip()
            self._closed = not text
        answer.append(text)

    def flush(self) -> tuple[str, str]:
        """What is left at the end of the stream (a tag that never completed is text)."""
        rest, self._buffer = self._buffer, ""
        return ("", rest) if self._inside else (rest, "")


def _partial_tag_length(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could start ``tag``."""
    for length in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-length:]):
            return length
    return 0


def split_think(text: str) -> tuple[str, str]:
    """A whole text's answer and reasoning."""
    splitter = ThinkSplitter()
    answer, reasoning = splitter.feed(text)
    rest_answer, rest_reasoning = splitter.flush()
    return answer + rest_answer, (reasoning + rest_reasoning).strip()
