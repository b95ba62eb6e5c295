"""Archive manifests and segments read from S3 (``s3://bucket/key``).

One reader is bound to one endpoint (region, endpoint URL, credentials): the
bucket comes from each URL, the *where and as whom* from the configuration
(or, for ``export-to-s3dir``, from the request). Errors are ``StorageError``
like every other reader, with messages built from the S3 error code, never
from botocore's text; the ``S3Error`` (with its ``code``) is the cause, for
callers that map errors to codes of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from vexport.s3.client import S3Endpoint, S3Error, make_client, s3_error, split_s3_url
from vexport.sources.storage import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3Reader"]


class S3Reader:
    """``StorageReader`` for ``s3://bucket/key`` URLs through one S3 client.

    Takes a ready client (shared with uploads, say) or an ``S3Endpoint`` to
    make one from. botocore retries transient failures (``standard`` mode);
    what is left after that is reported.
    """

    def __init__(self, client: S3Client | S3Endpoint) -> None:
        self._client = make_client(client) if isinstance(client, S3Endpoint) else client

    @property
    def client(self) -> S3Client:
        return self._client

    def read(self, url: str) -> bytes:
        try:
            bucket, key = split_s3_url(url)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
        error: S3Error
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            error = s3_error(exc, bucket=bucket, key=key)
        except OSError as exc:  # the body's connection dropped mid-read
            error = S3Error(
                "ConnectionError",
                f"s3://{bucket}/{key}: connection lost while reading ({type(exc).__name__})",
                bucket=bucket,
                key=key,
            )
        # Raised outside the except block: the chain holds the S3Error, not botocore's.
        raise StorageError(str(error)) from error
