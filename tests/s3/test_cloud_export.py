"""cloud_export over gRPC: archives in S3, results uploaded to S3 (moto), errors."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, archive_snapshot
from tests.conftest import make_bucket
from tests.media_fixtures import make_hls_archive
from tests.s3.archives import upload_tree
from tests.s3server import REGION, wrong_secret
from vexport.media.probe import probe
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.s3.client import S3Credentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
CAMERA = "hosts/test/DeviceIpint.1/SourceEndpoint.video:0:0"
CAMERA2 = "hosts/test/DeviceIpint.2/SourceEndpoint.video:0:0"
STORAGE = "hosts/test/MultimediaStorage.Main/MultimediaStorage"
PREFIX = "exports/vx-"


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def hls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls_archive(tmp_path_factory.mktemp("hls"), START, 6.0).parent


def _s3_settings(url: str, creds: S3Credentials) -> dict[str, Any]:
    return {
        "region": REGION,
        "endpoint_url": url,
        "access_key": creds.access_key,
        "secret_key": creds.secret_key,
        "addressing_style": "path",
    }


@pytest.fixture(scope="module")
def results_bucket(s3_client: S3Client) -> str:
    return make_bucket(s3_client, "results")


@pytest.fixture(scope="module")
def cloud_server(
    tmp_path_factory: pytest.TempPathFactory,
    s3_client: S3Client,
    s3_endpoint_url: str,
    s3_credentials: S3Credentials,
    hls_dir: Path,
    results_bucket: str,
) -> Iterator[RunningServer]:
    """The archive in S3, read with the [s3] keys; results delivered to ``results_bucket``."""
    archive_bucket = make_bucket(s3_client, "archive")
    upload_tree(s3_client, hls_dir, archive_bucket, "cams/cam1")
    url = f"s3://{archive_bucket}/cams/cam1/index.m3u8"
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        sources=[{"origin": CAMERA, "archives": [{"storage": STORAGE, "url": url}]}],
        s3=_s3_settings(s3_endpoint_url, s3_credentials),
        results={"s3_bucket": results_bucket, "s3_prefix": PREFIX},
    )
    with running_server(settings) as running:
        yield running


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_cloud_export_uploads_the_clip(
    cloud_server: RunningServer,
    s3_client: S3Client,
    results_bucket: str,
    s3_credentials: S3Credentials,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub = cloud_server.stub()
    options = archive_clip(CAMERA, at(1.0), at(3.0))
    options.cloud_export = True
    session_id = start_session(stub, options)
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    (file,) = state.result.files
    key = f"{PREFIX}{session_id}/{file.path}"
    assert file.cloud_id == f"s3://{results_bucket}/{key}"
    stored = s3_client.get_object(Bucket=results_bucket, Key=key)
    assert stored["ContentType"] == "video/mp4"
    body = stored["Body"].read()
    local, _ = download(stub, session_id, file.path)  # the local copy stays downloadable
    assert _sha256(body) == _sha256(local) == file.sha256
    (tmp_path / "clip.mp4").write_bytes(body)
    info = probe(tmp_path / "clip.mp4")
    assert info.duration is not None and abs(info.duration - 2.0) <= 0.1
    assert s3_credentials.secret_key not in caplog.text


def test_without_cloud_export_nothing_is_uploaded(
    cloud_server: RunningServer, s3_client: S3Client, results_bucket: str
) -> None:
    stub = cloud_server.stub()
    session_id = start_session(stub, archive_snapshot(CAMERA, at(2.0)))
    state = wait_completed(stub, session_id)
    assert state.result.succeeded, state.error
    assert [f.cloud_id for f in state.result.files] == [""]
    listed = s3_client.list_objects_v2(Bucket=results_bucket, Prefix=PREFIX + session_id)
    assert listed.get("KeyCount") == 0


def test_cloud_export_refused_when_not_configured(tmp_path: Path, hls_dir: Path) -> None:
    url = (hls_dir / "index.m3u8").as_uri()
    settings = make_settings(
        tmp_path, sources=[{"origin": CAMERA, "archives": [{"storage": STORAGE, "url": url}]}]
    )
    with running_server(settings) as server:
        options = archive_clip(CAMERA, at(1.0), at(2.0))
        options.cloud_export = True
        with pytest.raises(grpc.RpcError) as error:
            start_session(server.stub(), options)
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "session_options.cloud_export" in error.value.details()
    assert "[results] s3_bucket" in error.value.details()


def test_failed_upload_fails_the_session_and_keeps_the_local_file(
    tmp_path: Path,
    hls_dir: Path,
    s3_client: S3Client,
    s3_endpoint_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bucket = make_bucket(s3_client, "denied")
    upload_tree(s3_client, hls_dir, bucket, "cam2")
    creds = wrong_secret(s3_endpoint_url)
    url = (hls_dir / "index.m3u8").as_uri()
    s3_url = f"s3://{bucket}/cam2/index.m3u8"
    settings = make_settings(
        tmp_path,
        sources=[
            {"origin": CAMERA, "archives": [{"storage": STORAGE, "url": url}]},
            {"origin": CAMERA2, "archives": [{"storage": STORAGE, "url": s3_url}]},
        ],
        s3=_s3_settings(s3_endpoint_url, creds),
        results={"s3_bucket": bucket},
    )
    with running_server(settings) as server:
        stub = server.stub()
        options = archive_clip(CAMERA, at(1.0), at(2.0))
        options.cloud_export = True
        session_id = start_session(stub, options)
        state = wait_completed(stub, session_id)
        assert not state.result.succeeded
        assert state.error.startswith("cloud export failed: ")
        assert "access denied by S3" in state.error
        assert creds.secret_key not in state.error
        (file,) = state.result.files
        assert file.cloud_id == ""
        data, _ = download(stub, session_id, file.path)
        assert _sha256(data) == file.sha256
        # The archive in S3 is read with the same (wrong) key: refused, said plainly.
        failed = wait_completed(stub, start_session(stub, archive_clip(CAMERA2, at(1), at(2))))
        assert not failed.result.succeeded
        # Named by its last part: where the server's archives live is not the client's.
        assert f"…/{s3_url.rsplit('/', 1)[-1]}: access denied by S3" in failed.error
        assert "s3://" not in failed.error
        assert creds.secret_key not in failed.error
        listed = stub.ListSessions(spb.ListSessionsRequest())
        assert creds.secret_key not in str(list(listed))
    assert [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(
        f"cam2/{p.name}" for p in hls_dir.iterdir()
    )  # the archive only: no result object
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert creds.secret_key not in caplog.text
    stored = list(tmp_path.glob("vexport.db*"))  # with SQLite's -wal and -shm files
    assert stored
    assert all(creds.secret_key.encode() not in p.read_bytes() for p in stored)


def test_client_command_asks_for_cloud_export(
    cloud_server: RunningServer, s3_client: S3Client, results_bucket: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from vexport.cli import app

    args = ["client", "start", "--origin", CAMERA, "--from", "20260101T120001",
            "--to", "20260101T120002", "--cloud-export", "--out", str(tmp_path),
            "--server", cloud_server.address]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    match = re.search(r"session ([0-9a-f-]{36}): S_COMPLETED succeeded", result.output)
    assert match, result.output
    (clip,) = tmp_path.glob("*/*.mp4")
    # The server's own name, in a folder named by the time range and the session.
    url = re.search(
        rf"s3://{results_bucket}/({re.escape(PREFIX)}{match.group(1)}/\S+?\.mp4)",
        result.output.replace("\n", ""),  # rich wraps
    )
    assert url, result.output
    key = url.group(1)
    assert clip.name == key.rsplit("/", 1)[1]
    assert match.group(1)[:8] in clip.parent.name
    body = s3_client.get_object(Bucket=results_bucket, Key=key)["Body"].read()
    assert _sha256(body) == _sha256(clip.read_bytes())
