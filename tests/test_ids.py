"""Row ids are RFC 9562 version 7 UUIDs: valid, unique, and ordered by creation time."""

from __future__ import annotations

import time
import uuid

from plait.ids import is_uuid, new_id


def test_ids_are_version_7_uuids() -> None:
    value = uuid.UUID(new_id())
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_are_unique() -> None:
    assert len({new_id() for _ in range(10_000)}) == 10_000


def test_later_ids_sort_after_earlier_ones() -> None:
    earlier = new_id()
    time.sleep(0.002)
    assert new_id() > earlier


def test_is_uuid() -> None:
    assert is_uuid(new_id())
    assert not is_uuid("not-a-uuid")
    assert not is_uuid("")
