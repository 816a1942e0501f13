"""API keys: ``app-`` keys for one app's Service API, ``ds-`` keys for a workspace's
Knowledge API. A key is shown once, when it is created; the database keeps its SHA-256
(keys are 144 random bits, so a fast hash is enough) and a hint to recognise it by."""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from plait.app.audit import Actor, record
from plait.errors import BadRequest, NotFound, Unauthorized
from plait.storage.db import Database
from plait.storage.db.repos import apps as apps_repo
from plait.storage.db.repos import keys as repo
from plait.storage.db.tables import ApiKey

MAX_KEYS_PER_APP = 10
MAX_DATASET_KEYS_PER_WORKSPACE = 10
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_BODY_LENGTH = 24
PREFIXES = {"app": "app-", "dataset": "ds-"}

KeyKind = Literal["app", "dataset"]


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(kind: KeyKind) -> str:
    return PREFIXES[kind] + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def _hint(token: str) -> str:
    prefix = token.split("-", 1)[0]
    return f"{prefix}-...{token[-4:]}"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    token: str
    hint: str


@dataclass(frozen=True)
class KeyIdentity:
    """What a presented key grants: one app, or a workspace's datasets."""

    key_id: str
    kind: KeyKind
    workspace_id: str
    app_id: str | None


class Keys:
    def __init__(self, db: Database, *, on_revoked: Callable[[str], None] | None = None) -> None:
        self._db = db
        # Told the hash of a key once its deletion is committed (the Service API's key cache).
        self._on_revoked = on_revoked

    async def create(self, workspace_id: str, actor: Actor, *, kind: KeyKind, app_id: str | None = None) -> CreatedKey:
        token = _new_token(kind)
        key = ApiKey(
            workspace_id=workspace_id,
            app_id=app_id if kind == "app" else None,
            kind=kind,
            token_hash=hash_key(token),
            token_hint=_hint(token),
            created_by=actor.account_id,
        )
        async with self._db.transaction() as session:
            if kind == "app":
                app = await apps_repo.app_in_workspace(session, workspace_id, app_id or "", for_update=True)
                if app is None:
                    raise BadRequest("App not found in this workspace.", code="not_found", status=404)
                if await repo.count_app_keys(session, app.id) >= MAX_KEYS_PER_APP:
                    raise BadRequest(f"An app can have at most {MAX_KEYS_PER_APP} API keys.", code="max_keys_exceeded")
            else:
                await repo.lock_workspace(session, workspace_id)
                if await repo.count_dataset_keys(session, workspace_id) >= MAX_DATASET_KEYS_PER_WORKSPACE:
                    raise BadRequest(
                        f"A workspace can have at most {MAX_DATASET_KEYS_PER_WORKSPACE} knowledge API keys.",
                        code="max_keys_exceeded",
                    )
            session.add(key)
            await session.flush()
            record(
                session,
                actor,
                "api_key.created",
                workspace_id=workspace_id,
                target_type="api_key",
                target_id=key.id,
                detail={"kind": kind, "app_id": key.app_id, "hint": key.token_hint},
            )
        return CreatedKey(id=key.id, token=token, hint=key.token_hint)

    async def of_app(self, workspace_id: str, app_id: str) -> list[ApiKey]:
        async with self._db.reader() as session:
            return await repo.app_keys(session, workspace_id, app_id)

    async def of_datasets(self, workspace_id: str) -> list[ApiKey]:
        """The workspace's ``ds-`` keys (the console's ``/datasets/api-keys``)."""
        async with self._db.reader() as session:
            return await repo.dataset_keys(session, workspace_id)

    async def revoke(
        self,
        workspace_id: str,
        actor: Actor,
        key_id: str,
        *,
        app_id: str | None = None,
        kind: KeyKind | None = None,
    ) -> None:
        async with self._db.transaction() as session:
            key = await repo.key_in_workspace(session, workspace_id, key_id)
            if key is None or (app_id is not None and key.app_id != app_id) or (kind is not None and key.kind != kind):
                raise NotFound("API key not found.")
            record(
                session, actor, "api_key.revoked", workspace_id=workspace_id, target_type="api_key", target_id=key.id
            )
            await session.delete(key)
        if self._on_revoked is not None:
            self._on_revoked(key.token_hash)

    async def authenticate(self, token: str, *, kind: KeyKind) -> KeyIdentity:
        if not token.startswith(PREFIXES[kind]):
            raise Unauthorized("Access token is invalid")
        async with self._db.reader() as session:
            key = await repo.key_by_hash(session, hash_key(token))
        if key is None or key.kind != kind:
            raise Unauthorized("Access token is invalid")
        return KeyIdentity(key_id=key.id, kind=kind, workspace_id=key.workspace_id, app_id=key.app_id)
