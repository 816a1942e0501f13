"""Question-answer pairs from chunks, for ``doc_form: qa_model`` documents.

Dify's Q&A mode asks a chat model, chunk by chunk, for questions the text answers, and
indexes each question as a segment whose ``answer`` is the model's answer. Retrieval then
matches user questions against generated questions. :func:`generate_qa` does that with any
:class:`~plait.providers.base.ChatModel`: a bounded number of chunks in flight at once,
pairs returned in the chunks' order.

The prompt (in Plait's words) asks for the strict ``Q1: ... A1: ...`` form Dify parses; the
reader is more forgiving than Dify's single regular expression, because models decorate:
``**Q1:**``, ``Q1.``, ``Question 1:``, ``- Q:``, full-width colons, Chinese ``问/答``
labels, and answers over several lines (or with lists) are all read. An unnumbered label
counts only at the start of a line, so an ``A:`` inside an answer's sentence stays text.

A chunk whose reply holds no pair is an error (:class:`QAGenerationFailed`), not an empty
result: Dify logs it and silently indexes nothing for that chunk; Plait ends the document
in error with a message that says which chunk and what the model wrote. Model errors
(:mod:`plait.providers.errors`) pass through unchanged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

from plait.errors import PlaitError
from plait.providers.base import ChatMessage, ChatModel, ChatRequest, collect
from plait.providers.tokens import count_tokens
from plait.rag.chunk import Chunk, TokenCounter

QA_CALLER = "qa_generator"

SYSTEM_PROMPT = """\
You write question-and-answer pairs for a search index. The user sends a passage of a \
document. Find the facts, definitions, steps and figures it contains, and write questions a \
reader might ask that the passage answers, each with a full answer taken only from the \
passage. Cover the whole passage; do not invent anything it does not say.

Write every question and every answer in {language}, and in no other language.

Reply with the pairs only, numbered, in exactly this form and nothing else:
Q1: <question>
A1: <answer>
Q2: <question>
A2: <answer>
"""


class QAGenerationFailed(PlaitError):
    """A model's reply for a chunk held no question-answer pair."""

    code = "qa_generation_failed"


_LABELS = r"question|answer|q|a|问题|答案|问|答"
# A numbered label ("Q1:", "A2.", "Question 3:") may stand anywhere but inside a word; an unnumbered one
# ("Q:", "Answer:") only starts a line. Bullets, quotes and emphasis around it are part of it.
_MARKER = re.compile(
    rf"(?<!\w)[ \t>*_#•-]*(?P<numbered>{_LABELS})[ \t]*\d+[ \t]*[*_]*[ \t]*[:\uff1a.)\u3001][*_]*[ \t]*"
    rf"|^[ \t>*_#•-]*(?P<plain>{_LABELS})[ \t]*[*_]*[ \t]*[:\uff1a][*_]*[ \t]*",
    re.IGNORECASE | re.MULTILINE,
)
_QUESTION_LABELS = frozenset({"q", "question", "问", "问题"})


async def generate_qa(
    chunks: Sequence[Chunk],
    model: ChatModel,
    *,
    language: str = "English",
    concurrency: int = 4,
    parameters: Mapping[str, Any] | None = None,
    count_tokens: TokenCounter = count_tokens,
) -> list[Chunk]:
    """Q&A chunks (``content`` the question, ``answer`` the answer) for every chunk, in
    order; at most ``concurrency`` model calls at once. ``language`` is the document's
    (Dify's ``doc_language``). Raises :class:`QAGenerationFailed` for a reply with no pair;
    the other calls are then cancelled."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    gate = asyncio.Semaphore(concurrency)
    # Set by the first failure, before its slot is freed: a call waiting for the slot then
    # gives up instead of asking the model while the failure is still on its way out.
    failed = asyncio.Event()

    async def one(index: int, chunk: Chunk) -> list[Chunk]:
        async with gate:
            if failed.is_set():
                return []
            try:
                return await _pairs_for(index, chunk)
            except BaseException:
                failed.set()
                raise

    async def _pairs_for(index: int, chunk: Chunk) -> list[Chunk]:
        request = ChatRequest(
            messages=(
                ChatMessage("system", SYSTEM_PROMPT.format(language=language)),
                ChatMessage("user", chunk.content),
            ),
            model=model.name,
            parameters=dict(parameters or {}),
            caller=QA_CALLER,
        )
        reply = (await collect(model.stream(request))).text
        pairs = parse_qa_pairs(reply)
        if not pairs:
            raise QAGenerationFailed(
                f"The model wrote no question-answer pairs for chunk {index + 1} of {len(chunks)} "
                f'(expected lines like "Q1: ..." and "A1: ..."); its reply began: {reply[:200]!r}'
            )
        return [
            Chunk(question, count_tokens(question) + count_tokens(answer), answer=answer) for question, answer in pairs
        ]

    tasks = [asyncio.ensure_future(one(index, chunk)) for index, chunk in enumerate(chunks)]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [pair for pairs in results for pair in pairs]


def parse_qa_pairs(reply: str) -> list[tuple[str, str]]:
    """``(question, answer)`` pairs in a model's reply; a question with no answer (or an
    answer with no question) is dropped."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    answer: str | None = None
    markers = list(_MARKER.finditer(reply))
    for position, marker in enumerate(markers):
        end = markers[position + 1].start() if position + 1 < len(markers) else len(reply)
        text = reply[marker.end() : end]
        label = (marker.group("numbered") or marker.group("plain")).lower()
        if label in _QUESTION_LABELS:
            if question and answer:
                pairs.append((question, answer))
            question, answer = _question(text), None
        elif question is None:
            continue
        elif answer is None:
            answer = _answer(text)
        else:
            # A second answer label before the next question: part of the same answer.
            answer = _answer(f"{answer}\n{marker.group(0)}{text}")
    if question and answer:
        pairs.append((question, answer))
    return pairs


def _question(text: str) -> str:
    return " ".join(text.split()).strip("*").strip()


def _answer(text: str) -> str:
    # As Dify: lines kept, their indentation and the blank lines between them dropped.
    lines = (line.strip() for line in text.strip().strip("*").splitlines())
    return "\n".join(line for line in lines if line)
