"""The time built-ins with an injected clock, so every value is exact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from plait.tools import StaticToolProvider, ToolArgumentError, ToolEnvironment
from plait.tools.builtin import time

# 2024-07-01 09:30:15 UTC, a Monday; Paris is on summer time (UTC+2).
NOW = datetime(2024, 7, 1, 9, 30, 15, tzinfo=UTC)


@pytest.fixture
def provider() -> StaticToolProvider:
    return time.provider(ToolEnvironment(clock=lambda: NOW))


async def text(provider: StaticToolProvider, tool: str, arguments: dict[str, Any]) -> str:
    return (await provider.tool(tool).invoke(arguments)).text


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "2024-07-01 09:30:15 UTC"),
        ({"timezone": "Europe/Paris"}, "2024-07-01 11:30:15 CEST"),
        ({"timezone": "Asia/Kolkata", "format": "%H:%M"}, "15:00"),
        ({"timezone": "", "format": ""}, "2024-07-01 09:30:15 UTC"),
        ({"format": "%A %d %B %Y"}, "Monday 01 July 2024"),
    ],
)
async def test_current_time(provider: StaticToolProvider, arguments: dict[str, Any], expected: str) -> None:
    assert await text(provider, "current_time", arguments) == expected


async def test_current_time_refuses_an_unknown_zone(provider: StaticToolProvider) -> None:
    with pytest.raises(ToolArgumentError, match="'Mars/Olympus' is not a time zone") as raised:
        await provider.tool("current_time").invoke({"timezone": "Mars/Olympus"})
    assert raised.value.parameter == "timezone"


async def test_weekday(provider: StaticToolProvider) -> None:
    assert await text(provider, "weekday", {"year": 2024, "month": 2, "day": 29}) == "February 29, 2024 is Thursday."
    # Tool node values are strings; they are read as the numbers the schema asks for.
    assert await text(provider, "weekday", {"year": "2000", "month": "1", "day": "1"}) == "January 1, 2000 is Saturday."


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [({"year": 2023, "month": 2, "day": 29}, "day"), ({"year": 2024, "month": 13, "day": 1}, "month")],
)
async def test_weekday_refuses_dates_that_do_not_exist(
    provider: StaticToolProvider, arguments: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ToolArgumentError) as raised:
        await provider.tool("weekday").invoke(arguments)
    assert raised.value.parameter == parameter


async def test_timezone_conversion(provider: StaticToolProvider) -> None:
    arguments = {
        "current_time": "2024-01-15 08:00:00",
        "current_timezone": "UTC",
        "target_timezone": "America/New_York",
    }
    assert await text(provider, "timezone_conversion", arguments) == "2024-01-15 03:00:00"
    # Dify's defaults: from Shanghai to Tokyo; its loose form "2024-1-1 0:0:0" reads too.
    assert await text(provider, "timezone_conversion", {"current_time": "2024-1-1 0:0:0"}) == "2024-01-01 01:00:00"


async def test_localtime_and_timestamp_round_trip(provider: StaticToolProvider) -> None:
    utc = {"localtime": "2024-07-01 09:30:15", "timezone": "UTC"}
    assert await text(provider, "localtime_to_timestamp", utc) == "1719826215"
    paris = {"localtime": "2024-07-01 11:30:15", "timezone": "Europe/Paris"}
    output = await provider.tool("localtime_to_timestamp").invoke(paris)
    assert output.variables == {"timestamp": 1719826215}
    back = {"timestamp": "1719826215", "timezone": "Asia/Tokyo"}
    assert await text(provider, "timestamp_to_localtime", back) == "2024-07-01 18:30:15"


async def test_a_local_time_in_another_shape_is_refused(provider: StaticToolProvider) -> None:
    with pytest.raises(ToolArgumentError, match="is not a local time like 2024-01-01 08:00:00"):
        await provider.tool("localtime_to_timestamp").invoke({"localtime": "July 1st"})
    with pytest.raises(ToolArgumentError, match="out of range"):
        await provider.tool("timestamp_to_localtime").invoke({"timestamp": 1e20})
