"""A server for export-to-s3dir tests: S3 through the moto server, one caller, fast polls."""

from __future__ import annotations

from pathlib import Path

from tests.api.harness import make_settings
from tests.s3server import REGION
from vexport.config import Settings
from vexport.s3.client import S3Credentials


def s3dir_settings(
    data_dir: Path, endpoint_url: str, credentials: S3Credentials, caller: str, bucket: str
) -> Settings:
    """Settings serving ``caller`` from archives in ``bucket`` (at most two jobs at once)."""
    return make_settings(
        data_dir,
        s3={
            "region": REGION,
            "endpoint_url": endpoint_url,
            "access_key": credentials.access_key,
            "secret_key": credentials.secret_key,
            "addressing_style": "path",
        },
        export_to_s3dir={
            "session_ids": [caller],
            "archive_buckets": [bucket],
            "time_wait": "0.1s",
            "max_running": 2,
        },
    )
