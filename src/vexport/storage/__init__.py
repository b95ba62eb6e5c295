"""Storage: reading manifests and segments from local disk, HTTP(S) and S3.

One protocol (``StorageReader.read(url) -> bytes``) over one reader per URL
scheme; ``default_reader`` dispatches by scheme. Everything above (archive
indexes, the media engine) sees only the protocol and ``StorageError``.
"""

from vexport.storage.base import StorageError, StorageReader, resolve_url
from vexport.storage.readers import (
    SCHEME_READERS,
    DispatchReader,
    FileReader,
    HttpReader,
    default_reader,
)

__all__ = [
    "SCHEME_READERS",
    "DispatchReader",
    "FileReader",
    "HttpReader",
    "StorageError",
    "StorageReader",
    "default_reader",
    "resolve_url",
]
