"""Fixtures shared by every test package: a real S3 server (moto) and buckets in it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.s3server import REGION, moto_server, unique_bucket_name, valid_credentials
from vexport.s3.client import S3Credentials, S3Endpoint, make_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """One moto server per test process (xdist worker), started on first use."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3_credentials(s3_endpoint_url: str) -> S3Credentials:
    return valid_credentials(s3_endpoint_url)


@pytest.fixture(scope="session")
def s3_endpoint(s3_endpoint_url: str, s3_credentials: S3Credentials) -> S3Endpoint:
    return S3Endpoint(
        region=REGION,
        endpoint_url=s3_endpoint_url,
        credentials=s3_credentials,
        addressing_style="path",
    )


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: S3Endpoint) -> S3Client:
    return make_client(s3_endpoint)


def make_bucket(client: S3Client, prefix: str = "t") -> str:
    """Create a uniquely named bucket and return its name."""
    name = unique_bucket_name(prefix)
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_bucket(s3_client: S3Client) -> str:
    """A fresh, empty bucket for this test."""
    return make_bucket(s3_client)
