"""The evidence package: one ZIP a recipient can check with nothing but this README.

It holds the session's files, the signed manifest, its signature, the public
key (and the certificate chain, if one is configured) and a README that says
how to verify it, with ``vexport verify`` or with OpenSSL and sha256sum.
With a password the ZIP is AES-256 encrypted (WinZip AE-2, which 7-Zip,
WinZip, macOS Archive Utility with 7-Zip support and ``pyzipper`` open);
the file names stay visible, as in every ZIP, the contents do not.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import pyzipper

from vexport.evidence.keys import SigningKey

__all__ = ["PACKAGE_MIME", "package_name", "write_package"]

PACKAGE_MIME = "application/zip"

_README = """\
Evidence package of a vexport export
====================================

Session:  {session}
Signed by key {key_id}{self_signed}

This package holds the exported files, the manifest that lists them
({manifest}), its signature ({signature}) and the public key that made the
signature (public-key.pem{chain}). The manifest says what was asked, which
recorded segments were read (with their SHA-256), what was done to the video
(which frames were copied from the recording, which were re-encoded and why)
and the size and SHA-256 of every file.

How to check it
---------------
With vexport (no server needed):

    vexport verify {package}{password_option}

It prints one verdict per file (verified, modified, missing, not signed) and
the frames that were processed, and exits non-zero on any failure. Given the
recorded archive, it also proves that every copied frame is the camera's own:

    vexport verify {package} --archive DIRECTORY-OR-URL-OF-THE-ARCHIVE

Without vexport:

1. Compare the key id above with the keys the exporter publishes
   (GET /api/v1/evidence/keys on its server), or the public key with the one
   you were given by other means.
2. Check the signature (OpenSSL 3):

       python3 -c "import json,base64,sys; \\
         sys.stdout.buffer.write(base64.b64decode(json.load(open('{signature}'))['signature']))" \\
         > signature.bin
       openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin \\
         -in {manifest} -sigfile signature.bin

3. Compare every file's SHA-256 (sha256sum FILE) with its "sha256" in the
   manifest, and check that no listed file is missing.

MP4, MOV, AVI, JPEG, PNG and PDF files may also carry C2PA content
credentials, which any C2PA reader (e.g. https://contentcredentials.org/verify)
shows.
"""


def package_name(file_stem: str) -> str:
    return f"{file_stem}.evidence.zip"


def write_package(
    path: Path,
    files: Sequence[Path],
    *,
    manifest: Path,
    signature: Path,
    key: SigningKey,
    session_id: str,
    password: str | None = None,
) -> Path:
    """Write the package at ``path``: ``files``, the manifest, its signature, key, README."""
    readme = _README.format(
        session=session_id,
        key_id=key.key_id,
        self_signed=" (self-signed)" if key.public.self_signed else "",
        manifest=manifest.name,
        signature=signature.name,
        chain=", certificate-chain.pem" if key.public.certificate_chain else "",
        package=path.name,
        password_option=" --password PASSWORD" if password else "",
    )
    encryption = pyzipper.WZ_AES if password else None
    with pyzipper.AESZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED, encryption=encryption
    ) as archive:
        if password:
            archive.setpassword(password.encode("utf-8"))
            archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for file in files:
            # Video and images do not deflate: stored as they are, quickly.
            archive.write(file, file.name, compress_type=zipfile.ZIP_STORED)
        archive.write(manifest, manifest.name)
        archive.write(signature, signature.name)
        archive.writestr("public-key.pem", key.public.pem)
        if key.public.certificate_chain:
            archive.writestr("certificate-chain.pem", "".join(key.public.certificate_chain))
        archive.writestr("README.txt", readme)
    path.chmod(0o600)
    return path
