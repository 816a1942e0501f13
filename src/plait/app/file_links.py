"""Signed, expiring links to stored files (Dify's ``/files/{id}/file-preview`` links).

A link names the file, when it was signed and a nonce, with an HMAC-SHA256 over the three
under a key derived from ``SECRET_KEY`` for this purpose only. Anyone holding the link may
fetch the file until it expires (``FILES_ACCESS_TIMEOUT``), and nobody can make one for
another file or extend one, which is what lets a link leave the authenticated API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plait.errors import Forbidden

PATH = "/files/{file_id}/file-preview"


class LinkExpired(Forbidden):
    code = "file_access_denied"


class FileLinks:
    def __init__(self, secret_key: str, *, base_url: str = "", ttl_seconds: int = 300) -> None:
        self._key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"plait/file-links").derive(
            secret_key.encode()
        )
        self.base_url = base_url.rstrip("/")
        self.ttl_seconds = ttl_seconds

    def _sign(self, file_id: str, timestamp: str, nonce: str) -> str:
        digest = hmac.new(self._key, f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url(self, file_id: str, *, now: float | None = None) -> str:
        timestamp = str(int(time.time() if now is None else now))
        nonce = secrets.token_hex(16)
        query = urlencode({"timestamp": timestamp, "nonce": nonce, "sign": self._sign(file_id, timestamp, nonce)})
        return f"{self.base_url}{PATH.format(file_id=file_id)}?{query}"

    def check(self, file_id: str, *, timestamp: str, nonce: str, sign: str, now: float | None = None) -> None:
        """Raise unless the link was signed by this Plait for this file and has not expired."""
        expected = self._sign(file_id, timestamp, nonce)
        if not hmac.compare_digest(expected, sign):
            raise LinkExpired("Invalid file link.")
        if not timestamp.isdigit() or (time.time() if now is None else now) - int(timestamp) > self.ttl_seconds:
            raise LinkExpired("The file link has expired.")
