"""A boto3 S3 client configured in one place, and the errors and keys around it.

Why a module of its own: the archive reader, the result uploader and the
``export-to-s3dir`` HTTP call all reach S3 with credentials that come from the
configuration *or from a request*. Those credentials must never show up in a
log line, an error message or a ``repr`` — so they travel as ``S3Credentials``
(whose ``repr`` hides the secret), and every botocore failure is turned into
an ``S3Error`` built from the S3 error *code* and a message of our own, never
from botocore's text (which can quote request details).
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    ReadTimeoutError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ADDRESSING_STYLES",
    "S3Credentials",
    "S3Endpoint",
    "S3Error",
    "make_client",
    "parse_key_pair",
    "s3_error",
    "safe_key",
    "shared_client",
    "split_s3_url",
]

ADDRESSING_STYLES = ("auto", "path", "virtual")
"""botocore's addressing styles; MinIO and Ceph usually want ``path``."""

CONNECT_TIMEOUT = 5.0
"""Seconds to connect: an endpoint that does not answer fast is down or wrong."""

READ_TIMEOUT = 60.0
"""Seconds between bytes: a multipart part of several MiB on a slow link takes a while."""

MAX_ATTEMPTS = 4
"""Attempts in all (botocore ``standard`` mode): transient errors and throttling, with backoff."""


@dataclass(frozen=True)
class S3Credentials:
    """An access key pair; ``repr``/``str`` show the access key only."""

    access_key: str
    secret_key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"S3Credentials(access_key={self.access_key!r}, secret_key='***')"

    __str__ = __repr__


def parse_key_pair(text: str, *, field: str) -> S3Credentials:
    """``ACCESS:SECRET`` as credentials; ValueError names ``field``, never the secret.

    The secret may itself contain ``:`` (it is base64-like), so only the first
    colon separates the two.
    """
    access, sep, secret = text.partition(":")
    access, secret = access.strip(), secret.strip()
    if not sep:
        raise ValueError(f"{field}: expected ACCESS_KEY:SECRET_KEY (no ':' found)")
    if not access:
        raise ValueError(f"{field}: the access key (before ':') is empty")
    if not secret:
        raise ValueError(f"{field}: the secret key (after ':') is empty")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in access + secret):
        raise ValueError(f"{field}: keys must not contain spaces or control characters")
    return S3Credentials(access_key=access, secret_key=secret)


@dataclass(frozen=True)
class S3Endpoint:
    """Where and as whom to reach S3; ``None`` values fall back to boto3's defaults.

    ``credentials=None`` uses boto3's default chain (environment, shared
    files, instance role), which is what a deployment on AWS wants.
    """

    region: str | None = None
    endpoint_url: str | None = None
    credentials: S3Credentials | None = None
    addressing_style: str = "auto"

    def __post_init__(self) -> None:
        if self.addressing_style not in ADDRESSING_STYLES:
            raise ValueError(
                f"addressing_style: {self.addressing_style!r} is not one of "
                + ", ".join(ADDRESSING_STYLES)
            )
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("endpoint_url: expected http(s)://host[:port]")
            if parts.username or parts.password:
                raise ValueError("endpoint_url: put credentials in the access/secret keys")


_SESSION: boto3.session.Session | None = None
_SESSION_LOCK = threading.Lock()


def make_client(endpoint: S3Endpoint) -> S3Client:
    """A boto3 S3 client with our retries, timeouts and addressing style.

    Clients come from one boto3 session of our own, under a lock: a session
    is not safe to create clients from concurrently, but it caches the S3
    service model, which makes a client in 4 ms instead of 60 (a fresh
    session per client). The client itself is thread-safe and meant to be
    shared.
    """
    global _SESSION
    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        s3={"addressing_style": endpoint.addressing_style},  # type: ignore[arg-type]
        # Only send/verify CRC checksums when the operation requires it: not
        # every S3-compatible store knows the newer default (CRC32 on every PUT).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    creds = endpoint.credentials
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION.client(
            "s3",
            # Unset: boto3's own (AWS_REGION, shared config), else S3's default region.
            region_name=endpoint.region or _SESSION.region_name or "us-east-1",
            endpoint_url=endpoint.endpoint_url,
            aws_access_key_id=creds.access_key if creds else None,
            aws_secret_access_key=creds.secret_key if creds else None,
            config=config,
        )


@functools.lru_cache(maxsize=32)
def shared_client(endpoint: S3Endpoint) -> S3Client:
    """A client per distinct endpoint (and keys), kept for reuse.

    Sharing a client shares its connection pool; callers that see the same
    endpoint again and again (``export-to-s3dir`` polls carry the same keys)
    share one, and with it its connection pool. Two threads racing on a new
    endpoint may each make one; both work.
    """
    return make_client(endpoint)


class S3Error(Exception):
    """An S3 operation failed. ``code`` is S3's error code (or one of ours for
    transport failures: ``EndpointConnectionError``, ``Timeout``, ``NoCredentials``);
    the message names bucket and key and says what to do, without secrets."""

    def __init__(self, code: str, message: str, *, bucket: str, key: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.bucket = bucket
        self.key = key

    @property
    def transient(self) -> bool:
        """Worth retrying: server errors, throttling, connection trouble."""
        return self.code in _TRANSIENT_CODES

    @property
    def access_denied(self) -> bool:
        """The credentials or their permissions are the problem, not the object."""
        return self.code in _ACCESS_CODES


_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "EndpointConnectionError",
        "ConnectionError",
        "Timeout",
        "HTTP500",
        "HTTP502",
        "HTTP503",
        "HTTP504",
    }
)

_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoCredentials",
    }
)

_REASONS = {
    "AccessDenied": "access denied by S3 (check the key's permissions on the bucket)",
    "AllAccessDisabled": "access denied by S3 (all access to this object is disabled)",
    "InvalidAccessKeyId": "access denied by S3: unknown access key (check the access key)",
    "SignatureDoesNotMatch": "access denied by S3: bad signature (check the secret key)",
    "ExpiredToken": "access denied by S3: the session token has expired",
    "InvalidToken": "access denied by S3: the session token is not valid",
    "NoSuchBucket": "no such bucket",
    "NoSuchKey": "no such object",
    "NotFound": "no such object",
    "NoSuchUpload": "the multipart upload no longer exists",
    "InvalidBucketName": "invalid bucket name",
    "PermanentRedirect": "the bucket is in another region (set the region)",
    "AuthorizationHeaderMalformed": "the region does not match the bucket's (set the region)",
    "RequestTimeTooSkewed": "this server's clock is too far off S3's (fix the clock)",
    "EntityTooSmall": "a multipart part is below S3's minimum size",
    "InvalidPart": "a multipart part was not accepted",
    "BadDigest": "the data did not match its checksum",
    "InvalidRequest": "S3 refused the request as invalid",
    "SlowDown": "S3 is throttling requests (try again later)",
    "Throttling": "S3 is throttling requests (try again later)",
    "ServiceUnavailable": "S3 is unavailable (try again later)",
    "InternalError": "S3 had an internal error (try again later)",
    "NoCredentials": "no S3 credentials configured (set access_key and secret_key)",
    "EndpointConnectionError": "cannot connect to the S3 endpoint (check endpoint_url)",
    "Timeout": "the S3 endpoint timed out",
    "ConnectionError": "the connection to S3 broke off (try again later)",
}

_HTTP_CODES = {
    "301": "PermanentRedirect",
    "400": "InvalidRequest",
    "403": "AccessDenied",
    "404": "NotFound",
}


def s3_error(exc: BaseException, *, bucket: str, key: str | None = None) -> S3Error:
    """An ``S3Error`` for a botocore failure on ``bucket``/``key``.

    The message is ours (``s3://bucket/key: reason``), built from the error
    code only: botocore's own text can quote headers and URLs.
    """
    if isinstance(exc, S3Error):
        return exc
    code = "Unknown"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        # HEAD requests have no body: the code is the bare status ("404").
        if code.isdigit():
            code = _HTTP_CODES.get(code, f"HTTP{code}")
        elif code == "Unknown" and status:
            code = _HTTP_CODES.get(status, f"HTTP{status}")
    elif isinstance(exc, EndpointConnectionError):
        code = "EndpointConnectionError"
    elif isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        code = "Timeout"
    elif isinstance(exc, HTTPClientError | IncompleteReadError):
        code = "ConnectionError"  # closed mid-request or mid-body
    elif isinstance(exc, NoCredentialsError):
        code = "NoCredentials"
    elif isinstance(exc, BotoCoreError):
        code = type(exc).__name__
    reason = _REASONS.get(code) or f"S3 error {code}"
    return S3Error(code, f"{_where(bucket, key)}: {reason}", bucket=bucket, key=key)


def _where(bucket: str, key: str | None) -> str:
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"


# 3 to 63 characters today; older us-east-1 buckets may be longer and hold '_'.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-_]{2,254}$")


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` as ``(bucket, key)``; ValueError for anything else.

    The key is returned verbatim (S3 keys are not percent-encoded in
    ``s3://`` URLs), and must be present: a bucket alone names no object.
    """
    if not url.lower().startswith("s3://"):
        raise ValueError(f"{url!r} is not an s3:// URL")
    rest = url[5:]
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"s3 URL: invalid bucket name {bucket!r}")
    if "@" in bucket or "?" in rest or "#" in rest:
        raise ValueError("s3 URL: userinfo, query and fragment are not allowed")
    if not key:
        raise ValueError(f"s3 URL: no object key after s3://{bucket}/")
    return bucket, key


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe_key(*parts: str) -> str:
    """Join key parts with ``/``, refusing anything that could escape a prefix.

    S3 itself has no directories, but S3-compatible stores backed by file
    systems (and every tool that mirrors a bucket to disk) treat ``..`` and
    leading slashes as paths. Refused, with the reason: ``..`` or ``.``
    segments, absolute or leading ``/``, backslashes, NUL and control
    characters, and percent-encodings or Unicode look-alikes (fullwidth
    ``．．``, which NFKC-normalising tools turn into ``..``) of any of those.
    Empty parts are skipped; a ``/`` at the end of a part is fine.
    """
    pieces: list[str] = []
    for index, part in enumerate(parts):
        if not isinstance(part, str):
            raise ValueError(f"key part {index}: expected text")
        if not part:
            continue
        _check_part(part)
        if part.startswith("/"):
            raise ValueError(f"key part {part!r}: must not start with '/'")
        pieces.append(part.rstrip("/"))
    key = "/".join(p for p in pieces if p)
    if not key:
        raise ValueError("empty object key")
    if "//" in key:
        raise ValueError(f"key {key!r}: empty path segment ('//')")
    if len(key.encode()) > 1024:
        raise ValueError("key longer than S3's 1024 bytes")
    return key


def _check_part(part: str) -> None:
    decoded = part
    # Decode repeatedly: %252e%252e is %2e%2e is "..".
    for _ in range(3):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    for text in (part, decoded, unicodedata.normalize("NFKC", decoded)):
        if _CONTROL.search(text):
            raise ValueError("key: NUL or control characters are not allowed")
        if "\\" in text:
            raise ValueError("key: backslashes are not allowed")
        segments = text.split("/")
        if any(seg in ("..", ".") for seg in segments):
            raise ValueError("key: '.' and '..' segments are not allowed")
    if decoded != part and decoded.startswith("/"):
        raise ValueError("key: an encoded leading '/' is not allowed")
