"""Reading archive manifests and segments from where they live.

A URL's scheme picks the reader: ``file:///abs/path`` and plain absolute paths
read the local disk, ``http(s)://`` goes through httpx, ``s3://bucket/key``
through boto3 (``vexport.storage.s3``). More backends plug in by registering a
reader for their scheme in ``SCHEME_READERS``; everything above this module
only sees ``StorageReader.read(url) -> bytes``.

Error messages show URLs through ``vexport.redact.redact_url``: archives are often reached
with credentials in the userinfo or signed query strings, and error messages
end up in logs and in API responses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from vexport.redact import redact_url
from vexport.storage.base import StorageError, StorageReader, is_plain_path, resolve_url

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


class FileReader:
    """Local files, by ``file://`` URL or absolute path."""

    def read(self, url: str) -> bytes:
        path = self._path(url)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StorageError(f"{redact_url(url)}: no such file") from None
        except OSError as exc:
            raise StorageError(f"{redact_url(url)}: cannot read ({exc.strerror})") from None

    @staticmethod
    def _path(url: str) -> Path:
        if is_plain_path(url):
            path = Path(url)
        else:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise StorageError(f"{redact_url(url)}: file URLs on other hosts are not supported")
            path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise StorageError(f"{url}: a local path must be absolute")
        return path


DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
"""Connect fast or fail; a segment of a few megabytes may take a while on a slow link."""


class HttpReader:
    """HTTP(S) with a shared connection pool and a few retries on transient failures.

    Retried: connection errors, timeouts and 5xx answers, with exponential
    backoff. Not retried: 4xx, which will not get better by asking again.
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff: float = 0.25,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep

    def read(self, url: str) -> bytes:
        shown = redact_url(url)
        attempt = 0
        while True:
            try:
                response = self._client.get(url)
            except httpx.TransportError as exc:
                reason = _transport_reason(exc)
                if attempt >= self._retries:
                    raise StorageError(f"{shown}: {reason}") from None
            else:
                if response.status_code < 400:
                    return response.content
                reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                if response.status_code < 500 or attempt >= self._retries:
                    raise StorageError(f"{shown}: {reason}")
            self._sleep(self._backoff * 2**attempt)
            attempt += 1

    def close(self) -> None:
        self._client.close()


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"transfer failed ({type(exc).__name__})"


def _s3_reader() -> StorageReader:
    """S3 with boto3's default credentials chain; ``default_reader(s3=...)`` configures it."""
    from vexport.s3.client import S3Endpoint  # lazily: boto3 is slow to import
    from vexport.storage.s3 import S3Reader

    return S3Reader(S3Endpoint())


SCHEME_READERS: dict[str, Callable[[], StorageReader]] = {
    "file": FileReader,
    "http": HttpReader,
    "https": HttpReader,
    "s3": _s3_reader,
}
"""Reader factory per URL scheme; ``DispatchReader`` makes one per scheme on first use."""


class DispatchReader:
    """Reads any URL with the reader registered for its scheme."""

    def __init__(self, readers: dict[str, Callable[[], StorageReader]] | None = None) -> None:
        self._factories = dict(SCHEME_READERS if readers is None else readers)
        self._readers: dict[str, StorageReader] = {}

    def read(self, url: str) -> bytes:
        scheme = "file" if is_plain_path(url) else urlsplit(url).scheme.lower()
        reader = self._readers.get(scheme)
        if reader is None:
            factory = self._factories.get(scheme)
            if factory is None:
                raise StorageError(f"{redact_url(url)}: unsupported URL scheme {scheme!r}")
            reader = self._readers[scheme] = factory()
        return reader.read(url)


def default_reader(*, s3: StorageReader | None = None) -> StorageReader:
    """A reader for file, HTTP(S) and S3 URLs; ``s3`` is the configured S3 reader
    (without it, S3 is reached with boto3's default region and credentials)."""
    readers = dict(SCHEME_READERS)
    if s3 is not None:
        readers["s3"] = lambda: s3
    return DispatchReader(readers)
