"""Uploading a result file to S3: one PUT when small, multipart when large.

What the caller can rely on:

- **Integrity.** Every request carries its SHA-256 (``x-amz-checksum-sha256``),
  which S3 checks before accepting the bytes; afterwards the object's size and
  the checksum S3 reports (whole-object for a PUT, checksum-of-part-checksums
  for multipart) are compared with ours. The file's own SHA-256 is stored in
  the object's metadata (``x-amz-meta-sha256``) and returned.
- **Throughput.** Parts go up to ``concurrency`` at a time (4 by default), so
  a long round trip does not idle the link; memory is that many parts.
- **Retries.** Transient failures (5xx, throttling, timeouts, connection
  trouble) are retried per request with exponential backoff, on top of
  botocore's own quick retries; 4xx answers (access denied, no such bucket)
  are not — asking again will not help.
- **All or nothing.** On any failure the multipart upload is aborted and an
  object that fails verification is deleted: a failed upload leaves no object
  and no pending parts behind (pending parts cost money on AWS).
- **No secrets** in errors or logs: failures are ``S3Error`` naming the bucket
  and key (see ``vexport.s3.client``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from vexport.s3.client import S3Error, s3_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

__all__ = ["MIN_PART_SIZE", "UploadedObject", "upload_file"]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB
"""S3 refuses smaller parts (except the last)."""
MAX_PARTS = 10_000
"""S3's limit on parts per upload; larger files get larger parts."""

T = TypeVar("T")


@dataclass(frozen=True)
class UploadedObject:
    """An object that S3 holds and that matched what was sent."""

    bucket: str
    key: str
    size: int
    etag: str
    sha256: str  # hex SHA-256 of the whole file

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def upload_file(
    client: S3Client,
    path: Path,
    bucket: str,
    key: str,
    *,
    content_type: str,
    part_size: int = 8 * MiB,
    sha256: str | None = None,
    concurrency: int = 4,
    retries: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadedObject:
    """Upload ``path`` to ``s3://bucket/key``; raises ``S3Error`` and leaves nothing behind.

    ``sha256`` (hex) saves reading the file twice when the caller already has
    it. ``concurrency``: parts in flight at once. ``retries`` is the number of
    extra attempts per request for transient errors, waiting
    ``backoff * 2**n`` seconds before attempt ``n + 1``.
    """
    if part_size < MIN_PART_SIZE:
        raise ValueError(f"part_size: at least {MIN_PART_SIZE} bytes (S3's minimum part)")
    if concurrency < 1:
        raise ValueError("concurrency: at least 1")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise S3Error(
            "LocalFileError",
            f"s3://{bucket}/{key}: cannot read the file to upload ({exc.strerror})",
            bucket=bucket,
            key=key,
        ) from None
    if sha256 is None:
        sha256 = _file_sha256(path)
    upload = _Upload(
        client,
        bucket,
        key,
        concurrency=concurrency,
        retries=retries,
        backoff=backoff,
        sleep=sleep,
    )
    extra: dict[str, Any] = {"ContentType": content_type, "Metadata": {"sha256": sha256}}
    if size < part_size:
        etag = upload.single(path.read_bytes(), extra)
    else:
        while -(-size // part_size) > MAX_PARTS:
            part_size *= 2
        etag = upload.multipart(path, part_size, extra)
    log.info("uploaded %s bytes to s3://%s/%s", size, bucket, key)
    return UploadedObject(bucket=bucket, key=key, size=size, etag=etag, sha256=sha256)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _Upload:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        concurrency: int,
        retries: int,
        backoff: float,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.concurrency = concurrency
        self.verified_etag = ""  # the ETag HEAD reported in the last verify()
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep

    def call(self, what: str, request: Callable[[], T]) -> T:
        """``request()`` with retries on transient errors; S3Error when it gives up."""
        attempt = 0
        while True:
            try:
                return request()
            except (ClientError, BotoCoreError) as exc:
                error = s3_error(exc, bucket=self.bucket, key=self.key)
            if not error.transient or attempt >= self.retries:
                raise error
            delay = self.backoff * 2**attempt
            log.warning("%s of s3://%s/%s: %s; retrying in %.1f s",
                        what, self.bucket, self.key, error.code, delay)  # fmt: skip
            self.sleep(delay)
            attempt += 1

    def single(self, data: bytes, extra: dict[str, Any]) -> str:
        checksum = _b64(hashlib.sha256(data).digest())
        response = self.call(
            "PUT",
            lambda: self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=data, ChecksumSHA256=checksum, **extra
            ),
        )
        self.verify(len(data), checksum)
        return response["ETag"].strip('"')

    def multipart(self, path: Path, part_size: int, extra: dict[str, Any]) -> str:
        created = self.call(
            "create multipart upload",
            lambda: self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256", **extra
            ),
        )
        upload_id = created["UploadId"]
        try:
            parts, digests, size = self._parts(path, part_size, upload_id)
            composite = _b64(hashlib.sha256(b"".join(digests)).digest())
            etag = self._complete(upload_id, parts, size, composite)
        except BaseException:
            self._abort(upload_id)
            raise
        if etag is None:  # completed by an attempt whose answer was lost, and verified
            return self.verified_etag
        self.verify(size, composite)
        return etag

    def _complete(
        self, upload_id: str, parts: list[CompletedPartTypeDef], size: int, composite: str
    ) -> str | None:
        """The object's ETag, or None when a retried complete found it already done."""
        try:
            response = self.call(
                "complete multipart upload",
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                ),
            )
        except S3Error as error:
            if error.code != "NoSuchUpload":
                raise
            # A retry after a lost answer finds the upload gone because it
            # worked: the object is there if it passes verification.
            try:
                self.verify(size, composite)
            except S3Error:
                raise error from None
            return None
        return response["ETag"].strip('"')

    def _parts(
        self, path: Path, part_size: int, upload_id: str
    ) -> tuple[list[CompletedPartTypeDef], list[bytes], int]:
        """Send every part, ``concurrency`` at a time; the first failure stops the rest.

        Parts not yet started are cancelled; the pool's exit waits for those
        in flight, so the abort that follows finds no part still arriving.
        """
        done: dict[int, tuple[CompletedPartTypeDef, bytes]] = {}
        size = 0
        number = 0
        pending: set[Future[tuple[int, CompletedPartTypeDef, bytes]]] = set()
        with (
            path.open("rb") as handle,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="s3-part") as pool,
        ):
            try:
                while True:
                    while len(pending) < self.concurrency and (data := handle.read(part_size)):
                        number += 1
                        size += len(data)
                        pending.add(pool.submit(self._part, upload_id, number, data))
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        sent, part, digest = future.result()  # raises the part's S3Error
                        done[sent] = (part, digest)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        ordered = [done[n] for n in sorted(done)]
        return [part for part, _ in ordered], [digest for _, digest in ordered], size

    def _part(
        self, upload_id: str, number: int, data: bytes
    ) -> tuple[int, CompletedPartTypeDef, bytes]:
        digest = hashlib.sha256(data).digest()
        checksum = _b64(digest)
        response = self.call(
            f"part {number}",
            lambda: self.client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumSHA256=checksum,
            ),
        )
        echoed = response.get("ChecksumSHA256")
        if echoed and echoed != checksum:
            raise S3Error(
                "BadDigest",
                f"s3://{self.bucket}/{self.key}: part {number} arrived damaged",
                bucket=self.bucket,
                key=self.key,
            )
        part: CompletedPartTypeDef = {
            "PartNumber": number,
            "ETag": response["ETag"],
            "ChecksumSHA256": checksum,
        }
        return number, part, digest

    def _abort(self, upload_id: str) -> None:
        try:
            self.call(
                "abort multipart upload",
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=upload_id
                ),
            )
        except S3Error as error:
            # The original failure matters more; a lifecycle rule cleans up the rest.
            log.warning("could not abort the multipart upload: %s", error)

    def verify(self, size: int, checksum: str) -> None:
        """The object S3 now holds has our size and (when S3 reports one) our checksum.

        Multipart objects carry a checksum of the parts' checksums, reported
        with a ``-N`` suffix by AWS (without by some S3-compatible stores).
        Stores that report no checksum are checked by size only; keys that may
        not read the object back are trusted to S3's own per-request checks.
        Any other failure deletes the object: a failed upload leaves none.
        """
        try:
            head = self.call(
                "HEAD",
                lambda: self.client.head_object(
                    Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED"
                ),
            )
        except S3Error as error:
            if not error.access_denied:
                self._delete()
                raise
            # A write-only key (common for delivery buckets) may not read back;
            # S3 has already checked every request's checksum.
            log.debug("s3://%s/%s: cannot read back to verify", self.bucket, self.key)
            return
        reported = (head.get("ChecksumSHA256") or "").split("-")[0]
        if head["ContentLength"] == size and reported in ("", checksum):
            self.verified_etag = head.get("ETag", "").strip('"')
            return
        self._delete()
        what = "size" if head["ContentLength"] != size else "SHA-256 checksum"
        raise S3Error(
            "BadDigest",
            f"s3://{self.bucket}/{self.key}: the stored object's {what} does not match"
            " the file (deleted)",
            bucket=self.bucket,
            key=self.key,
        )

    def _delete(self) -> None:
        try:
            self.call(
                "DELETE",
                lambda: self.client.delete_object(Bucket=self.bucket, Key=self.key),
            )
        except S3Error as error:
            log.warning("could not delete the damaged object: %s", error)
