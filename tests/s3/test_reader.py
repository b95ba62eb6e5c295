"""Archives read from a real S3 protocol server: manifests, segments, errors, exports."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ConnectionClosedError

from tests.conftest import make_bucket
from tests.media.conftest import assert_consecutive, decoded
from tests.media_fixtures import FPS, frame_time, make_dash_archive, make_hls_archive
from tests.s3.archives import upload_tree
from tests.s3server import REGION, wrong_secret
from vexport.media.control import SimpleJobControl
from vexport.media.plan import ContainerFormat, ExportKind, ExportPlan, SourcePlan
from vexport.media.probe import probe
from vexport.media.runner import run_export
from vexport.s3.client import S3Endpoint, S3Error
from vexport.sources.archive_index import ArchiveError, load_archive_index
from vexport.storage import StorageError, default_reader, resolve_url
from vexport.storage.s3 import S3Reader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = datetime(2026, 2, 1, 8, 0, 0, tzinfo=UTC)
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def archive_bucket(s3_client: S3Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One bucket with an HLS/TS archive under ``hls/cam1`` and a DASH one under ``dash/cam1``."""
    bucket = make_bucket(s3_client, "arch")
    hls = make_hls_archive(tmp_path_factory.mktemp("hls"), START, 6.0)
    dash = make_dash_archive(tmp_path_factory.mktemp("dash"), START, 6.0)
    upload_tree(s3_client, hls.parent, bucket, "hls/cam1")
    upload_tree(s3_client, dash.parent, bucket, "dash/cam1")
    return bucket


@pytest.fixture
def reader(s3_client: S3Client) -> S3Reader:
    return S3Reader(s3_client)


@pytest.mark.parametrize(
    ("base", "reference", "expected"),
    [
        ("s3://b/arch/cam1/manifest.mpd", "chunk-0-1.m4s", "s3://b/arch/cam1/chunk-0-1.m4s"),
        ("s3://b/arch/cam1/index.m3u8", "../cam2/seg.ts", "s3://b/arch/cam2/seg.ts"),
        ("s3://b/arch/cam1/index.m3u8", "./v/./s.ts?x=1#f", "s3://b/arch/cam1/v/s.ts"),
        ("s3://b/arch/cam1/index.m3u8", "/other/s.ts", "s3://b/other/s.ts"),
        ("s3://b/index.m3u8", "seg%201.ts", "s3://b/seg 1.ts"),
        ("s3://b/a/index.m3u8", "s3://c/x.ts", "s3://c/x.ts"),
        ("s3://b/a/index.m3u8", "https://cdn/x.ts", "https://cdn/x.ts"),
    ],
)
def test_resolve_against_s3(base: str, reference: str, expected: str) -> None:
    assert resolve_url(base, reference) == expected


@pytest.mark.parametrize(
    ("base", "reference", "reason"),
    [
        ("s3://b/a/index.m3u8", "../../x.ts", "leaves the bucket"),
        ("s3://b/a/index.m3u8", "%2e%2e/%2e%2e/x.ts", "leaves the bucket"),
        ("s3://b/a/index.m3u8", "file:///etc/passwd", "local files"),
        ("https://h/a/index.m3u8", "file:///etc/passwd", "local files"),
        ("https://h/a/index.m3u8", "s3://private/x.ts", "may not reference S3"),
    ],
)
def test_resolve_refuses_escapes(base: str, reference: str, reason: str) -> None:
    with pytest.raises(StorageError, match=reason):
        resolve_url(base, reference)


def test_reads_an_object(reader: S3Reader, s3_client: S3Client, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="dir/seg 1.ts", Body=b"\x47payload")
    assert reader.read(f"s3://{s3_bucket}/dir/seg 1.ts") == b"\x47payload"


def test_missing_object_and_bucket(reader: S3Reader, s3_bucket: str) -> None:
    with pytest.raises(StorageError) as info:
        reader.read(f"s3://{s3_bucket}/nothing.ts")
    assert str(info.value) == f"s3://{s3_bucket}/nothing.ts: no such object"
    assert isinstance(info.value.__cause__, S3Error)
    assert info.value.__cause__.code == "NoSuchKey"
    with pytest.raises(StorageError, match="no such bucket"):
        reader.read(f"s3://{s3_bucket}-none/x.ts")


def test_wrong_key_is_access_denied_without_the_secret(
    s3_endpoint_url: str, s3_bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = wrong_secret(s3_endpoint_url)
    reader = S3Reader(S3Endpoint(REGION, s3_endpoint_url, creds, "path"))
    with pytest.raises(StorageError) as info:
        reader.read(f"s3://{s3_bucket}/x.ts")
    assert "access denied by S3" in str(info.value)
    assert creds.secret_key not in str(info.value)
    assert creds.secret_key not in caplog.text


class _Dropping:
    """The real client, whose first ``get_object`` calls lose the connection."""

    def __init__(self, client: S3Client, drops: int) -> None:
        self._client = client
        self._drops = drops

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        if self._drops:
            self._drops -= 1
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1/")
        return self._client.get_object(**kwargs)


def test_broken_connection_is_retried(s3_client: S3Client, s3_bucket: str) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="seg.ts", Body=b"data")
    delays: list[float] = []
    reader = S3Reader(_Dropping(s3_client, 2), backoff=0.1, sleep=delays.append)  # type: ignore[arg-type]
    assert reader.read(f"s3://{s3_bucket}/seg.ts") == b"data"
    assert delays == [0.1, 0.2]
    reader = S3Reader(_Dropping(s3_client, 3), retries=2, sleep=delays.append)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="broke off"):
        reader.read(f"s3://{s3_bucket}/seg.ts")


def test_missing_object_is_not_retried(s3_client: S3Client, s3_bucket: str) -> None:
    delays: list[float] = []
    with pytest.raises(StorageError, match="no such object"):
        S3Reader(s3_client, sleep=delays.append).read(f"s3://{s3_bucket}/none.ts")
    assert delays == []


def test_bad_url_is_a_storage_error(reader: S3Reader) -> None:
    with pytest.raises(StorageError, match="no object key"):
        reader.read("s3://bucket-only/")


def test_default_reader_dispatches_s3(
    reader: S3Reader, s3_client: S3Client, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="k", Body=b"v")
    assert default_reader(s3=reader).read(f"s3://{s3_bucket}/k") == b"v"


@pytest.mark.parametrize("layout", ["hls/cam1/index.m3u8", "dash/cam1/manifest.mpd"])
def test_archive_index_from_s3(reader: S3Reader, archive_bucket: str, layout: str) -> None:
    index = load_archive_index(f"s3://{archive_bucket}/{layout}", default_reader(s3=reader))
    assert index.start == START
    assert index.end is not None and abs((index.end - at(6.0)).total_seconds()) < 0.05
    assert all(
        s.url.startswith(f"s3://{archive_bucket}/{layout.split('/')[0]}/cam1/") for s in index.video
    )
    assert len(reader.read(index.video[0].url)) > 1000


def test_missing_manifest_is_an_archive_error(reader: S3Reader, archive_bucket: str) -> None:
    with pytest.raises(ArchiveError, match="no such object"):
        load_archive_index(f"s3://{archive_bucket}/hls/cam9/index.m3u8", reader)


@pytest.mark.parametrize(
    ("layout", "container"),
    [("hls/cam1/index.m3u8", ContainerFormat.MP4), ("dash/cam1/manifest.mpd", ContainerFormat.MKV)],
)
def test_export_from_an_s3_archive(
    reader: S3Reader, archive_bucket: str, tmp_path: Path, layout: str, container: ContainerFormat
) -> None:
    source = SourcePlan(origin=CAMERA, name="cam1", archive_url=f"s3://{archive_bucket}/{layout}")
    plan = ExportPlan(
        kind=ExportKind.ARCHIVE_CLIP,
        sources=(source,),
        container=container,
        start=at(2.0),
        end=at(4.0),
    )
    files = run_export(plan, SimpleJobControl(), workdir=tmp_path, reader=default_reader(s3=reader))
    assert len(files) == 1
    assert files[0].first_frame == frame_time(START, 50)
    numbers = [n for _, n in decoded(files[0].path)]
    assert numbers[0] == 50 % 32
    assert_consecutive(numbers)
    info = probe(files[0].path)
    assert info.duration is not None
    assert abs(info.duration - len(numbers) / FPS) <= 1.5 / FPS
    assert abs(len(numbers) - 2.0 * FPS) <= 1
