"""The file store protocol."""

from __future__ import annotations

from typing import Protocol

from plait.errors import PlaitError


class FileStoreError(PlaitError):
    code = "file_store_error"
    status = 500


class FileStore(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing what was there, atomically."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`FileStoreError` when there are none."""
        ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...
