"""What a model call cost, as Dify reports it: decimal strings, never floats.

``PricedChatModel`` is a chat model together with its price list, which is how the model
registry hands models to the engine; nodes turn a call's :class:`Usage` into Dify's usage
object with :func:`usage_record`. A server that reports no usage (many self-hosted ones
ignore ``include_usage``) has its tokens counted here, offline, so a reply is never free by
accident.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from plait.providers.base import ChatChunk, ChatModel, ChatRequest, ModelCapabilities, Usage
from plait.providers.catalog import ModelPricing
from plait.providers.tokens import count_message_tokens, count_tokens

# Dify rounds every price to seven decimal places.
PRICE_QUANTUM = Decimal("0.0000001")
NO_PRICE = ModelPricing()


@dataclass(frozen=True)
class PricedChatModel:
    """A chat model and what it costs; it is a ``ChatModel`` itself."""

    model: ChatModel
    pricing: ModelPricing | None = None
    provider: str = ""

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def capabilities(self) -> ModelCapabilities:
        return self.model.capabilities

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        text: list[str] = []
        async for chunk in self.model.stream(request):
            if chunk.final and (chunk.usage is None or chunk.usage.total_tokens == 0):
                completion = "".join(text) + chunk.text
                counted = Usage(count_message_tokens(request.messages, self.name), count_tokens(completion, self.name))
                chunk = dataclasses.replace(chunk, usage=counted)
            elif chunk.text:
                text.append(chunk.text)
            yield chunk

    async def aclose(self) -> None:
        """Close the adapter's client, if it keeps one."""
        closer = getattr(self.model, "aclose", None)
        if closer is not None:
            await closer()


def pricing_of(model: ChatModel) -> ModelPricing | None:
    return model.pricing if isinstance(model, PricedChatModel) else None


def _price(tokens: int, unit_price: Decimal, price_unit: Decimal) -> Decimal:
    return (Decimal(tokens) * unit_price * price_unit).quantize(PRICE_QUANTUM, rounding=ROUND_HALF_UP)


def usage_record(usage: Usage, pricing: ModelPricing | None, latency: float = 0.0) -> dict[str, Any]:
    """Dify's usage object for one call (or a sum of calls at one price)."""
    pricing = pricing or NO_PRICE
    prompt = _price(usage.prompt_tokens, pricing.input, pricing.price_unit)
    completion = _price(usage.completion_tokens, pricing.output, pricing.price_unit)
    return {
        "prompt_tokens": usage.prompt_tokens,
        "prompt_unit_price": str(pricing.input),
        "prompt_price_unit": str(pricing.price_unit),
        "prompt_price": f"{prompt:f}",
        "completion_tokens": usage.completion_tokens,
        "completion_unit_price": str(pricing.output),
        "completion_price_unit": str(pricing.price_unit),
        "completion_price": f"{completion:f}",
        "total_tokens": usage.total_tokens,
        "total_price": f"{prompt + completion:f}",
        "currency": pricing.currency,
        "latency": round(latency, 4),
    }


def add_usage_records(records: list[dict[str, Any]], latency: float) -> dict[str, Any]:
    """The usage of a turn that made several calls: tokens and prices summed; the unit
    prices are those of the first call (Dify reports one model's)."""
    if not records:
        return usage_record(Usage(), None, latency)
    total: dict[str, Any] = dict(records[0])
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[key] = sum(int(record.get(key, 0) or 0) for record in records)
    for key in ("prompt_price", "completion_price", "total_price"):
        summed = sum((Decimal(str(record.get(key, "0") or "0")) for record in records), Decimal(0))
        total[key] = f"{summed.quantize(PRICE_QUANTUM):f}"
    total["latency"] = round(latency, 4)
    return total
