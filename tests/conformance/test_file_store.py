"""The file store conformance suite: every backend (the local directory, an S3 bucket on
moto's server) passes the same assertions, so switching ``STORAGE_TYPE`` changes where bytes
live and nothing else."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from plait.errors import ConfigurationError
from plait.settings import StorageSettings, load_settings
from plait.storage.files import FileStore, FileStoreError, LocalFileStore, open_file_store
from plait.storage.files.s3 import S3FileStore

from .s3_server import ACCESS_KEY, REGION, SECRET_KEY, S3Server

LARGE = 5 * 1024 * 1024 + 17  # past S3's 5 MiB multipart threshold, and not a round size


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileStore]:
    if request.param == "local":
        yield LocalFileStore(tmp_path / "files")
        return
    s3: S3Server = request.getfixturevalue("s3")
    store = S3FileStore(
        s3.create_bucket(),
        endpoint=s3.endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        address_style="path",
    )
    yield store
    store.close()


async def test_round_trip_of_binary_empty_and_large_files(store: FileStore) -> None:
    contents = {
        "uploads/w/binary.bin": bytes(range(256)) * 4,
        "uploads/w/empty.txt": b"",
        "uploads/w/large.bin": os.urandom(LARGE),
    }
    for key, data in contents.items():
        await store.put(key, data)
    for key, data in contents.items():
        assert await store.exists(key)
        assert await store.get(key) == data


async def test_put_replaces_what_was_there(store: FileStore) -> None:
    await store.put("uploads/w/a.txt", b"a much longer first version")
    await store.put("uploads/w/a.txt", b"two")
    assert await store.get("uploads/w/a.txt") == b"two"


async def test_delete_removes_and_is_idempotent(store: FileStore) -> None:
    await store.put("uploads/w/a.txt", b"one")
    await store.put("uploads/w/b.txt", b"kept")
    await store.delete("uploads/w/a.txt")
    assert not await store.exists("uploads/w/a.txt")
    await store.delete("uploads/w/a.txt")
    await store.delete("never/was/here.txt")
    assert await store.get("uploads/w/b.txt") == b"kept"


async def test_a_missing_key_is_not_found(store: FileStore) -> None:
    assert not await store.exists("nothing/here")
    with pytest.raises(FileStoreError) as raised:
        await store.get("nothing/here")
    assert (raised.value.status, raised.value.code) == (404, "file_not_found")


async def test_a_prefix_is_not_a_file(store: FileStore) -> None:
    await store.put("uploads/w/deep/a.txt", b"x")
    assert not await store.exists("uploads/w")
    assert not await store.exists("uploads/w/deep/a")


@pytest.mark.parametrize(
    "key",
    ["uploads/w/with space.txt", "uploads/w/ünïcødé/文件.txt", "a/b/c/d/e/f.json", "uploads/w/plus+percent%20.txt"],
)
async def test_keys_with_slashes_spaces_and_unicode(store: FileStore, key: str) -> None:
    await store.put(key, key.encode())
    assert await store.exists(key)
    assert await store.get(key) == key.encode()
    await store.delete(key)
    assert not await store.exists(key)


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside", "uploads/../../outside", "."])
async def test_keys_that_leave_the_store_are_refused(store: FileStore, key: str) -> None:
    operations = [lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.exists(key)]
    for operation in [*operations, lambda: store.delete(key)]:
        with pytest.raises(FileStoreError, match="invalid file key"):
            await operation()


async def test_concurrent_puts(store: FileStore) -> None:
    keys = [f"uploads/w/{index}.bin" for index in range(24)]
    await asyncio.gather(*(store.put(key, key.encode() * 1000) for key in keys))
    assert await asyncio.gather(*(store.get(key) for key in keys)) == [key.encode() * 1000 for key in keys]


async def test_concurrent_puts_of_one_key_leave_one_whole_version(store: FileStore) -> None:
    versions = [bytes([index]) * (256 * 1024) for index in range(8)]
    await asyncio.gather(*(store.put("uploads/w/same.bin", data) for data in versions))
    assert await store.get("uploads/w/same.bin") in versions


def test_open_file_store_picks_the_backend(tmp_path: Path) -> None:
    local = open_file_store(StorageSettings(), tmp_path)
    assert isinstance(local, LocalFileStore)
    assert local.root == (tmp_path / "files").resolve()
    s3 = open_file_store(StorageSettings(STORAGE_TYPE="s3", S3_BUCKET_NAME="bucket"), tmp_path)
    assert isinstance(s3, S3FileStore)
    assert s3.bucket == "bucket"


@pytest.mark.parametrize("bucket", [None, "", "  "])
def test_s3_without_a_bucket_stops_startup(monkeypatch: pytest.MonkeyPatch, bucket: str | None) -> None:
    monkeypatch.setenv("STORAGE_TYPE", "s3")
    monkeypatch.delenv("S3_BUCKET_NAME", raising=False)
    if bucket is not None:
        monkeypatch.setenv("S3_BUCKET_NAME", bucket)
    with pytest.raises(ConfigurationError, match="STORAGE_TYPE=s3 needs S3_BUCKET_NAME"):
        load_settings()


def test_s3_settings_use_difys_names(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "STORAGE_TYPE": "s3",
        "S3_ENDPOINT": "http://minio:9000",
        "S3_BUCKET_NAME": "plait-files",
        "S3_ACCESS_KEY": "id",
        "S3_SECRET_KEY": "secret",
        "S3_REGION": "eu-west-1",
        "S3_ADDRESS_STYLE": "path",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    storage = load_settings().storage
    assert (storage.type, storage.s3_endpoint, storage.s3_bucket_name) == ("s3", "http://minio:9000", "plait-files")
    assert (storage.s3_access_key, storage.s3_secret_key) == ("id", "secret")
    assert (storage.s3_region, storage.s3_address_style) == ("eu-west-1", "path")
    monkeypatch.setenv("S3_ADDRESS_STYLE", "sideways")
    with pytest.raises(ConfigurationError, match="S3_ADDRESS_STYLE"):
        load_settings()


async def test_s3_failures_become_file_store_errors(s3: S3Server) -> None:
    """Not conformance (only S3 has buckets and endpoints): botocore's errors are translated."""
    missing = S3FileStore(
        "no-such-bucket-here", endpoint=s3.endpoint, region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY
    )
    with pytest.raises(FileStoreError, match="no-such-bucket-here") as raised:
        await missing.put("uploads/a.txt", b"x")
    assert raised.value.status == 500
    unreachable = S3FileStore("bucket", endpoint="http://127.0.0.1:9", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    with pytest.raises(FileStoreError, match=r"S3 get of 'uploads/a\.txt'"):
        await unreachable.get("uploads/a.txt")
