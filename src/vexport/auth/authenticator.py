"""Logging in and checking bearer tokens: the one place that says who a caller is.

Every method is synchronous (password hashes are slow on purpose, session
tokens live in the database): the adapters call them from threads. Time comes
from an injected clock so that tests expire tokens without waiting.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from vexport.auth.directory import Directory
from vexport.auth.passwords import verify_password, waste_time
from vexport.auth.principal import Principal
from vexport.auth.tokens import (
    API_PREFIX,
    SESSION_PREFIX,
    SessionRecord,
    SessionTokens,
    new_token,
    token_hash,
)
from vexport.errors import Unauthenticated
from vexport.timeutil import utcnow

__all__ = ["Authenticator", "Issued", "Locked", "WrongCredentials"]

log = logging.getLogger(__name__)

MAX_CREDENTIAL_LENGTH = 1024
"""User names and passwords longer than this are refused before any hashing."""
_MAX_TRACKED = 10_000
"""User names whose wrong passwords are remembered at once (the oldest go first)."""


class WrongCredentials(Unauthenticated):
    """An unknown user, a wrong password, or a user without a password."""


class Locked(Unauthenticated):
    """Too many wrong passwords for this user name lately: logins wait out the lockout."""


class Expired(Unauthenticated):
    """A session token past its ``expires_at``: RenewSession2 gives a new one."""


@dataclass(frozen=True)
class Issued:
    token: str
    principal: Principal
    expires_at: datetime
    expires_in: int


class Authenticator:
    def __init__(
        self,
        directory: Directory,
        sessions: SessionTokens,
        *,
        session_ttl: timedelta,
        renew_window: timedelta,
        jwt: Callable[[str], Principal] | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_failures: int = 10,
        lockout: timedelta = timedelta(minutes=5),
    ) -> None:
        self.directory = directory
        self.sessions = sessions
        self.session_ttl = session_ttl
        self.renew_window = renew_window
        self.jwt = jwt
        self.clock = clock
        self.max_failures = max_failures
        self.lockout = lockout
        self._failures: dict[str, list[datetime]] = {}
        self._failures_lock = threading.Lock()

    def login(self, user_name: str, password: str) -> Issued:
        """A new session token for a user name and password; ``WrongCredentials`` if not."""
        if len(user_name) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
            raise WrongCredentials("wrong user name or password")
        now = self.clock()
        self._check_lockout(user_name, now)
        user = self.directory.user(user_name)
        if user is None or user.password_hash is None:
            waste_time(password)
            self._failed(user_name, now)
        if not verify_password(user.password_hash, password):
            self._failed(user_name, now)
        with self._failures_lock:
            self._failures.pop(user_name, None)
        return self._issue(user.name, now, now + self.renew_window)

    def _check_lockout(self, user_name: str, now: datetime) -> None:
        with self._failures_lock:
            recent = [t for t in self._failures.get(user_name, []) if t > now - self.lockout]
            if recent:
                self._failures[user_name] = recent
            else:
                self._failures.pop(user_name, None)
        if len(recent) >= self.max_failures:
            left = (recent[-self.max_failures] + self.lockout - now).total_seconds()
            wait = max(1, math.ceil(left))
            raise Locked(f"too many wrong passwords for this user; try again in {wait} s")

    def _failed(self, user_name: str, now: datetime) -> NoReturn:
        """Note a wrong password (bounded: names of no user are noted too) and refuse."""
        with self._failures_lock:
            if len(self._failures) >= _MAX_TRACKED and user_name not in self._failures:
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(user_name, []).append(now)
            del self._failures[user_name][: -self.max_failures]
        raise WrongCredentials("wrong user name or password")

    def authenticate(self, token: str) -> Principal:
        """The caller a bearer token names; ``Unauthenticated`` saying why not."""
        if token.startswith(SESSION_PREFIX):
            record = self.sessions.get(token_hash(token))
            if record is None:
                raise Unauthenticated("the session token is unknown or closed; log in again")
            if record.expires_at <= self.clock():
                raise Expired("the session token has expired; renew it with RenewSession2")
            return self._principal_of(record.user, "session")
        if token.startswith(API_PREFIX):
            user = self.directory.user_of_token(token_hash(token))
            if user is None:
                raise Unauthenticated("unknown API token")
            return self.directory.principal(user, method="token")
        if self.jwt is not None and token.count(".") == 2:
            return self.jwt(token)
        raise Unauthenticated("not a token this server gave out")

    def authenticate_certificate(self, names: Sequence[str]) -> Principal | None:
        """The caller a verified client certificate names (mTLS), if a user claims it."""
        user = self.directory.user_of_certificate(names)
        return None if user is None else self.directory.principal(user, method="certificate")

    def renew(self, token: str) -> Issued:
        """A new session token for ``token`` (also an expired one, within its renewal window)."""
        if not token.startswith(SESSION_PREFIX):
            raise Unauthenticated("only session tokens are renewed; log in with AuthenticateEx2")
        hashed = token_hash(token)
        record = self.sessions.get(hashed)
        now = self.clock()
        if record is None or record.renewable_until <= now:
            raise Unauthenticated("the session token cannot be renewed any more; log in again")
        if self.directory.user(record.user) is None:
            raise Unauthenticated("the user no longer exists")
        self.sessions.remove(hashed)
        return self._issue(record.user, record.issued_at, record.renewable_until)

    def close(self, token: str) -> None:
        """End a session token (also an expired one); ``Unauthenticated`` for any other."""
        if not token.startswith(SESSION_PREFIX) or not self.sessions.remove(token_hash(token)):
            raise Unauthenticated("not an open session token")

    def purge(self) -> int:
        """Forget session tokens past their renewal window (the timers call it)."""
        return self.sessions.purge(self.clock())

    def _issue(self, user: str, issued_at: datetime, renewable_until: datetime) -> Issued:
        now = self.clock()
        token = new_token(SESSION_PREFIX)
        expires_at = min(now + self.session_ttl, renewable_until)
        self.sessions.add(
            SessionRecord(
                token_hash=token_hash(token),
                user=user,
                issued_at=issued_at,
                expires_at=expires_at,
                renewable_until=renewable_until,
            )
        )
        return Issued(
            token=token,
            principal=self._principal_of(user, "session"),
            expires_at=expires_at,
            expires_in=max(0, int((expires_at - now).total_seconds())),
        )

    def _principal_of(self, name: str, method: str) -> Principal:
        user = self.directory.user(name)
        if user is None:
            raise Unauthenticated("the user no longer exists")
        return self.directory.principal(user, method=method)
