"""The detached signature of a manifest, and its check.

The signature file is canonical JSON beside the manifest: the algorithm, the
key id, the Ed25519 signature (base64) over the manifest file's exact bytes,
the manifest's SHA-256, the public key (PEM) and the X.509 chain that vouches
for it, if one is configured. The public key inside proves only that the two
files belong together; whether the key is *the exporter's* is for the
recipient to check against the key published by the exporter
(``GET /v1/evidence/keys``) or given to ``vexport verify --key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from vexport.errors import FailedPrecondition
from vexport.evidence.canonical import canonical_json
from vexport.evidence.keys import PublicKey, SigningKey, public_key_from_pem

__all__ = ["SIGNATURE_FORMAT", "SignatureCheck", "check_signature", "sign_manifest"]

SIGNATURE_FORMAT = "vexport-signature/1"


def sign_manifest(manifest: bytes, manifest_name: str, key: SigningKey) -> bytes:
    """The signature file's bytes for ``manifest`` (the manifest file's exact bytes)."""
    document = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "Ed25519",
        "key_id": key.key_id,
        "signed_file": manifest_name,
        "signed_sha256": hashlib.sha256(manifest).hexdigest(),
        "signature": base64.b64encode(key.sign(manifest)).decode("ascii"),
        "public_key": key.public.pem,
        "certificate_chain": list(key.public.certificate_chain),
        "self_signed": key.public.self_signed,
    }
    return canonical_json(document)


@dataclass(frozen=True)
class SignatureCheck:
    """``valid``: the signature matches the manifest under the key it names.
    ``trusted``: that key is one of the keys given as trusted (None: none were given)."""

    valid: bool
    key_id: str = ""
    reason: str = ""
    self_signed: bool = True
    trusted: bool | None = None


def check_signature(
    manifest: bytes, signature: bytes, trusted: Sequence[PublicKey] = ()
) -> SignatureCheck:
    try:
        document = json.loads(signature)
        if not isinstance(document, dict) or document.get("format") != SIGNATURE_FORMAT:
            return SignatureCheck(False, reason="not a vexport signature file")
        key_id = str(document["key_id"])
        raw = base64.b64decode(document["signature"], validate=True)
        key = public_key_from_pem(str(document["public_key"]).encode("ascii"), "the signature")
    except (ValueError, KeyError, TypeError, binascii.Error, FailedPrecondition):
        return SignatureCheck(False, reason="the signature file is damaged")
    if key.key_id != key_id:
        return SignatureCheck(False, key_id, "the key id does not match the key beside it")
    try:
        key.key.verify(raw, manifest)
    except InvalidSignature:
        return SignatureCheck(False, key_id, "the signature does not match the manifest")
    self_signed = bool(document.get("self_signed", True))
    if not trusted:
        return SignatureCheck(True, key_id, self_signed=self_signed)
    known = any(t.key_id == key_id for t in trusted)
    return SignatureCheck(
        True,
        key_id,
        "" if known else "signed by a key that is not among the trusted keys",
        self_signed=self_signed,
        trusted=known,
    )
