"""File storage: uploaded files, extracted text, recorded I/O. One interface (``base.py``)
and one conformance suite; the local data directory by default, S3-compatible object storage
for the scaled-out shape."""

from __future__ import annotations

from pathlib import Path

from plait.errors import ConfigurationError
from plait.settings import StorageSettings
from plait.storage.files.base import FileStore, FileStoreError
from plait.storage.files.local import LocalFileStore

__all__ = ["FileStore", "FileStoreError", "LocalFileStore", "open_file_store"]


def open_file_store(settings: StorageSettings, data_dir: Path) -> FileStore:
    """The deployment's file store: ``local`` keeps files under ``data_dir/files``; ``s3``
    uses the configured bucket (it connects on first use)."""
    if settings.type == "local":
        return LocalFileStore(Path(data_dir) / "files")
    if settings.type == "s3":
        if not settings.s3_bucket_name:
            raise ConfigurationError("STORAGE_TYPE=s3 needs S3_BUCKET_NAME")
        # Imported here so that the local shape never loads boto3.
        from plait.storage.files.s3 import S3FileStore

        return S3FileStore(
            settings.s3_bucket_name,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            address_style=settings.s3_address_style,
        )
    raise ConfigurationError(f"unknown storage type {settings.type!r} (expected 'local' or 's3')")
