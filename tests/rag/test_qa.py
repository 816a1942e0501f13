"""Q&A generation for qa_model documents: the prompt, the reading of replies, order and bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from plait.providers.base import ChatChunk, ChatRequest, ModelCapabilities
from plait.providers.errors import ModelError
from plait.providers.fake import ScriptedChatModel
from plait.providers.tokens import count_tokens
from plait.rag.chunk import Chunk
from plait.rag.qa import QA_CALLER, QAGenerationFailed, generate_qa, parse_qa_pairs


def chunk(text: str) -> Chunk:
    return Chunk(text, count_tokens(text))


def scripted(*replies: str) -> ScriptedChatModel:
    return ScriptedChatModel({QA_CALLER: list(replies)})


async def test_each_pair_becomes_a_chunk_with_its_answer() -> None:
    model = scripted("Q1: What is Plait?\nA1: An LLM app platform.\nQ2: Is it Dify-compatible?\nA2: Yes.")
    pairs = await generate_qa([chunk("Plait is an LLM app platform compatible with Dify.")], model)
    assert [(pair.content, pair.answer) for pair in pairs] == [
        ("What is Plait?", "An LLM app platform."),
        ("Is it Dify-compatible?", "Yes."),
    ]
    assert pairs[0].tokens == count_tokens("What is Plait?") + count_tokens("An LLM app platform.")
    assert pairs[0].children == ()


async def test_the_prompt_asks_for_the_format_in_the_documents_language() -> None:
    model = scripted("Q1: 什么？\nA1: 这个。")  # noqa: RUF001
    handbook = "员工手册：每年有二十五天的带薪假期。"  # noqa: RUF001
    await generate_qa([chunk(handbook)], model, language="Chinese")
    [request] = model.requests
    system, user = request.messages
    assert system.role == "system"
    assert "Chinese" in system.text
    assert "Q1:" in system.text
    assert "A1:" in system.text
    assert (user.role, user.text) == ("user", handbook)
    assert request.caller == QA_CALLER
    assert request.model == model.name


async def test_pairs_come_back_in_chunk_order() -> None:
    model = scripted(
        "Q1: first?\nA1: one.", "Q1: second?\nA1: two.\nQ2: again?\nA2: two more.", "Q1: third?\nA1: three."
    )
    pairs = await generate_qa([chunk("one"), chunk("two"), chunk("three")], model, concurrency=1)
    assert [pair.content for pair in pairs] == ["first?", "second?", "again?", "third?"]
    assert [request.messages[1].text for request in model.requests] == ["one", "two", "three"]


class HeldModel:
    """Takes a scripted reply at once, then holds it until the test releases that call,
    so that a test decides in which order calls finish and sees how many are open."""

    name = "held"
    capabilities = ModelCapabilities()

    def __init__(self, inner: ScriptedChatModel) -> None:
        self.inner = inner
        self.calls = 0
        self.waiting: dict[int, asyncio.Event] = {}
        self.most_open = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        reply = [piece async for piece in self.inner.stream(request)]
        index, self.calls = self.calls, self.calls + 1
        released = self.waiting[index] = asyncio.Event()
        self.most_open = max(self.most_open, len(self.waiting))
        await released.wait()
        for piece in reply:
            yield piece

    def release(self, index: int) -> None:
        self.waiting.pop(index).set()


async def test_calls_are_bounded_and_order_holds_when_they_finish_out_of_order() -> None:
    total, concurrency = 9, 3
    model = HeldModel(scripted(*(f"Q1: question {n}?\nA1: answer {n}." for n in range(total))))
    job = asyncio.ensure_future(generate_qa([chunk(f"text {n}") for n in range(total)], model, concurrency=concurrency))
    released = 0
    for _ in range(10_000):
        if released == total:
            break
        if len(model.waiting) < min(concurrency, total - released):
            await asyncio.sleep(0)
            continue
        model.release(max(model.waiting))  # the newest call finishes first
        released += 1
    pairs = await job
    assert model.most_open == concurrency
    assert [pair.content for pair in pairs] == [f"question {n}?" for n in range(total)]
    assert [pair.answer for pair in pairs] == [f"answer {n}." for n in range(total)]


async def test_a_reply_without_pairs_fails_the_document_and_stops_the_rest() -> None:
    model = scripted("Q1: fine?\nA1: yes.", "I cannot help with that.", "Q1: never asked?\nA1: no.")
    with pytest.raises(QAGenerationFailed) as caught:
        await generate_qa([chunk("a"), chunk("b"), chunk("c")], model, concurrency=1)
    message = caught.value.message
    assert "chunk 2 of 3" in message
    assert "I cannot help with that." in message
    assert "Q1:" in message
    assert caught.value.code == "qa_generation_failed"
    assert len(model.requests) == 2


async def test_model_errors_pass_through() -> None:
    model = ScriptedChatModel({QA_CALLER: {"error": "rate limited"}})
    with pytest.raises(ModelError, match="rate limited"):
        await generate_qa([chunk("a")], model)


async def test_no_chunks_ask_nothing() -> None:
    model = scripted("Q1: a?\nA1: b.")
    assert await generate_qa([], model) == []
    assert model.requests == []


async def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await generate_qa([chunk("a")], scripted("Q1: a?\nA1: b."), concurrency=0)


@pytest.mark.parametrize(
    ("reply", "pairs"),
    [
        ("Q1: What?\nA1: That.", [("What?", "That.")]),
        ("Q1:What?A1:That. Q2: Who? A2: Them.", [("What?", "That."), ("Who?", "Them.")]),
        ("**Q1:** What is it?\n**A1:** A thing.", [("What is it?", "A thing.")]),
        ("**Q1: What is it?**\n**A1:** A thing.", [("What is it?", "A thing.")]),
        ("Q1. What?\nA1. That.", [("What?", "That.")]),
        ("Question 1: What?\nAnswer 1: That.", [("What?", "That.")]),
        ("Q: What?\nA: That.\n\nQ: Why?\nA: Because.", [("What?", "That."), ("Why?", "Because.")]),
        ("- Q: What?\n  A: That.", [("What?", "That.")]),
        ("Q1：什么是年假？\nA1：每年二十五天。", [("什么是年假？", "每年二十五天。")]),  # noqa: RUF001
        ("问1：什么？\n答1：这个。", [("什么？", "这个。")]),  # noqa: RUF001
        (
            "Here are the pairs:\n\nQ1: How do I apply?\nA1: In three steps:\n   1. Ask your manager.\n\n"
            "   2. Fill the form.\nQ2: When?\nA2: Two weeks ahead.",
            [
                ("How do I apply?", "In three steps:\n1. Ask your manager.\n2. Fill the form."),
                ("When?", "Two weeks ahead."),
            ],
        ),
        ("Q1: Which plan?\nA1: Plan A: the cheap one.", [("Which plan?", "Plan A: the cheap one.")]),
        ("Q1: A question\nthat wraps?\nA1: Yes.", [("A question that wraps?", "Yes.")]),
        ("Q1: Unanswered?\nQ2: Answered?\nA2: Yes.", [("Answered?", "Yes.")]),
        ("A1: An answer first.\nQ1: Then?\nA1: Fine.", [("Then?", "Fine.")]),
        ("Q1: Empty answer?\nA1:\nQ2: Real?\nA2: Yes.", [("Real?", "Yes.")]),
        ("No pairs here at all.", []),
        ("", []),
    ],
)
def test_replies_are_read_in_the_forms_models_write(reply: str, pairs: list[tuple[str, str]]) -> None:
    assert parse_qa_pairs(reply) == pairs
