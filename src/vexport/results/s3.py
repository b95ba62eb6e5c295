"""Result files in S3: the scaled-out result store, and ``cloud_export`` deliveries.

As the result store (``[results] store = "s3"``), a job's files are kept at
``s3://<bucket>/<prefix><job>/<attempt>/<file>`` so that any replica serves any
download; reads are ranged GETs streamed in blocks, never a whole object in
memory; retention deletes the objects.

As the ``cloud_export`` destination (``[results] s3_bucket``), each finished
file is also uploaded to ``s3://<bucket>/<prefix><job>/<file>`` and the File
message carries that URL as ``cloud_id``. Deliveries are deliverables:
retention does not delete them (an S3 lifecycle rule can).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from vexport.errors import NotFound
from vexport.results.base import ResultFile, attempt_key, exact_blocks, with_key
from vexport.s3.client import S3Endpoint, S3Error, make_client, s3_error, safe_key, split_s3_url
from vexport.s3.upload import UploadedObject, upload_file

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3ResultStore"]

log = logging.getLogger(__name__)

_READ_BLOCK = 256 * 1024


class S3ResultStore:
    """A job's files under one bucket and prefix."""

    def __init__(self, client: S3Client | S3Endpoint, bucket: str, prefix: str = "") -> None:
        self._client = make_client(client) if isinstance(client, S3Endpoint) else client
        self.bucket = bucket
        self.prefix = prefix

    # -- the result store -----------------------------------------------------

    def put(self, job_id: str, attempt: int, file: ResultFile, path: Path) -> ResultFile:
        """Upload (verified, all or nothing; raises ``S3Error``), then drop the local copy."""
        key = safe_key(self.prefix + attempt_key(job_id, attempt, file.file_id))
        upload_file(
            self._client, path, self.bucket, key, content_type=file.mime_type, sha256=file.sha256
        )
        path.unlink(missing_ok=True)
        return with_key(file, key)

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise s3_error(exc, bucket=self.bucket) from None

    def open(self, file: ResultFile) -> _S3Reader:
        if not file.key.startswith(self.prefix) or not file.key:
            raise NotFound(f"file {file.file_id!r} is not in the result store")
        return _S3Reader(self._client, self.bucket, file.key, file.size)

    def delete(self, job_id: str, attempt: int | None = None) -> None:
        """Delete every object of the job (or one attempt), a thousand keys per request."""
        prefix = safe_key(self.prefix + job_id) + "/"
        if attempt is not None:
            prefix += f"{attempt}/"
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": item["Key"]} for item in page.get("Contents", [])
                ]
                if keys:
                    self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        except (ClientError, BotoCoreError) as exc:
            # Retention tries again on its next pass only if the row remains; log it loudly.
            log.warning("could not delete %s: %s", prefix, s3_error(exc, bucket=self.bucket))

    # -- cloud_export deliveries ----------------------------------------------

    def key_for(self, job_id: str, file_id: str) -> str:
        """``<prefix><job>/<file>``; ValueError if that could escape the prefix."""
        return safe_key(self.prefix + job_id, file_id)

    def upload(self, job_id: str, file: ResultFile, path: Path) -> UploadedObject:
        """Deliver one result file; raises ``S3Error`` (and leaves no object behind)."""
        return upload_file(
            self._client,
            path,
            self.bucket,
            self.key_for(job_id, file.file_id),
            content_type=file.mime_type,
            sha256=file.sha256,
        )

    def delete_urls(self, cloud_ids: list[str]) -> None:
        """Best effort: remove the objects of a delivery that failed half-way."""
        for cloud_id in cloud_ids:
            bucket, key = split_s3_url(cloud_id)
            try:
                self._client.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not delete %s after a failed cloud export: %s",
                            cloud_id, type(exc).__name__)  # fmt: skip


class _S3Reader:
    """One ranged GET per ``chunks`` call, its body read in blocks as the client takes them."""

    def __init__(self, client: S3Client, bucket: str, key: str, size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self.size = size
        self._body: Any = None

    def chunks(self, start: int, chunk_size: int, end: int | None = None) -> Iterator[bytes]:
        stop = self.size if end is None else min(end, self.size)
        if start >= stop:
            return
        try:
            response = self._client.get_object(
                Bucket=self._bucket, Key=self._key, Range=f"bytes={start}-{stop - 1}"
            )
        except (ClientError, BotoCoreError) as exc:
            error = s3_error(exc, bucket=self._bucket, key=self._key)
            if error.code in ("NoSuchKey", "NotFound"):
                raise NotFound("the file is missing from the result store") from None
            raise error from None
        self._body = response["Body"]
        block = max(chunk_size, _READ_BLOCK)
        try:
            yield from exact_blocks(iter(lambda: self._body.read(block), b""), chunk_size)
        except OSError as exc:  # the connection broke off mid-body
            raise S3Error(
                "ConnectionError",
                f"s3://{self._bucket}/{self._key}: the download from S3 broke off",
                bucket=self._bucket,
                key=self._key,
            ) from exc
        finally:
            self._body.close()
            self._body = None

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
