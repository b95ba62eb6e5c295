"""Archive manifests and segments read from S3 (``s3://bucket/key``).

One reader is bound to one endpoint (region, endpoint URL, credentials): the
bucket comes from each URL, the *where and as whom* from the configuration
(or, for ``export-to-s3dir``, from the request). Errors are ``StorageError``
like every other reader, with messages built from the S3 error code, never
from botocore's text; the ``S3Error`` (with its ``code``) is the cause, for
callers that map errors to codes of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from vexport.s3.client import S3Endpoint, S3Error, make_client, s3_error, split_s3_url
from vexport.storage.base import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Reader"]


class S3Reader:
    """``StorageReader`` for ``s3://bucket/key`` URLs through one S3 client.

    Takes a ready client (shared with uploads, say) or an ``S3Endpoint`` to
    make one from. botocore retries failed requests (``standard`` mode);
    this reader also retries a body that broke off mid-transfer, which
    botocore does not, ``retries`` times with exponential backoff.
    """

    def __init__(
        self,
        client: S3Client | S3Endpoint,
        *,
        retries: int = 2,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = make_client(client) if isinstance(client, S3Endpoint) else client
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep

    @property
    def client(self) -> S3Client:
        return self._client

    def read(self, url: str) -> bytes:
        try:
            bucket, key = split_s3_url(url)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
        attempt = 0
        while True:
            error = self._get(bucket, key)
            if isinstance(error, bytes):
                return error
            if not error.transient or attempt >= self._retries:
                # Outside any except block: the chain holds the S3Error, not botocore's.
                raise StorageError(str(error)) from error
            self._sleep(self._backoff * 2**attempt)
            attempt += 1

    def _get(self, bucket: str, key: str) -> bytes | S3Error:
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            return s3_error(exc, bucket=bucket, key=key)
        except OSError:  # urllib3's protocol errors on a body that broke off
            return S3Error(
                "ConnectionError",
                f"s3://{bucket}/{key}: the connection to S3 broke off (try again later)",
                bucket=bucket,
                key=key,
            )
