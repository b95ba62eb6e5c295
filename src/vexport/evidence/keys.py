"""Signing keys: the configured one or a generated one, their ids, and the retired ones.

A manifest names the key that signed it by a key id: ``ed25519:`` and the
first 16 bytes (hex) of the SHA-256 of the raw public key. The ids of every
key a server ever signed with stay published (``GET /v1/evidence/keys``), so
an export signed before a rotation still verifies after it.

With no key configured (the embedded default), a key is generated on first
run under ``data_dir/evidence/`` (owner-only) and a warning says that
signatures made with it prove integrity, not identity: it is self-signed,
nobody vouches for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vexport.errors import FailedPrecondition

__all__ = [
    "GENERATED_KEY_NAME",
    "KeyRing",
    "PublicKey",
    "SigningKey",
    "key_id_of",
    "load_public_key",
    "load_signing_key",
    "public_key_from_pem",
]

log = logging.getLogger(__name__)

GENERATED_KEY_NAME = "signing-key.pem"
"""The generated key's file under ``data_dir/evidence/``."""


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its id, PEM, and the X.509 chain that vouches for it (if any)."""

    key_id: str
    key: Ed25519PublicKey
    certificate_chain: tuple[str, ...] = ()
    self_signed: bool = True

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def to_json(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "algorithm": "Ed25519",
            "public_key": self.pem,
            "certificate_chain": list(self.certificate_chain),
            "self_signed": self.self_signed,
        }


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public: PublicKey
    # The chain's leaf certifies ``private``'s public key (C2PA signs with both).
    chain_pem: bytes = b""
    private_pem: bytes = field(default=b"", repr=False)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


class KeyRing:
    """Every public key this server signed with: the current one first, then retired ones."""

    def __init__(self, keys: Iterable[PublicKey]) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            self._keys.setdefault(key.key_id, key)

    def get(self, key_id: str) -> PublicKey | None:
        return self._keys.get(key_id)

    def public_keys(self) -> list[PublicKey]:
        return list(self._keys.values())


def load_signing_key(
    key_path: Path | None, chain_path: Path | None, data_dir: Path, password: bytes | None = None
) -> SigningKey:
    """The configured key (PEM, Ed25519), else the generated one (made on first run)."""
    chain: tuple[str, ...] = ()
    chain_pem = b""
    if chain_path is not None:
        chain_pem = _read(chain_path, "certificate chain")
        chain = tuple(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                      for c in _certificates(chain_pem, chain_path))  # fmt: skip
    if key_path is not None:
        pem = _read(key_path, "signing key")
        private = _private_key(pem, key_path, password)
    else:
        private, pem = _generated(data_dir / "evidence" / GENERATED_KEY_NAME)
    public = private.public_key()
    if chain:
        leaf = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
        if leaf.public_key() != public:
            raise FailedPrecondition(
                "[evidence] certificate_chain: its first certificate is not the signing key's"
            )
    unencrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        private=private,
        public=PublicKey(key_id_of(public), public, chain, self_signed=not chain),
        chain_pem=chain_pem,
        private_pem=unencrypted,
    )


def load_public_key(path: Path) -> PublicKey:
    """A retired key from a PEM file: a public key, a certificate, or a certificate chain."""
    return public_key_from_pem(_read(path, "retired key"), str(path.name))


def public_key_from_pem(pem: bytes, what: str = "key") -> PublicKey:
    key: Any
    if b"CERTIFICATE" in pem:
        certificates = _certificates(pem, Path(what))
        key = certificates[0].public_key()
        chain = tuple(c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                      for c in certificates)  # fmt: skip
    else:
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError:
            raise FailedPrecondition(f"{what}: not a PEM public key") from None
        chain = ()
    if not isinstance(key, Ed25519PublicKey):
        raise FailedPrecondition(f"{what}: not an Ed25519 key")
    return PublicKey(key_id_of(key), key, chain, self_signed=not chain)


def retired_keys(paths: Sequence[Path], data_dir: Path) -> list[PublicKey]:
    """The configured retired keys, and the generated key once a configured one replaced it."""
    keys = [load_public_key(p) for p in paths]
    generated = data_dir / "evidence" / GENERATED_KEY_NAME
    if generated.exists():
        private = _private_key(_read(generated, "generated key"), generated, None)
        public = private.public_key()
        keys.append(PublicKey(key_id_of(public), public))
    return keys


def _generated(path: Path) -> tuple[Ed25519PrivateKey, bytes]:
    if path.exists():
        pem = _read(path, "generated signing key")
        return _private_key(pem, path, None), pem
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile: use theirs
        pem = _read(path, "generated signing key")
        return _private_key(pem, path, None), pem
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    log.warning(
        "evidence: generated a signing key (%s) under the data directory; it is self-signed:"
        " signatures prove the files are unchanged, not who made them. Configure"
        " [evidence] signing_key and certificate_chain for exports others must trust.",
        key_id_of(private.public_key()),
    )
    return private, pem


def _private_key(pem: bytes, path: Path, password: bytes | None) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError):
        raise FailedPrecondition(
            f"[evidence] {path.name}: not a PEM private key (or the wrong password)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise FailedPrecondition(f"[evidence] {path.name}: the signing key must be Ed25519")
    return key


def _certificates(pem: bytes, path: Path) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise FailedPrecondition(f"[evidence] {path.name}: not a PEM certificate chain") from None
    if not certificates:
        raise FailedPrecondition(f"[evidence] {path.name}: no certificate")
    return certificates


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FailedPrecondition(f"[evidence] {what} {path.name}: {exc.strerror}") from None
