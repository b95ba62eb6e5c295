"""An export-to-s3dir request, checked: the archive span to cut and where the clip goes.

Built by the contract (``vexport.api.contract.s3dir``) from the caller's JSON.
It holds the caller's key pair, so it lives only in the memory of the process
that received it; the job row keeps ``public_json()`` (no key, no SessionId).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from vexport.media.formats import ContainerFormat
from vexport.media.rendering import VideoCodec
from vexport.s3.client import S3Credentials

__all__ = ["S3DirRequest"]


@dataclass(frozen=True)
class S3DirRequest:
    archive_bucket: str
    archive_key: str
    archive_region: str | None
    start: datetime
    duration_ms: int
    codec: VideoCodec
    container: ContainerFormat
    destination_bucket: str
    destination_region: str | None
    destination_key: str  # the clip; the image is next to it
    credentials: S3Credentials = field(repr=False)
    # The SessionId the caller authenticated with: part of the job's identity, never stored.
    caller: str = field(default="", repr=False)

    @property
    def archive_url(self) -> str:
        return f"s3://{self.archive_bucket}/{self.archive_key}"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.duration_ms)

    @property
    def image_key(self) -> str:
        return str(PurePosixPath(self.destination_key).with_suffix(".jpg"))

    @property
    def directory(self) -> str:
        parent = str(PurePosixPath(self.destination_key).parent)
        return "" if parent == "." else parent + "/"

    def public_json(self) -> dict[str, Any]:
        """What an operator needs to recognise the job, without the caller's secrets."""
        return {
            "archive": self.archive_url,
            "start": self.start.isoformat(),
            "duration_ms": self.duration_ms,
            "codec": self.codec.value,
            "container": self.container.value,
            "destination": f"s3://{self.destination_bucket}/{self.destination_key}",
        }
