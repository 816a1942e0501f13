"""Files in a directory (the embedded default: ``PLAIT_DATA_DIR/files``).

Keys are relative paths made by Plait (``uploads/<workspace>/<id>.<ext>``); anything that
would leave the root is refused. Writes go to a temporary file renamed into place, so a
reader never sees half a file. Disk work runs in a thread, off the event loop."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from plait.storage.files.base import FileStoreError


class LocalFileStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or path == self.root or self.root not in path.parents:
            raise FileStoreError(f"invalid file key {key!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    @staticmethod
    def _put(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise FileStoreError(f"no file under {key!r}", status=404, code="file_not_found") from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)
