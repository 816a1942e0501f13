"""Files in an S3-compatible bucket (the scaled-out shape: ``STORAGE_TYPE=s3``), so that any
API replica or worker reads what another wrote.

The client is boto3, run in threads like the local store's disk work: botocore clients are
thread-safe, boto3 is the library Dify's own S3 storage uses (so endpoints and credentials
that work there work here), and the async wrappers pin botocore to narrow ranges that fight
boto3 and the test server for the same package. One client per store keeps one connection
pool; its size bounds how many transfers run at once.

A key the local store refuses is refused here too (see :func:`_check_key`). A ``PutObject``
replaces an object whole: a reader sees the old bytes or the new ones, never part of either.
Without ``S3_ACCESS_KEY`` and ``S3_SECRET_KEY`` boto3 finds credentials the usual way
(environment, profile, instance or pod role)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from plait.storage.files.base import FileStoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_T = TypeVar("_T")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
MAX_CONNECTIONS = 32


def _check_key(key: str) -> str:
    """A relative path of plain segments. This refuses every key the local store refuses
    (empty, absolute, leaving the root) and, since a bucket has no directories to resolve
    them against, also keys with empty, ``.`` or ``..`` segments, which Plait never makes."""
    if not key or any(part in ("", ".", "..") for part in key.split("/")):
        raise FileStoreError(f"invalid file key {key!r}")
    return key


class S3FileStore:
    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        address_style: Literal["auto", "virtual", "path"] = "auto",
    ) -> None:
        self.bucket = bucket
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=Config(
                s3={"addressing_style": address_style},
                max_pool_connections=MAX_CONNECTIONS,
                retries={"mode": "standard"},
            ),
        )

    async def _call(self, operation: str, key: str, call: Callable[[], _T]) -> _T:
        """Run one blocking client call in a thread, translating botocore's errors."""
        try:
            return await asyncio.to_thread(call)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise FileStoreError(f"no file under {key!r}", status=404, code="file_not_found") from None
            raise FileStoreError(f"S3 {operation} of {key!r} in bucket {self.bucket!r} failed: {error}") from error
        except BotoCoreError as error:
            raise FileStoreError(f"S3 {operation} of {key!r} in bucket {self.bucket!r} failed: {error}") from error

    async def put(self, key: str, data: bytes) -> None:
        _check_key(key)
        await self._call("put", key, lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=data))

    async def get(self, key: str) -> bytes:
        _check_key(key)

        def read() -> bytes:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

        return await self._call("get", key, read)

    async def delete(self, key: str) -> None:
        _check_key(key)
        # S3 answers a delete of a missing key with success, as the local store does.
        await self._call("delete", key, lambda: self._client.delete_object(Bucket=self.bucket, Key=key))

    async def exists(self, key: str) -> bool:
        _check_key(key)
        try:
            await self._call("head", key, lambda: self._client.head_object(Bucket=self.bucket, Key=key))
        except FileStoreError as error:
            if error.status == 404:
                return False
            raise
        return True

    def close(self) -> None:
        self._client.close()
