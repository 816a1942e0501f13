"""Prices as Dify reports them, and usage counted offline when a server reports none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

from plait.providers.base import ChatChunk, ChatMessage, ChatRequest, ModelCapabilities, Usage, collect
from plait.providers.catalog import ModelPricing
from plait.providers.pricing import PricedChatModel, add_usage_records, usage_record


class Silent:
    """A server that streams text and reports no usage (as many self-hosted ones do)."""

    name = "gpt-4o"
    capabilities = ModelCapabilities()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk("hello")
        yield ChatChunk(" world")
        yield ChatChunk("", final=True, usage=Usage(), finish_reason="stop")


async def test_usage_is_counted_when_the_server_reports_none() -> None:
    model = PricedChatModel(Silent(), ModelPricing(input=Decimal("2.5"), output=Decimal("10")))
    result = await collect(model.stream(ChatRequest([ChatMessage("user", "say hello world")], "gpt-4o")))
    assert result.text == "hello world"
    # "hello world" is two tokens in o200k; the prompt is one message plus the reply priming.
    assert result.usage.completion_tokens == 2
    assert result.usage.prompt_tokens == 3 + 1 + 3 + 3  # per message, role, text, reply priming


def test_prices_round_to_seven_places_as_decimal_strings() -> None:
    record = usage_record(Usage(1234, 567), ModelPricing(input=Decimal("0.15"), output=Decimal("0.6")), 1.23456)
    assert record["prompt_price"] == "0.0001851"
    assert record["completion_price"] == "0.0003402"
    assert record["total_price"] == "0.0005253"
    assert record["latency"] == 1.2346
    assert usage_record(Usage(5, 5), None)["total_price"] == "0.0000000"


def test_turn_usage_sums_its_calls() -> None:
    pricing = ModelPricing(input=Decimal("1"), output=Decimal("2"))
    total = add_usage_records([usage_record(Usage(10, 5), pricing), usage_record(Usage(20, 1), pricing)], 0.5)
    assert (total["prompt_tokens"], total["completion_tokens"], total["total_tokens"]) == (30, 6, 36)
    assert total["total_price"] == "0.0000420"
