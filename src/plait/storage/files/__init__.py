"""File storage: uploaded files, extracted text, recorded I/O. One interface; the local data
directory by default (S3-compatible storage joins it for the scaled-out shape)."""

from plait.storage.files.base import FileStore, FileStoreError
from plait.storage.files.local import LocalFileStore

__all__ = ["FileStore", "FileStoreError", "LocalFileStore"]
