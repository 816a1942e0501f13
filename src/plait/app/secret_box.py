"""Encryption of secrets at rest: provider credentials and secret environment variables.

AES-256-GCM with a key derived from ``SECRET_KEY`` by HKDF-SHA256 (one key per purpose, so
a value sealed for one use cannot be opened as another). Every value is bound to where it
belongs through the associated data (a workspace id and a name, say): a ciphertext copied
into another workspace's row does not open. Sealed values read ``plait:v1:<base64url>``,
which says what they are and leaves room for key rotation.

Changing ``SECRET_KEY`` makes existing secrets unreadable; :class:`SecretUnreadable` says so
instead of failing deep inside a model call.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from plait.errors import PlaitError

PREFIX = "plait:v1:"
NONCE_BYTES = 12


class SecretUnreadable(PlaitError):
    code = "secret_unreadable"
    status = 500


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        if not secret_key:
            raise ValueError("a secret box needs a non-empty SECRET_KEY")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"plait/{purpose}".encode()).derive(
            secret_key.encode()
        )
        self._aead = AESGCM(key)
        self.purpose = purpose

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, sealed: str, *, context: str) -> str:
        if not is_sealed(sealed):
            raise SecretUnreadable(f"a stored {self.purpose} value is not sealed by Plait")
        data = sealed[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            plaintext = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise SecretUnreadable(
                f"a stored {self.purpose} value cannot be decrypted: SECRET_KEY changed since it was saved,"
                " or the value was moved; enter it again"
            ) from None
        return plaintext.decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)
