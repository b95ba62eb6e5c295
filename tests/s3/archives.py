"""Test archives (``tests.media_fixtures``) uploaded to the moto S3 server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def upload_tree(client: S3Client, directory: Path, bucket: str, prefix: str) -> None:
    """Every file under ``directory`` to ``s3://bucket/prefix/<relative path>``."""
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            key = f"{prefix.rstrip('/')}/{path.relative_to(directory).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
