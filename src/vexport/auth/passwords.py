"""Password hashes: Argon2id (argon2-cffi) or scrypt (the standard library), never plain text.

Formats: Argon2's own PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)
and ``$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`` (unpadded base64), the
layout passlib uses. Checking is slow on purpose (tens of milliseconds): the
adapters call it from a thread. An unknown user is checked against a dummy
hash, so the answer's timing does not tell which user names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password", "waste_time"]

_ARGON2 = PasswordHasher()
_SCRYPT_LN, _SCRYPT_R, _SCRYPT_P = 15, 8, 1
_DUMMY = _ARGON2.hash("vexport: no such user")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, scheme: str = "argon2") -> str:
    if scheme == "argon2":
        return _ARGON2.hash(password)
    if scheme == "scrypt":
        salt = os.urandom(16)
        digest = _scrypt(password, salt, _SCRYPT_LN, _SCRYPT_R, _SCRYPT_P)
        params = f"ln={_SCRYPT_LN},r={_SCRYPT_R},p={_SCRYPT_P}"
        return f"$scrypt${params}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown password scheme {scheme!r}: argon2 or scrypt")


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``; False for a hash of no known format."""
    if stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    if stored.startswith("$scrypt$"):
        try:
            _, _, params, salt, digest = stored.split("$")
            values = dict(item.split("=", 1) for item in params.split(","))
            expected = _unb64(digest)
            got = _scrypt(
                password, _unb64(salt), int(values["ln"]), int(values["r"]), int(values["p"])
            )
        except (ValueError, KeyError):
            return False
        return hmac.compare_digest(got, expected)
    return False


def waste_time(password: str) -> None:
    """As long as checking a real hash: for a user name that does not exist."""
    verify_password(_DUMMY, password)


def _scrypt(password: str, salt: bytes, ln: int, r: int, p: int) -> bytes:
    n = 1 << ln
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )
