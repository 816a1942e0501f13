"""Identifiers.

Every row id is a UUID string, as in Dify's API. Plait mints version 7 UUIDs (RFC 9562):
the leading 48 bits are a millisecond timestamp, so ids created later sort later and new
rows land at the right-hand edge of B-tree indexes instead of at random pages.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A fresh UUIDv7 as a lowercase hyphenated string."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & 0xFFFF_FFFF_FFFF) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    text = f"{value:032x}"  # formatting by hand: uuid.UUID costs ten times as much
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def is_uuid(value: str) -> bool:
    """True when ``value`` is a UUID in any of the textual forms Python accepts."""
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True
