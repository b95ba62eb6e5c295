"""No secret leaves where it is configured or sent: not the database, the logs, any answer.

One server reads an archive in S3 with its own key pair, has a camera whose
live URL carries a user and password, and serves export-to-s3dir callers who
send their destination key pair. The test runs exports of each (ones that
succeed and ones that fail, since error paths are where URLs leak), then
greps every API answer, every log record and every byte of the database
files for each secret; and checks that everything the server made under its
data directory is owner-only (docs/design/robustness.md).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import socket
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, live_clip
from tests.conftest import make_bucket
from tests.media_fixtures import make_hls_archive
from tests.s3.archives import upload_tree
from tests.s3server import REGION, wrong_secret
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb
from vexport.s3.client import S3Credentials

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

START = datetime(2026, 4, 1, 9, 0, 0, tzinfo=UTC)
S3_CAMERA = "hosts/secret/DeviceIpint.1/SourceEndpoint.video:0:0"
REFUSING_CAMERA = "hosts/secret/DeviceIpint.2/SourceEndpoint.video:0:0"
SILENT_CAMERA = "hosts/secret/DeviceIpint.3/SourceEndpoint.video:0:0"
STORAGE = "hosts/secret/MultimediaStorage.Main/MultimediaStorage"
CALLER = "secret-caller-id-" + secrets.token_hex(4)
CAMERA_USER = "camuser" + secrets.token_hex(4)
CAMERA_PASSWORD = "campass" + secrets.token_hex(8)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture(scope="module")
def archive_bucket(s3_client: S3Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    bucket = make_bucket(s3_client, "secret-archive")
    playlist = make_hls_archive(tmp_path_factory.mktemp("secret-hls"), START, 4.0)
    upload_tree(s3_client, playlist.parent, bucket, "cam")
    return f"{bucket}/cam/{playlist.name}"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    s3_endpoint_url: str,
    s3_credentials: S3Credentials,
    archive_bucket: str,
    silent_port: int,
) -> Iterator[RunningServer]:
    credentials = f"{CAMERA_USER}:{CAMERA_PASSWORD}"
    settings = make_settings(
        tmp_path_factory.mktemp("secret-data") / "var",
        sessions={"timer_interval": "0.2s", "live_connect_timeout": "1s"},
        s3={
            "region": REGION,
            "endpoint_url": s3_endpoint_url,
            "access_key": s3_credentials.access_key,
            "secret_key": s3_credentials.secret_key,
            "addressing_style": "path",
        },
        sources=[
            {
                "origin": S3_CAMERA,
                "archives": [{"storage": STORAGE, "url": f"s3://{archive_bucket}"}],
            },
            {
                "origin": REFUSING_CAMERA,
                "live": f"rtsp://{credentials}@127.0.0.1:{_closed_port()}/stream1",
            },
            {
                "origin": SILENT_CAMERA,
                "live": f"rtsp://{credentials}@127.0.0.1:{silent_port}/stream1?token={CAMERA_PASSWORD}",
            },
        ],
        export_to_s3dir={
            "session_ids": [CALLER],
            "archive_buckets": [archive_bucket.split("/")[0]],
            "time_wait": "0.1s",
        },
    )
    with running_server(settings) as running:
        yield running


def _database_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.glob("vexport.db*")))


def _s3dir_body(archive: str, destination: str, key: str, **fields: Any) -> dict[str, Any]:
    bucket, root, name = archive.split("/", 2)
    storage = [
        {
            "storage_purpose": "ts",
            "storage_type": "S3",
            "storage_enable": True,
            "storage_name": bucket,
            "storage_location": REGION,
            "storage_root_folder": root,
        }
    ]
    return {
        "SessionId": CALLER,
        "LivePath": name,
        "StartPos": round((START + timedelta(seconds=1)).timestamp() * 1000),
        "Duration": 1000,
        "storage_info": base64.b64encode(json.dumps(storage).encode()).decode(),
        "export_type": 0,
        "ExportS3Bucket": destination,
        "ExportS3Region": REGION,
        "ExportS3Key": key,
        "FileName": "out/clip.ts",
        **fields,
    }


def _poll(url: str, body: dict[str, Any], answers: list[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.post(f"{url}/export-to-s3dir", json=body, timeout=30)
        answers.append(answer.text)
        data: dict[str, Any] = answer.json()
        if data["ErrorCode"] != 1 or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def test_no_secret_in_the_database_the_logs_or_any_answer(
    server: RunningServer,
    s3_client: S3Client,
    s3_credentials: S3Credentials,
    s3_endpoint_url: str,
    archive_bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stub = server.stub()
    answers: list[str] = []
    url = server.http_url

    def record(message: Any) -> None:
        answers.append(str(message))

    # An archive clip read from S3 with the server's keys, downloaded over both APIs.
    clip = archive_clip(S3_CAMERA, START + timedelta(seconds=1), START + timedelta(seconds=2))
    clip_id = start_session(stub, clip)
    state = wait_completed(stub, clip_id)
    record(state)
    assert state.result.succeeded, state.error
    data, _ = download(stub, clip_id, state.result.files[0].path)
    assert data
    answers.append(
        httpx.get(
            f"{url}/api/v1/sessions/{clip_id}/files/{state.result.files[0].path}",
            headers={"Range": f"bytes={len(data)}-"},
        ).text
    )
    # Live clips of cameras that refuse or never answer: their errors name no URL.
    failed = []
    for origin in (REFUSING_CAMERA, SILENT_CAMERA):
        session = start_session(stub, live_clip(origin, 2))
        state = wait_completed(stub, session)
        record(state)
        assert not state.result.succeeded
        failed.append(state.error)
    # The same over HTTP, and errors of bad requests.
    body = json_format.MessageToDict(
        live_clip(REFUSING_CAMERA, 1), preserving_proto_field_name=True
    )
    answer = httpx.post(f"{url}/api/v1/sessions", json=body)
    answers.append(answer.text)
    session = answer.json()["session_id"]
    while True:
        answer = httpx.get(f"{url}/api/v1/sessions/{session}")
        answers.append(answer.text)
        if (
            answer.json()["state"]["state"] != "S_RUNNING"
            and answer.json()["state"]["state"] != "S_NONE"
        ):
            break
        time.sleep(0.1)
    for request in (spb.GetSessionStateRequest(session_id="nope"),):
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetSessionState(request)
        answers.append(caught.value.details())
    # export-to-s3dir: one with the caller's good key, one with a wrong secret.
    destination = make_bucket(s3_client, "secret-dest")
    good = S3Credentials(s3_credentials.access_key, s3_credentials.secret_key)
    ready = _poll(
        url,
        _s3dir_body(archive_bucket, destination, f"{good.access_key}:{good.secret_key}"),
        answers,
    )
    assert ready["ErrorCode"] == 5, ready
    bad = wrong_secret(s3_endpoint_url)
    refused = _poll(
        url,
        _s3dir_body(
            archive_bucket,
            destination,
            f"{bad.access_key}:{bad.secret_key}",
            FileName="out/other.ts",
        ),
        answers,
    )
    assert refused["ErrorCode"] == -6, refused
    # Listings, both APIs.
    for page in stub.ListSessions(spb.ListSessionsRequest(page_size=1000)):
        record(page)
    answers.append(httpx.get(f"{url}/api/v1/sessions").text)

    data_dir = Path(server.settings.server.data_dir)
    stored = _database_bytes(data_dir)
    logs = "\n".join(f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records)
    everything = {"answers": "\n".join(answers), "logs": logs}
    for secret in (
        s3_credentials.secret_key,
        bad.secret_key,
        CAMERA_PASSWORD,
        CAMERA_USER,
    ):
        for where, text in everything.items():
            assert secret not in text, f"{secret[:6]}… in the {where}"
        assert secret.encode() not in stored, f"{secret[:6]}… in the database"
    # The caller's SessionId authenticates: it is a secret too, never stored.
    assert CALLER.encode() not in stored
    assert failed[0] and failed[1]


def test_the_data_directory_is_owner_only(server: RunningServer) -> None:
    data_dir = Path(server.settings.server.data_dir)
    session = start_session(
        server.stub(),
        archive_clip(S3_CAMERA, START + timedelta(seconds=1), START + timedelta(seconds=2)),
    )
    assert wait_completed(server.stub(), session).result.succeeded
    made = [data_dir, *data_dir.rglob("*")]
    assert any(path.name == "vexport.db-wal" for path in made)
    assert any(path.is_file() and "results" in path.parts for path in made)
    for path in made:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(data_dir.parent)} is {oct(mode)}"
