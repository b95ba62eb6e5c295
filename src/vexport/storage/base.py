"""What every storage reader is: the protocol, its error, and URL resolution.

This is the leaf of the storage layer: the readers (``readers.py``, ``s3.py``)
and everything above (archive indexes, the media engine) import it, it
imports none of them.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urljoin, urlsplit

from vexport.redact import redact_url

__all__ = ["REFERENCE_SCHEMES", "StorageError", "StorageReader", "is_plain_path", "resolve_url"]

REFERENCE_SCHEMES = frozenset({"file", "http", "https", "s3"})
"""Schemes a manifest reference may name outright (a reader exists for each)."""


class StorageError(Exception):
    """A manifest or segment could not be read; message for the user (no secrets)."""


class StorageReader(Protocol):
    def read(self, url: str) -> bytes:
        """The whole object at ``url``; raises StorageError."""
        ...


def resolve_url(base: str, reference: str) -> str:
    """Resolve a manifest-relative reference (segment URI) against the manifest URL.

    Plain paths are turned into ``file://`` URLs first so that ``urljoin``
    treats both kinds alike; an absolute reference (any scheme) wins as is,
    except where a manifest would send the server somewhere only the server's
    own credentials reach: ``file:`` only from local manifests, ``s3:`` only
    from local or S3 ones (a StorageError otherwise).
    ``s3://`` bases are resolved here: ``urljoin`` does not know the scheme.
    """
    scheme = urlsplit(reference).scheme.lower()
    if scheme in REFERENCE_SCHEMES:
        if scheme == "file" and not _is_local(base):
            raise StorageError(
                f"{redact_url(base)}: a remote manifest may not reference local files"
            )
        if scheme == "s3" and not (_is_local(base) or urlsplit(base).scheme.lower() == "s3"):
            raise StorageError(f"{redact_url(base)}: an HTTP manifest may not reference S3")
        return reference
    if urlsplit(base).scheme.lower() == "s3":
        return _resolve_s3(base, reference)
    if is_plain_path(base):
        base = Path(base).resolve().as_uri()
    return urljoin(base, reference)


def is_plain_path(url: str) -> bool:
    """A path rather than a URL: read from the local disk."""
    return url.startswith("/") or urlsplit(url).scheme == ""


def _is_local(url: str) -> bool:
    return is_plain_path(url) or urlsplit(url).scheme.lower() == "file"


def _resolve_s3(base: str, reference: str) -> str:
    """``reference`` (a URI reference, so percent-encoded) against ``s3://bucket/dir/file``.

    The result stays in the base's bucket: ``/key`` is from the bucket's root,
    ``..`` cannot climb above it. Keys in ``s3://`` URLs are raw, as in the
    AWS tools, so the reference's path is decoded; query and fragment go.
    """
    bucket, _, key = base[len("s3://") :].partition("/")
    path = unquote(urlsplit(reference).path)
    if not path:
        return base
    joined = path if path.startswith("/") else posixpath.dirname("/" + key) + "/" + path
    parts: list[str] = []
    for segment in joined.split("/"):
        if segment == "..":
            if not parts:
                raise StorageError(f"{redact_url(base)}: reference {reference!r} leaves the bucket")
            parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return f"s3://{bucket}/" + "/".join(parts)
