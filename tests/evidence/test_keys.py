"""Keys: the generated default, key ids, rotation; canonical JSON."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vexport.config import EvidenceConfig
from vexport.errors import FailedPrecondition
from vexport.evidence.canonical import canonical_json
from vexport.evidence.keys import GENERATED_KEY_NAME
from vexport.evidence.signer import load_signer
from vexport.evidence.signing import check_signature, sign_manifest


def test_the_default_key_is_generated_once_owner_only_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vexport.evidence.keys"):
        first = load_signer(EvidenceConfig(), tmp_path)
    assert "self-signed" in caplog.text
    path = tmp_path / "evidence" / GENERATED_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vexport.evidence.keys"):
        again = load_signer(EvidenceConfig(), tmp_path)
    assert again.key.key_id == first.key.key_id
    assert "generated" not in caplog.text
    assert first.key.key_id.startswith("ed25519:") and len(first.key.key_id) == 8 + 32
    assert first.key.public.self_signed


def _key_file(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _public_file(private: Path, path: Path) -> Path:
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_after_a_rotation_old_signatures_still_verify(tmp_path: Path) -> None:
    generated = load_signer(EvidenceConfig(), tmp_path)
    manifest = canonical_json({"files": [], "format": "vexport-manifest/1"})
    old_signature = sign_manifest(manifest, "export.manifest.json", generated.key)

    old_configured = _key_file(tmp_path / "2025.pem")
    new_configured = _key_file(tmp_path / "2026.pem")
    config = EvidenceConfig(
        signing_key=new_configured,
        retired_keys=[_public_file(old_configured, tmp_path / "2025.pub.pem")],
    )
    rotated = load_signer(config, tmp_path)
    ids = [k.key_id for k in rotated.keyring.public_keys()]
    assert ids[0] == rotated.key.key_id != generated.key.key_id
    assert generated.key.key_id in ids  # the generated key it replaced stays published
    assert load_signer(EvidenceConfig(signing_key=old_configured), tmp_path).key.key_id in ids
    check = check_signature(manifest, old_signature, rotated.keyring.public_keys())
    assert check.valid and check.trusted
    new = sign_manifest(manifest, "export.manifest.json", rotated.key)
    assert json.loads(new)["key_id"] == rotated.key.key_id
    assert check_signature(manifest, new, rotated.keyring.public_keys()).trusted


def test_a_key_that_is_not_ed25519_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(FailedPrecondition, match=r"key\.pem: not a PEM private key"):
        load_signer(EvidenceConfig(signing_key=bad), tmp_path)
    missing = tmp_path / "missing.pem"
    with pytest.raises(FailedPrecondition, match=r"missing\.pem"):
        load_signer(EvidenceConfig(signing_key=missing), tmp_path)


def test_canonical_json_sorts_keys_drops_whitespace_and_prints_numbers_as_ecmascript() -> None:
    value = {"b": [1, 2.0, 0.5, 1e-7, 1e21, 123.456], "a": {"é": "ü", "z": None, "y": True}}
    assert canonical_json(value) == (
        '{"a":{"y":true,"z":null,"é":"ü"},"b":[1,2,0.5,1e-7,1e+21,123.456]}'.encode()
    )
    assert canonical_json(json.loads(canonical_json(value))) == canonical_json(value)
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
