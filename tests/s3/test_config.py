"""The [s3] and [results] configuration sections."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vexport.config import load_settings
from vexport.s3.client import S3Credentials, S3Endpoint

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_s3_section_makes_an_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text(
        """
[s3]
region = "eu-central-1"
endpoint_url = "http://127.0.0.1:9000"
access_key = "AKIAEXAMPLE"
addressing_style = "path"

[results]
s3_bucket = "vexport-results"
s3_prefix = "exports/"
"""
    )
    monkeypatch.setenv("VEXPORT_S3__SECRET_KEY", SECRET)
    settings = load_settings(config)
    assert settings.s3_endpoint() == S3Endpoint(
        region="eu-central-1",
        endpoint_url="http://127.0.0.1:9000",
        credentials=S3Credentials("AKIAEXAMPLE", SECRET),
        addressing_style="path",
    )
    assert (settings.results.s3_bucket, settings.results.s3_prefix) == (
        "vexport-results",
        "exports/",
    )
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
    assert SECRET not in repr(settings.s3_endpoint())


def test_defaults_use_the_boto3_chain(tmp_path: Path) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text("")
    settings = load_settings(config)
    assert settings.s3_endpoint() == S3Endpoint()
    assert settings.results.s3_bucket is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"s3": {"access_key": "AKIA"}}, "both access_key and secret_key"),
        ({"s3": {"secret_key": SECRET}}, "both access_key and secret_key"),
        ({"s3": {"endpoint_url": "minio:9000"}}, "endpoint_url"),
        ({"s3": {"addressing_style": "sideways"}}, "addressing_style"),
        ({"results": {"s3_bucket": "Not A Bucket"}}, "invalid bucket name"),
        ({"results": {"s3_bucket": "b", "s3_prefix": "../up/"}}, "'..'"),
        ({"results": {"s3_bucket": "b", "s3_prefix": "/abs/"}}, "start with '/'"),
    ],
)
def test_bad_values_are_refused(
    tmp_path: Path, overrides: dict[str, dict[str, str]], message: str
) -> None:
    config = tmp_path / "vexport.toml"
    config.write_text("")
    with pytest.raises(ValidationError) as info:
        load_settings(config, **overrides)
    assert message in str(info.value)
    assert SECRET not in str(info.value)
