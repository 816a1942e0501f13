"""The ``time`` built-ins, as Dify names them: the current time, weekdays, time zones, timestamps.

Time zones are IANA names read with :mod:`zoneinfo`. The clock comes from the
environment, so a test (or a replayed run) sees an exact time. Local times are written
and read as ``%Y-%m-%d %H:%M:%S`` (``2024-1-1 0:0:0`` reads too), and the defaults are
Dify's, so an imported workflow that leaves a zone out gets the zone it had in Dify.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plait.tools.base import FunctionTool, StaticToolProvider, ToolEnvironment, ToolOutput
from plait.tools.errors import ToolArgumentError

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
# Dify's defaults for the conversion tools (its authors' zones).
DIFY_ZONE = "Asia/Shanghai"
DIFY_TARGET_ZONE = "Asia/Tokyo"


def _zone_parameter(description: str, default: str) -> dict[str, Any]:
    return {"type": "string", "description": f"{description} (an IANA time zone name)", "default": default}


def provider(environment: ToolEnvironment) -> StaticToolProvider:
    clock = environment.clock
    return StaticToolProvider(
        "time",
        [
            FunctionTool(
                "current_time",
                "Get the current time.",
                {
                    "type": "object",
                    "properties": {
                        "timezone": _zone_parameter("The time zone", "UTC"),
                        "format": {"type": "string", "description": "strftime format", "default": DEFAULT_FORMAT},
                    },
                },
                _current_time(clock),
                label="Current Time",
            ),
            FunctionTool(
                "weekday",
                "The day of the week of a date.",
                {
                    "type": "object",
                    "properties": {
                        "year": {"type": "integer", "minimum": 1, "maximum": 9999},
                        "month": {"type": "integer", "minimum": 1, "maximum": 12},
                        "day": {"type": "integer", "minimum": 1, "maximum": 31},
                    },
                    "required": ["year", "month", "day"],
                },
                weekday,
                label="Weekday Calculator",
            ),
            FunctionTool(
                "timezone_conversion",
                "Convert a local time from one time zone to another.",
                {
                    "type": "object",
                    "properties": {
                        "current_time": {"type": "string", "description": "A local time, like 2024-01-01 08:00:00"},
                        "current_timezone": _zone_parameter("The zone of current_time", DIFY_ZONE),
                        "target_timezone": _zone_parameter("The zone to convert to", DIFY_TARGET_ZONE),
                    },
                    "required": ["current_time"],
                },
                timezone_conversion,
                label="Time Zone Conversion",
            ),
            FunctionTool(
                "localtime_to_timestamp",
                "Convert a local time to a Unix timestamp (seconds).",
                {
                    "type": "object",
                    "properties": {
                        "localtime": {"type": "string", "description": "A local time, like 2024-01-01 08:00:00"},
                        "timezone": _zone_parameter("The zone of the local time", DIFY_ZONE),
                    },
                    "required": ["localtime"],
                },
                localtime_to_timestamp,
                label="Local Time to Timestamp",
            ),
            FunctionTool(
                "timestamp_to_localtime",
                "Convert a Unix timestamp (seconds) to a local time.",
                {
                    "type": "object",
                    "properties": {
                        "timestamp": {"type": "number"},
                        "timezone": _zone_parameter("The zone to show the time in", DIFY_ZONE),
                    },
                    "required": ["timestamp"],
                },
                timestamp_to_localtime,
                label="Timestamp to Local Time",
            ),
        ],
        label="Time",
        description="Tools for dates, times and time zones.",
    )


def _current_time(clock: Callable[[], datetime]) -> Callable[[dict[str, Any]], ToolOutput]:
    def current_time(arguments: dict[str, Any]) -> ToolOutput:
        zone = _zone("current_time", arguments["timezone"] or "UTC", "timezone")
        now = clock().astimezone(zone)
        return ToolOutput(text=now.strftime(arguments["format"] or DEFAULT_FORMAT))

    return current_time


def weekday(arguments: dict[str, Any]) -> ToolOutput:
    year, month, day = arguments["year"], arguments["month"], arguments["day"]
    try:
        date = datetime(year, month, day)
    except ValueError:
        raise ToolArgumentError(f"tool 'weekday': {year}-{month:02}-{day:02} is not a date", parameter="day") from None
    name = calendar.day_name[date.weekday()]
    return ToolOutput(text=f"{calendar.month_name[month]} {day}, {year} is {name}.", variables={"weekday": name})


def timezone_conversion(arguments: dict[str, Any]) -> ToolOutput:
    source = _zone("timezone_conversion", arguments["current_timezone"] or DIFY_ZONE, "current_timezone")
    target = _zone("timezone_conversion", arguments["target_timezone"] or DIFY_TARGET_ZONE, "target_timezone")
    local = _local_time("timezone_conversion", arguments["current_time"], "current_time").replace(tzinfo=source)
    return ToolOutput(text=local.astimezone(target).strftime(LOCAL_FORMAT))


def localtime_to_timestamp(arguments: dict[str, Any]) -> ToolOutput:
    zone = _zone("localtime_to_timestamp", arguments["timezone"] or DIFY_ZONE, "timezone")
    local = _local_time("localtime_to_timestamp", arguments["localtime"], "localtime").replace(tzinfo=zone)
    timestamp = int(local.timestamp())
    return ToolOutput(text=str(timestamp), variables={"timestamp": timestamp})


def timestamp_to_localtime(arguments: dict[str, Any]) -> ToolOutput:
    zone = _zone("timestamp_to_localtime", arguments["timezone"] or DIFY_ZONE, "timezone")
    try:
        local = datetime.fromtimestamp(arguments["timestamp"], UTC).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        raise ToolArgumentError(
            f"tool 'timestamp_to_localtime': {arguments['timestamp']} is out of range", parameter="timestamp"
        ) from None
    return ToolOutput(text=local.strftime(LOCAL_FORMAT))


def _zone(tool: str, name: str, parameter: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolArgumentError(
            f"tool {tool!r}: parameter {parameter!r}: {name!r} is not a time zone (use an IANA name)",
            parameter=parameter,
        ) from None


def _local_time(tool: str, text: str, parameter: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), LOCAL_FORMAT)
    except ValueError:
        raise ToolArgumentError(
            f"tool {tool!r}: parameter {parameter!r}: {text!r} is not a local time like 2024-01-01 08:00:00",
            parameter=parameter,
        ) from None
