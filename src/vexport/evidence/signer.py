"""Signing a finished session: the manifest and its signature as two more result files.

The job engine calls ``Signer.sign`` after the media engine wrote the files
(and after C2PA credentials went into them, which changes their bytes), with
the files already described and hashed; the manifest and the signature are
written into the run's work directory and stored like every other file, so
they are downloadable by DownloadFile and HTTP, and their hashes are in the
wire result.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from vexport.config import EvidenceConfig
from vexport.evidence.keys import KeyRing, SigningKey, load_signing_key, retired_keys
from vexport.evidence.manifest import (
    MANIFEST_MIME,
    SIGNATURE_MIME,
    SessionFacts,
    build_manifest,
    manifest_names,
)
from vexport.evidence.signing import sign_manifest
from vexport.results.base import ResultFile, sha256_of

__all__ = ["Signer", "load_signer"]


def load_signer(config: EvidenceConfig, data_dir: Path) -> Signer:
    """The signing key and key ring the configuration names (generating the default key)."""
    password = config.signing_key_password
    key = load_signing_key(
        config.signing_key,
        config.certificate_chain,
        data_dir,
        password.get_secret_value().encode() if password is not None else None,
    )
    retired = retired_keys(config.retired_keys, data_dir)
    return Signer(key, KeyRing([key.public, *retired]))


class Signer:
    def __init__(self, key: SigningKey, keyring: KeyRing) -> None:
        self.key = key
        self.keyring = keyring

    def sign(self, facts: SessionFacts, workdir: Path) -> list[tuple[ResultFile, Path]]:
        """Write ``facts``' manifest and signature into ``workdir``; their descriptions."""
        manifest_name, signature_name = manifest_names(facts.plan.file_stem)
        manifest = build_manifest(facts)
        signature = sign_manifest(manifest, manifest_name, self.key)
        first = min((f.first_frame for f in facts.files), default=facts.created_at)
        last = max((f.last_frame for f in facts.files), default=facts.created_at)
        origin = facts.plan.sources[0].origin if facts.plan.sources else ""
        out = []
        for name, data, mime in (
            (manifest_name, manifest, MANIFEST_MIME),
            (signature_name, signature, SIGNATURE_MIME),
        ):
            path = workdir / name
            path.write_bytes(data)
            path.chmod(0o600)
            out.append((_described(path, origin, first, last, mime), path))
        return out


def _described(path: Path, origin: str, first: datetime, last: datetime, mime: str) -> ResultFile:
    return ResultFile(
        file_id=path.name,
        origin=origin,
        size=path.stat().st_size,
        first_frame=first,
        last_frame=last,
        mime_type=mime,
        sha256=sha256_of(path),
    )
