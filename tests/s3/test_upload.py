"""Uploads to a real S3 protocol server: single PUT, multipart, retries, failures."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from tests.s3server import REGION, UNKNOWN_KEY, wrong_secret
from vexport.s3.client import S3Endpoint, S3Error, make_client
from vexport.s3.upload import MIN_PART_SIZE, UploadedObject, upload_file

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~11 MiB: two full 5 MiB parts and a short last one."""
    path = tmp_path_factory.mktemp("big") / "clip.mp4"
    path.write_bytes(os.urandom(11 * MiB + 12345))
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stored(client: S3Client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(client: S3Client, bucket: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _pending(client: S3Client, bucket: str) -> list[Any]:
    return list(client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))


class _Flaky:
    """The real client, with ``upload_part`` failing as told (a failure no user can stage)."""

    def __init__(self, client: S3Client, failures: dict[int, tuple[str, int]]) -> None:
        self._client = client
        self._failures = dict(failures)  # call number -> (S3 code, HTTP status)
        self._lock = threading.Lock()
        self.part_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.part_calls += 1
            failure = self._failures.get(self.part_calls)
        if failure is not None:
            code, status = failure
            raise ClientError(
                {"Error": {"Code": code, "Message": "injected"},
                 "ResponseMetadata": {"HTTPStatusCode": status}},
                "UploadPart",
            )  # fmt: skip
        return self._client.upload_part(**kwargs)


class _LostAnswer:
    """The real client, whose first complete works but its answer is lost (a 503).

    The retry then gets what the store answers (moto: the same object again),
    or with ``gone`` the ``NoSuchUpload`` that other stores answer."""

    def __init__(self, client: S3Client, *, gone: bool) -> None:
        self._client = client
        self._gone = gone
        self.completes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def complete_multipart_upload(self, **kwargs: Any) -> Any:
        self.completes += 1
        if self.completes == 2 and self._gone:
            raise ClientError(
                {"Error": {"Code": "NoSuchUpload", "Message": "gone"},
                 "ResponseMetadata": {"HTTPStatusCode": 404}},
                "CompleteMultipartUpload",
            )  # fmt: skip
        answer = self._client.complete_multipart_upload(**kwargs)
        if self.completes == 1:
            raise ClientError(
                {"Error": {"Code": "ServiceUnavailable", "Message": "lost"},
                 "ResponseMetadata": {"HTTPStatusCode": 503}},
                "CompleteMultipartUpload",
            )  # fmt: skip
        return answer


@pytest.mark.parametrize("gone", [False, True])
def test_complete_whose_answer_was_lost(
    s3_client: S3Client, s3_bucket: str, big_file: Path, gone: bool
) -> None:
    lossy = _LostAnswer(s3_client, gone=gone)
    done = upload_file(lossy, big_file, s3_bucket, "lost.mp4", content_type="video/mp4",  # type: ignore[arg-type]
                       part_size=5 * MiB, sleep=lambda _: None)  # fmt: skip
    assert lossy.completes == 2
    head = s3_client.head_object(Bucket=s3_bucket, Key="lost.mp4")
    assert done.etag == head["ETag"].strip('"') != ""
    assert _sha256(_stored(s3_client, s3_bucket, "lost.mp4")) == done.sha256
    assert _pending(s3_client, s3_bucket) == []


def test_small_file_is_one_put(s3_client: S3Client, s3_bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "shot.jpg"
    path.write_bytes(b"\xff\xd8jpeg" * 1000)
    done = upload_file(s3_client, path, s3_bucket, "exports/shot.jpg", content_type="image/jpeg")
    data = path.read_bytes()
    assert done == UploadedObject(
        s3_bucket, "exports/shot.jpg", len(data), done.etag, _sha256(data)
    )
    assert done.url == f"s3://{s3_bucket}/exports/shot.jpg"
    assert _stored(s3_client, s3_bucket, "exports/shot.jpg") == data
    head = s3_client.head_object(Bucket=s3_bucket, Key="exports/shot.jpg")
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"]["sha256"] == _sha256(data)


def test_large_file_is_multipart(s3_client: S3Client, s3_bucket: str, big_file: Path) -> None:
    done = upload_file(
        s3_client, big_file, s3_bucket, "clip.mp4", content_type="video/mp4", part_size=5 * MiB
    )
    data = big_file.read_bytes()
    assert done.size == len(data)
    assert done.etag.endswith("-3")  # three parts
    assert done.sha256 == _sha256(data)
    assert _sha256(_stored(s3_client, s3_bucket, "clip.mp4")) == _sha256(data)
    assert _pending(s3_client, s3_bucket) == []


def test_transient_part_failure_is_retried(
    s3_client: S3Client, s3_bucket: str, big_file: Path
) -> None:
    flaky = _Flaky(s3_client, {2: ("ServiceUnavailable", 503), 3: ("SlowDown", 503)})
    delays: list[float] = []
    done = upload_file(
        flaky,  # type: ignore[arg-type]
        big_file,
        s3_bucket,
        "retried.mp4",
        content_type="video/mp4",
        part_size=5 * MiB,
        concurrency=1,  # one part at a time, so the failing calls are known
        backoff=0.25,
        sleep=delays.append,
    )
    assert delays == [0.25, 0.5]
    assert flaky.part_calls == 5
    assert _sha256(_stored(s3_client, s3_bucket, "retried.mp4")) == done.sha256


@pytest.mark.parametrize(
    ("failure", "attempts", "concurrency"),
    [
        (("AccessDenied", 403), 2, 1),
        (("InternalError", 500), 2 + 3, 1),
        (("AccessDenied", 403), None, 3),
    ],
)
def test_failure_mid_upload_leaves_nothing(
    s3_client: S3Client,
    s3_bucket: str,
    big_file: Path,
    failure: tuple[str, int],
    attempts: int | None,
    concurrency: int,
) -> None:
    flaky = _Flaky(s3_client, {n: failure for n in range(2, 10)})
    with pytest.raises(S3Error) as info:
        upload_file(
            flaky,  # type: ignore[arg-type]
            big_file,
            s3_bucket,
            "broken.mp4",
            content_type="video/mp4",
            part_size=5 * MiB,
            concurrency=concurrency,
            sleep=lambda _: None,
        )
    assert info.value.code == failure[0]
    assert f"s3://{s3_bucket}/broken.mp4" in str(info.value)
    if attempts is not None:
        assert flaky.part_calls == attempts  # 4xx not retried, 5xx retried 3 times
    assert _keys(s3_client, s3_bucket) == []
    assert _pending(s3_client, s3_bucket) == []


@pytest.mark.parametrize("size", [1000, 6 * MiB])
def test_wrong_key_leaves_no_object(
    s3_endpoint_url: str,
    s3_client: S3Client,
    s3_bucket: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    size: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "clip.ts"
    path.write_bytes(os.urandom(size))
    for creds, code in [
        (wrong_secret(s3_endpoint_url), "SignatureDoesNotMatch"),
        (UNKNOWN_KEY, "InvalidAccessKeyId"),
    ]:
        client = make_client(S3Endpoint(REGION, s3_endpoint_url, creds, "path"))
        with pytest.raises(S3Error) as info:
            upload_file(client, path, s3_bucket, "x/clip.ts", content_type="video/mp2t",
                        part_size=MIN_PART_SIZE, sleep=lambda _: None)  # fmt: skip
        assert info.value.code == code
        assert "access denied by S3" in str(info.value)
        assert creds.secret_key not in str(info.value)
        assert creds.secret_key not in caplog.text
    assert _keys(s3_client, s3_bucket) == []
    assert _pending(s3_client, s3_bucket) == []


def test_missing_bucket_is_not_retried(s3_client: S3Client, tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    delays: list[float] = []
    with pytest.raises(S3Error) as info:
        upload_file(s3_client, path, "no-such-bucket-here", "a.jpg", content_type="image/jpeg",
                    sleep=delays.append)  # fmt: skip
    assert info.value.code == "NoSuchBucket"
    assert delays == []


def test_part_size_below_the_s3_minimum_is_refused(s3_client: S3Client, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="part_size"):
        upload_file(s3_client, tmp_path / "x", "b", "k", content_type="x", part_size=MiB)


class _Tamper:
    """The real client, damaging what it sends (checksum header unchanged).

    moto, unlike AWS, accepts a body that does not match its checksum header,
    which lets the check after the upload be tested: a PUT loses its last byte
    (caught by size), a part gets a byte changed (caught by the checksum S3
    computes over the parts it received)."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_object(self, *, Body: bytes, **kwargs: Any) -> Any:
        return self._client.put_object(Body=Body[:-1], **kwargs)

    def upload_part(self, *, Body: bytes, **kwargs: Any) -> Any:
        return self._client.upload_part(Body=b"!" + Body[1:], **kwargs)


@pytest.mark.parametrize("size", [1000, 6 * MiB])
def test_damaged_object_is_deleted(
    s3_client: S3Client, s3_bucket: str, tmp_path: Path, size: int
) -> None:
    path = tmp_path / "clip.ts"
    path.write_bytes(b"x" * size)
    with pytest.raises(S3Error) as info:
        upload_file(_Tamper(s3_client), path, s3_bucket, "bad.ts", content_type="video/mp2t",  # type: ignore[arg-type]
                    part_size=MIN_PART_SIZE)  # fmt: skip
    assert info.value.code == "BadDigest"
    assert "does not match" in str(info.value)
    assert _keys(s3_client, s3_bucket) == []
    assert _pending(s3_client, s3_bucket) == []


class _HeadFails:
    """The real client, whose read-back fails with a server error every time."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def head_object(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "InternalError", "Message": "x"},
             "ResponseMetadata": {"HTTPStatusCode": 500}},
            "HeadObject",
        )  # fmt: skip


def test_unverifiable_object_is_deleted(
    s3_client: S3Client, s3_bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"jpeg" * 100)
    with pytest.raises(S3Error) as info:
        upload_file(_HeadFails(s3_client), path, s3_bucket, "a.jpg", content_type="image/jpeg",  # type: ignore[arg-type]
                    sleep=lambda _: None)  # fmt: skip
    assert info.value.code == "InternalError"
    assert _keys(s3_client, s3_bucket) == []
