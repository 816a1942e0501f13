"""The local file store: round trips, atomic replacement, and keys that try to leave it."""

from __future__ import annotations

from pathlib import Path

import pytest

from plait.storage.files import FileStoreError, LocalFileStore


async def test_round_trip_and_replace(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path / "files")
    await store.put("uploads/w/a.txt", b"one")
    await store.put("uploads/w/a.txt", b"two")
    assert await store.get("uploads/w/a.txt") == b"two"
    assert await store.exists("uploads/w/a.txt")
    await store.delete("uploads/w/a.txt")
    assert not await store.exists("uploads/w/a.txt")
    assert [p.name for p in (tmp_path / "files" / "uploads" / "w").iterdir()] == []  # no temporary files left


async def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileStoreError) as raised:
        await LocalFileStore(tmp_path).get("nothing/here")
    assert raised.value.status == 404


@pytest.mark.parametrize("key", ["../outside", "uploads/../../outside", "/etc/passwd", "", "."])
async def test_keys_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    store = LocalFileStore(tmp_path / "files")
    with pytest.raises(FileStoreError, match="invalid file key"):
        await store.put(key, b"x")
    assert not (tmp_path / "outside").exists()
