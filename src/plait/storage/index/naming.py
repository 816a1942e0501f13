"""The storage name of a dataset's collection: a file name for the embedded index, a table
name for PostgreSQL. Dataset ids are UUIDs (``plait.ids``); accepting only those, in any of
their spellings, means a name can never escape its directory or need quoting, and two
spellings of one id never make two collections."""

from __future__ import annotations

import uuid

from plait.errors import InvalidInput


def collection_key(dataset_id: str) -> str:
    """The dataset id's 32 lowercase hex digits."""
    try:
        return uuid.UUID(dataset_id).hex
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput(f"dataset id {dataset_id!r} is not a UUID", params="dataset_id") from None
