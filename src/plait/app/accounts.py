"""Accounts: first-run setup, console login and sessions.

There is no default account and no default password: ``setup`` creates the first workspace
and its owner exactly once. Passwords are hashed with argon2id (in a worker thread, since a
hash takes tens of milliseconds of CPU). Console sessions are opaque random tokens of which
only the SHA-256 is stored, so a database dump does not log anyone in. Failed logins are
counted per email in the database, which every API replica shares.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from plait import __version__
from plait.app.audit import Actor, record
from plait.errors import BadRequest, Forbidden, InvalidInput, TooManyRequests, Unauthorized
from plait.settings import AuthSettings
from plait.storage.db import Database
from plait.storage.db.repos import accounts as repo
from plait.storage.db.tables import Account, AccountSession, LoginFailure, Membership, SetupMarker, Workspace
from plait.storage.db.types import utcnow

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256

# argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane): about a tenth of
# a second here. The library's default profile (64 MiB, 4 lanes) takes half a second of both
# cores per attempt on a small server, which turns the login form into a denial-of-service lever.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a miss costs as much as a hit
    and response times do not reveal which emails have accounts."""
    return _hasher.hash(secrets.token_urlsafe(16))


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput("Invalid email address.", params="email")
    return email


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long.", params="password"
        )
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise InvalidInput("Password must contain letters and digits.", params="password")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SetupResult:
    account_id: str
    workspace_id: str


@dataclass(frozen=True)
class SetupStatus:
    done: bool
    setup_at: datetime | None


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: datetime
    account_id: str


@dataclass(frozen=True)
class ConsoleIdentity:
    """Who a console request acts as: the account, and its role in its current workspace."""

    account_id: str
    email: str
    name: str
    interface_language: str
    timezone: str
    last_login_at: datetime | None
    created_at: datetime
    workspace_id: str
    workspace_name: str
    role: str

    def actor(self, request_id: str | None = None) -> Actor:
        return Actor(type="account", id=self.account_id, request_id=request_id)


class Accounts:
    def __init__(self, db: Database, settings: AuthSettings) -> None:
        self._db = db
        self._settings = settings

    async def setup_status(self) -> SetupStatus:
        async with self._db.reader() as session:
            marker = await repo.setup_marker(session)
        return SetupStatus(done=marker is not None, setup_at=marker.setup_at if marker else None)

    def check_init_password(self, given: str | None) -> None:
        """When ``INIT_PASSWORD`` is set, the console's setup call must present it."""
        expected = self._settings.init_password
        if expected and not hmac.compare_digest((given or "").encode(), expected.encode()):
            raise Forbidden("The init password is not correct.", code="init_validate_failed")

    async def setup(
        self,
        *,
        email: str,
        password: str,
        name: str | None,
        workspace_name: str | None,
        actor: Actor,
    ) -> SetupResult:
        email = normalise_email(email)
        check_password_policy(password)
        name = (name or email.split("@", 1)[0]).strip()[:255]
        if not name:
            raise InvalidInput("Name must not be empty.", params="name")
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        try:
            async with self._db.transaction() as session:
                if await repo.setup_marker(session) is not None:
                    raise Forbidden("Plait has already been set up.", code="already_setup")
                session.add(SetupMarker(id=1, version=__version__))
                workspace = Workspace(name=(workspace_name or f"{name}'s Workspace").strip()[:255])
                account = Account(email=email, name=name, password_hash=password_hash)
                session.add_all([workspace, account])
                await session.flush()
                session.add(Membership(workspace_id=workspace.id, account_id=account.id, role="owner"))
                record(
                    session,
                    actor,
                    "setup.completed",
                    workspace_id=workspace.id,
                    target_type="account",
                    target_id=account.id,
                    detail={"email": email},
                )
        except IntegrityError:
            # Another setup committed between our check and our insert.
            raise Forbidden("Plait has already been set up.", code="already_setup") from None
        return SetupResult(account_id=account.id, workspace_id=workspace.id)

    async def login(self, *, email: str, password: str, ip: str | None) -> LoginResult:
        email = normalise_email(email)
        now = utcnow()
        await self._record_attempt(email, ip, now)
        async with self._db.reader() as session:
            account = await repo.account_by_email(session, email)
        stored = account.password_hash if account and account.password_hash else _dummy_hash()
        valid = await asyncio.to_thread(_verify, stored, password)
        if not valid or account is None or account.status != "active":
            # The attempt stays recorded as a failure.
            if account is not None and account.status == "banned" and valid:
                raise Forbidden("This account is banned.", code="account_banned")
            raise BadRequest("Invalid email or password.", code="email_or_password_mismatch")

        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(seconds=self._settings.session_ttl_seconds)
        rehash = _hasher.check_needs_rehash(stored)
        new_hash = await asyncio.to_thread(_hasher.hash, password) if rehash else None
        async with self._db.transaction() as session:
            await repo.clear_failures(session, email)  # this attempt's record included
            await repo.delete_expired_sessions(session, now)
            session.add(
                AccountSession(account_id=account.id, token_hash=token_hash(token), expires_at=expires_at, ip=ip)
            )
            fresh = await session.get(Account, account.id)
            if fresh is not None:
                fresh.last_login_at = now
                fresh.last_login_ip = ip
                if new_hash:
                    fresh.password_hash = new_hash
        return LoginResult(token=token, expires_at=expires_at, account_id=account.id)

    async def _record_attempt(self, email: str, ip: str | None, now: datetime) -> None:
        """Count this attempt against the email's limit before its password is checked, so
        parallel guesses cannot all slip in under the limit; refuse it once the limit is
        reached. A successful login clears the count."""
        window_start = now - timedelta(seconds=self._settings.login_lockout_seconds)
        limit = self._settings.login_max_failures
        async with self._db.transaction() as session:
            await repo.lock_login_email(session, email)
            failures = await repo.recent_failures(session, email, window_start)
            if len(failures) >= limit:
                # The oldest failure that keeps the count at the limit must leave the window.
                retry_after = int((failures[-limit] - window_start).total_seconds()) + 1
                raise TooManyRequests(
                    "Too many failed login attempts. Please try again later.",
                    retry_after=max(retry_after, 1),
                    code="login_rate_limited",
                )
            session.add(LoginFailure(email=email, ip=ip, created_at=now))

    async def authenticate(self, token: str) -> ConsoleIdentity:
        async with self._db.reader() as session:
            found = await repo.session_with_account(session, token_hash(token))
            if found is None:
                raise Unauthorized("Invalid or expired session; please log in again.")
            console_session, account = found
            if console_session.expires_at <= utcnow() or account.status != "active":
                raise Unauthorized("Invalid or expired session; please log in again.")
            membership = await repo.current_membership(session, account.id)
        if membership is None:
            raise Forbidden("This account belongs to no active workspace.")
        member, workspace = membership
        return ConsoleIdentity(
            account_id=account.id,
            email=account.email,
            name=account.name,
            interface_language=account.interface_language,
            timezone=account.timezone,
            last_login_at=account.last_login_at,
            created_at=account.created_at,
            workspace_id=workspace.id,
            workspace_name=workspace.name,
            role=member.role,
        )

    async def logout(self, token: str) -> None:
        async with self._db.transaction() as session:
            await repo.delete_session(session, token_hash(token))


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
