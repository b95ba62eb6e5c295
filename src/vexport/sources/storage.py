"""Reading archive manifests and segments from where they live.

INTERFACE STUB: the implementation (file and HTTP(S); S3 comes later) fills
this in. URLs are ``file:///abs/path``, plain absolute paths, or ``http(s)://``.
"""

from __future__ import annotations

from typing import Protocol


class StorageError(Exception):
    """A manifest or segment could not be read; message for the user (no secrets)."""


class StorageReader(Protocol):
    def read(self, url: str) -> bytes:
        """The whole object at ``url``; raises StorageError."""
        ...


def resolve_url(base: str, reference: str) -> str:
    """Resolve a manifest-relative reference (segment URI) against the manifest URL."""
    ...


def default_reader() -> StorageReader:
    """A reader for file and HTTP(S) URLs."""
    ...
