"""Result files delivered to S3 (``cloud_export``).

The local directory stays the session's working copy: downloads and
retention work as for every session. With ``cloud_export`` each finished
file is also uploaded to ``s3://<s3_bucket>/<s3_prefix><session id>/<file id>``
and the File message carries that URL as ``cloud_id``. Uploaded objects are
deliverables: retention does not delete them (an S3 lifecycle rule can).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from vexport.s3.client import S3Endpoint, make_client, safe_key, split_s3_url
from vexport.s3.upload import UploadedObject, upload_file
from vexport.sessions.model import ResultFile

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["S3ResultStore"]

log = logging.getLogger(__name__)


class S3ResultStore:
    """Uploads a session's files under one bucket and prefix."""

    def __init__(self, client: S3Client | S3Endpoint, bucket: str, prefix: str = "") -> None:
        self._client = make_client(client) if isinstance(client, S3Endpoint) else client
        self.bucket = bucket
        self.prefix = prefix

    def key_for(self, session_id: str, file_id: str) -> str:
        """``<prefix><session id>/<file id>``; ValueError if that could escape the prefix."""
        return safe_key(self.prefix + session_id, file_id)

    def upload(self, session_id: str, file: ResultFile, path: Path) -> UploadedObject:
        """Upload one result file; raises ``S3Error`` (and leaves no object behind)."""
        return upload_file(
            self._client,
            path,
            self.bucket,
            self.key_for(session_id, file.file_id),
            content_type=file.mime_type,
            sha256=file.sha256,
        )

    def delete(self, cloud_ids: list[str]) -> None:
        """Best effort: remove objects of an export whose delivery failed half-way."""
        for cloud_id in cloud_ids:
            bucket, key = split_s3_url(cloud_id)
            try:
                self._client.delete_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not delete %s after a failed cloud export: %s",
                            cloud_id, type(exc).__name__)  # fmt: skip
