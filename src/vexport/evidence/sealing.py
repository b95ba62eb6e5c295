"""A package password kept with its job, sealed: never in a database row as it was typed.

The evidence ZIP is encrypted by the worker that runs the export, so the
password has to travel with the stored plan. It is sealed with AES-256-GCM
under a key derived (HKDF-SHA256) from the signing key, which every node
that signs has: the replica that accepts the export seals it, the worker
unseals it. Scaled out, the nodes must share a configured signing key
(``[evidence] signing_key``); a generated key is each node's own, and a
worker that cannot unseal fails the export and says why.
"""

from __future__ import annotations

import base64
import os
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vexport.config import EvidenceConfig
from vexport.evidence.keys import SigningKey, load_signing_key

__all__ = ["PasswordUnreadable", "seal", "sealing_key", "sealing_key_of", "unseal"]

_INFO = b"vexport evidence package password v1"


class PasswordUnreadable(Exception):
    """The sealed password was sealed under another key (or damaged)."""


def sealing_key_of(key: SigningKey) -> bytes:
    raw = key.private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw)


def sealing_key(config: EvidenceConfig, data_dir: Path) -> bytes:
    """The sealing key of this node's signing key (read once per configuration)."""
    password = config.signing_key_password
    return _cached(
        config.signing_key,
        config.certificate_chain,
        data_dir.resolve(),
        password.get_secret_value() if password is not None else None,
    )


@lru_cache(maxsize=4)
def _cached(
    key_path: Path | None, chain: Path | None, data_dir: Path, password: str | None
) -> bytes:
    key = load_signing_key(key_path, chain, data_dir, password.encode() if password else None)
    return sealing_key_of(key)


def seal(password: str, key: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, password.encode("utf-8"), _INFO)
    return base64.b64encode(nonce + sealed).decode("ascii")


def unseal(sealed: str, key: bytes) -> str:
    try:
        data = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(data[:12], data[12:], _INFO).decode("utf-8")
    except (ValueError, InvalidTag):
        raise PasswordUnreadable(
            "the package password was sealed under another signing key; nodes that share"
            " exports must share [evidence] signing_key"
        ) from None
