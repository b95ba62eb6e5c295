"""The S3 client against a real S3 protocol server (moto): errors, keys, credentials."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from tests.s3server import REGION, UNKNOWN_KEY, wrong_secret
from vexport.s3.client import (
    S3Credentials,
    S3Endpoint,
    S3Error,
    make_client,
    parse_key_pair,
    s3_error,
    safe_key,
    shared_client,
    split_s3_url,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _client(url: str, credentials: S3Credentials) -> S3Client:
    return make_client(
        S3Endpoint(
            region=REGION, endpoint_url=url, credentials=credentials, addressing_style="path"
        )
    )


def _fail(client: S3Client, bucket: str, key: str) -> S3Error:
    try:
        client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return s3_error(exc, bucket=bucket, key=key)
    raise AssertionError("the request succeeded")


def test_valid_key_round_trip(s3_client: S3Client, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="a/b.txt", Body=b"hello")
    assert s3_client.get_object(Bucket=s3_bucket, Key="a/b.txt")["Body"].read() == b"hello"


def test_wrong_secret_is_refused_without_leaking_it(
    s3_endpoint_url: str, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = wrong_secret(s3_endpoint_url)
    error = _fail(_client(s3_endpoint_url, creds), s3_bucket, "x")
    assert error.code == "SignatureDoesNotMatch"
    assert "secret key" in str(error)
    assert f"s3://{s3_bucket}/x" in str(error)
    assert creds.secret_key not in str(error)
    assert creds.secret_key not in caplog.text


def test_unknown_access_key_is_refused(s3_endpoint_url: str, s3_bucket: str) -> None:
    error = _fail(_client(s3_endpoint_url, UNKNOWN_KEY), s3_bucket, "x")
    assert error.code == "InvalidAccessKeyId"
    assert UNKNOWN_KEY.secret_key not in str(error)


def test_missing_object_and_bucket(s3_client: S3Client, s3_bucket: str) -> None:
    error = _fail(s3_client, s3_bucket, "missing.ts")
    assert (error.code, str(error)) == ("NoSuchKey", f"s3://{s3_bucket}/missing.ts: no such object")
    error = _fail(s3_client, s3_bucket + "-gone", "k")
    assert error.code == "NoSuchBucket"


def test_head_missing_object_maps_bare_status(s3_client: S3Client, s3_bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3_client.head_object(Bucket=s3_bucket, Key="nope")
    error = s3_error(info.value, bucket=s3_bucket, key="nope")
    assert error.code == "NotFound"
    assert "no such object" in str(error)


def test_unreachable_endpoint_is_a_connection_error() -> None:
    client = make_client(
        S3Endpoint(
            region=REGION,
            endpoint_url="http://127.0.0.1:9",
            credentials=UNKNOWN_KEY,
            addressing_style="path",
        )
    )
    with pytest.raises(Exception) as info:
        client.head_bucket(Bucket="b")
    error = s3_error(info.value, bucket="b")
    assert error.code == "EndpointConnectionError"
    assert error.transient
    assert "endpoint_url" in str(error)


def test_unknown_codes_keep_the_code() -> None:
    exc = ClientError({"Error": {"Code": "WeirdThing", "Message": "secret details"}}, "GetObject")
    error = s3_error(exc, bucket="b", key="k")
    assert (error.code, str(error)) == ("WeirdThing", "s3://b/k: S3 error WeirdThing")
    assert not error.transient and not error.access_denied


def test_client_configuration() -> None:
    client = make_client(S3Endpoint("eu-west-1", "http://127.0.0.1:9", UNKNOWN_KEY, "path"))
    config = client.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert (config.connect_timeout, config.read_timeout) == (5.0, 60.0)
    assert config.s3 == {"addressing_style": "path"}
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_shared_client_per_endpoint_and_keys() -> None:
    one = S3Endpoint("eu-west-1", None, S3Credentials("AK", "secret-1"))
    assert shared_client(one) is shared_client(
        S3Endpoint("eu-west-1", None, S3Credentials("AK", "secret-1"))
    )
    assert shared_client(one) is not shared_client(
        S3Endpoint("eu-west-1", None, S3Credentials("AK", "secret-2"))
    )


def test_credentials_repr_hides_secret() -> None:
    creds = S3Credentials("AKIAEXAMPLE", "s3cr3t/value")
    assert "s3cr3t" not in repr(creds)
    assert "s3cr3t" not in str(creds)
    assert "s3cr3t" not in repr(S3Endpoint(credentials=creds))
    assert "AKIAEXAMPLE" in repr(creds)


def test_parse_key_pair() -> None:
    assert parse_key_pair("AK:se:cret", field="ExportS3Key") == S3Credentials("AK", "se:cret")
    for bad, reason in [
        ("no-colon-s3cr3t", "no ':'"),
        (":s3cr3t", "access key"),
        ("AK:", "secret key"),
        ("AK:s3 cr3t", "spaces"),
    ]:
        with pytest.raises(ValueError) as info:
            parse_key_pair(bad, field="ExportS3Key")
        assert str(info.value).startswith("ExportS3Key: ")
        assert reason in str(info.value)
        assert "s3cr3t" not in str(info.value)


def test_endpoint_validation() -> None:
    with pytest.raises(ValueError, match="addressing_style"):
        S3Endpoint(addressing_style="sideways")
    with pytest.raises(ValueError, match="endpoint_url"):
        S3Endpoint(endpoint_url="ftp://host")
    with pytest.raises(ValueError, match="endpoint_url"):
        S3Endpoint(endpoint_url="http://user:pw@host")


def test_split_s3_url() -> None:
    assert split_s3_url("s3://bucket/dir/a b.mpd") == ("bucket", "dir/a b.mpd")
    for bad in [
        "http://b/k",
        "s3://bucket",
        "s3://bucket/",
        "s3://Bad_Bucket!/k",
        "s3://bk/k",
        "s3://bkt/k?x=1",
    ]:
        with pytest.raises(ValueError):
            split_s3_url(bad)


def test_safe_key_joins() -> None:
    assert safe_key("exports/", "2026", "clip.ts") == "exports/2026/clip.ts"
    assert safe_key("", "clip.ts") == "clip.ts"
    assert safe_key("a%20b", "c..d.ts") == "a%20b/c..d.ts"


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (("root", "../other"), "'..'"),
        (("root/..", "x"), "'..'"),
        (("root", "./x"), "'.'"),
        (("/etc", "passwd"), "start with '/'"),
        (("root", "a\\..\\b"), "backslash"),
        (("root", "a\x00b"), "control"),
        (("root", "a\nb"), "control"),
        (("root", "%2e%2e/x"), "'..'"),
        (("root", "%252E%252E"), "'..'"),
        (("root", "a%2fb%2f..%2fc"), "'..'"),
        (("root", "%5c"), "backslash"),
        (("root", "%00"), "control"),
        (("root", "a\x85b"), "control"),
        (("root", "\uff0e\uff0e/x"), "'..'"),
        (("root", "a\uff3cb"), "backslash"),
        (("%2fetc",), "leading '/'"),
        (("a//b",), "'//'"),
        (("", ""), "empty"),
    ],
)
def test_safe_key_refuses(parts: tuple[str, ...], reason: str) -> None:
    with pytest.raises(ValueError) as info:
        safe_key(*parts)
    assert reason in str(info.value)
