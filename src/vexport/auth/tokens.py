"""Bearer tokens: made at random, stored only as hashes, sessions that expire.

Two kinds, told apart by their prefix so a log line or a leaked token says
what it is: ``vxs_`` session tokens (AuthenticateEx2; expire after
``session_ttl``, renewable until ``renew_window`` after the first login) and
``vxt_`` API tokens (long-lived, configured as ``sha256:<hex>`` hashes). A
token has 256 random bits, so a plain SHA-256 is enough to store it: no
dictionary guesses at such a secret.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Protocol

__all__ = [
    "API_PREFIX",
    "SESSION_PREFIX",
    "MemorySessionTokens",
    "SessionRecord",
    "SessionTokens",
    "bearer_token",
    "new_token",
    "token_hash",
]

SESSION_PREFIX = "vxs_"
API_PREFIX = "vxt_"
MAX_TOKEN_LENGTH = 8192
"""Longer than any JWT an identity provider sends; longer headers are refused unread."""


def new_token(prefix: str = SESSION_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def bearer_token(value: str | None) -> str | None:
    """The token of an ``authorization`` value ``Bearer <token>``; None if it is not one."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@dataclass(frozen=True)
class SessionRecord:
    """One live session token, by its hash; renewals keep ``renewable_until``."""

    token_hash: str
    user: str
    issued_at: datetime
    expires_at: datetime
    renewable_until: datetime


class SessionTokens(Protocol):
    """Where session tokens live: the database (``jobs.accounts``), so every replica knows them."""

    def add(self, record: SessionRecord) -> None: ...

    def get(self, token_hash: str) -> SessionRecord | None: ...

    def remove(self, token_hash: str) -> bool: ...

    def purge(self, before: datetime) -> int: ...


class MemorySessionTokens:
    """Session tokens in this process only (unit tests, a single process without a database)."""

    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._lock = Lock()

    def add(self, record: SessionRecord) -> None:
        with self._lock:
            self._records[record.token_hash] = record

    def get(self, token_hash: str) -> SessionRecord | None:
        with self._lock:
            return self._records.get(token_hash)

    def remove(self, token_hash: str) -> bool:
        with self._lock:
            return self._records.pop(token_hash, None) is not None

    def purge(self, before: datetime) -> int:
        with self._lock:
            old = [key for key, r in self._records.items() if r.renewable_until < before]
            for key in old:
                del self._records[key]
            return len(old)
