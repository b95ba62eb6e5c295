"""Hostile and unlucky input over the real sockets: the documented code, never UNKNOWN or a 500.

Each case here broke a server once (issue 12): a time that could be stored
but not read back, a page token too big for the database's integer, bytes
that are no protobuf message, a 100 KB session id echoed into the status
(the client then saw RESOURCE_EXHAUSTED), JSON nested 100,000 deep, and a
row of the job table that one version wrote and another cannot read.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format

from tests.api.conftest import ARCHIVE_START, CAMERA, STORAGE, sources
from tests.api.harness import (
    RunningServer,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, archive_snapshot
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

S = grpc.StatusCode
CALLER = "hostile-caller"
BROKEN = "hosts/test/DeviceIpint.7/SourceEndpoint.video:0:0"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path
) -> Iterator[RunningServer]:
    broken = tmp_path_factory.mktemp("broken-archive")
    shutil.copytree(archive_playlist.parent, broken, dirs_exist_ok=True)
    sorted(broken.glob("*.ts"))[0].unlink()  # listed, but gone
    settings = make_settings(
        tmp_path_factory.mktemp("data"),
        sources=[
            *sources(archive_playlist),
            {
                "origin": BROKEN,
                "archives": [
                    {"storage": STORAGE, "url": (broken / archive_playlist.name).as_uri()}
                ],
            },
        ],
        export_to_s3dir={"session_ids": [CALLER], "archive_buckets": ["*"]},
    )
    with running_server(settings) as running:
        yield running


def _listed(server: RunningServer) -> tuple[set[str], set[str]]:
    stub = server.stub()
    grpc_ids = {
        info.session.id
        for page in stub.ListSessions(spb.ListSessionsRequest(page_size=1000))
        for info in page.sessions
    }
    answer = httpx.get(f"{server.http_url}/api/v1/sessions", params={"page_size": 1000})
    assert answer.status_code == 200, answer.text
    return grpc_ids, {info["session"]["id"] for info in answer.json()["sessions"]}


def _snapshot_at(text: str) -> pb.Options:
    options = archive_snapshot(CAMERA, ARCHIVE_START)
    options.archive.start_timestamp = text
    return options


def _clip_between(start: str, end: str) -> pb.Options:
    options = archive_clip(CAMERA, ARCHIVE_START, ARCHIVE_START + timedelta(seconds=1))
    options.archive.start_timestamp = start
    options.archive.end_timestamp = end
    return options


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (_snapshot_at("00010101T000000"), "session_options.archive.start_timestamp"),
        (
            _clip_between("9999-12-31T23:00:00-05:00", "9999-12-31T23:30:00-05:00"),
            "session_options.archive.start_timestamp",
        ),
        (
            _clip_between("99991229T000000", "9999-12-31T23:59:59-05:00"),
            "session_options.archive.end_timestamp",
        ),
    ],
)
def test_unrepresentable_times_are_refused_before_they_are_stored(
    server: RunningServer, options: pb.Options, field: str
) -> None:
    stub = server.stub()
    with pytest.raises(grpc.RpcError) as caught:
        start_session(stub, options)
    assert caught.value.code() == S.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}: ")
    assert "out of range" in caught.value.details()
    body = json_format.MessageToDict(options, preserving_proto_field_name=True)
    answer = httpx.post(f"{server.http_url}/api/v1/sessions", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == field
    _listed(server)  # and the listings still work


def test_a_row_this_version_cannot_read_never_breaks_a_listing(server: RunningServer) -> None:
    stub = server.stub()
    good = start_session(stub, archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=1)))
    database = Path(server.settings.server.data_dir) / "vexport.db"
    with sqlite3.connect(database) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        row = dict(
            zip(
                columns,
                db.execute("SELECT * FROM jobs WHERE id = ?", (good,)).fetchone(),
                strict=True,
            )
        )
        for bad_id, change in (
            ("bad-kind", {"kind": "from-a-newer-version"}),
            ("bad-options", {"options": b"\xff\xff\xff\xff\x0f"}),
            ("bad-state", {"state": 42}),
            ("bad-time", {"created_at": "the day after tomorrow"}),
        ):
            values = dict(row, id=bad_id, seq=None, fingerprint=None, **change)
            names = [name for name in columns if name != "seq"]
            db.execute(
                f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [values[name] for name in names],
            )
    grpc_ids, http_ids = _listed(server)
    assert good in grpc_ids and good in http_ids
    assert not {"bad-kind", "bad-state", "bad-time"} & (grpc_ids | http_ids)
    for bad_id in ("bad-kind", "bad-state", "bad-time"):
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetSessionState(spb.GetSessionStateRequest(session_id=bad_id))
        assert caught.value.code() == S.NOT_FOUND
        assert "DestroySession removes it" in caught.value.details()
    for bad_id in ("bad-kind", "bad-options", "bad-state"):
        stub.DestroySession(spb.DestroySessionRequest(session_id=bad_id))
    assert httpx.delete(f"{server.http_url}/api/v1/sessions/bad-time").status_code == 204
    with sqlite3.connect(database) as db:
        left = {r[0] for r in db.execute("SELECT id FROM jobs WHERE id LIKE 'bad-%'")}
    # The row with unreadable options is a readable job: destroyed the ordinary way.
    assert left <= {"bad-options"}
    assert good in _listed(server)[0]


def test_a_huge_page_token_is_invalid_argument(server: RunningServer) -> None:
    token = base64.urlsafe_b64encode(b"v1:" + b"9" * 40).decode()
    with pytest.raises(grpc.RpcError) as caught:
        list(server.stub().ListSessions(spb.ListSessionsRequest(page_token=token)))
    assert caught.value.code() == S.INVALID_ARGUMENT
    assert caught.value.details().startswith("page_token: ")
    answer = httpx.get(f"{server.http_url}/api/v1/sessions", params={"page_token": token})
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "page_token"


@pytest.mark.parametrize(
    "method",
    [
        "StartSession",
        "GetSessionState",
        "StopSession",
        "DestroySession",
        "ListSessions",
        "DownloadFile",
    ],
)
def test_bytes_that_are_no_message_are_invalid_argument(server: RunningServer, method: str) -> None:
    channel = server.channel()
    path = f"/axxonsoft.bl.mmexport.ExportService/{method}"
    call = (
        channel.unary_stream(path)
        if method in ("ListSessions", "DownloadFile")
        else channel.unary_unary(path)
    )
    with pytest.raises(grpc.RpcError) as caught:
        answer = call(b"\xff\xff\xff\xff\x0f\x01")
        if method in ("ListSessions", "DownloadFile"):
            list(answer)
    assert caught.value.code() == S.INVALID_ARGUMENT
    assert "not a valid" in caught.value.details()
    assert "Error parsing" not in caught.value.details()  # no protobuf exception text


def test_a_huge_session_id_is_not_found_and_not_echoed_whole(server: RunningServer) -> None:
    huge = "x" * 100_000
    stub = server.stub()
    calls = (
        lambda: stub.GetSessionState(spb.GetSessionStateRequest(session_id=huge)),
        lambda: stub.StopSession(spb.StopSessionRequest(session_id=huge)),
        lambda: stub.DestroySession(spb.DestroySessionRequest(session_id=huge)),
        lambda: list(stub.DownloadFile(spb.DownloadFileRequest(session_id=huge, file_path=huge))),
    )
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == S.NOT_FOUND, caught.value.details()[:200]
        assert len(caught.value.details()) < 200
    answer = httpx.get(f"{server.http_url}/api/v1/sessions/{'x' * 60_000}")
    assert answer.status_code == 404
    assert len(answer.json()["error"]["message"]) < 200


def test_json_nested_100000_deep_gets_a_contract_answer(server: RunningServer) -> None:
    body = "[" * 100_000 + "]" * 100_000
    answer = httpx.post(
        f"{server.http_url}/export-to-s3dir",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.json()["ErrorCode"] == -1
    answer = httpx.post(
        f"{server.http_url}/api/v1/sessions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"Duration": True}, "Duration"),
        ({"export_type": "1"}, "export_type"),
        ({"StartPos": 253_402_127_999_000, "Duration": 1500}, "Duration"),
    ],
)
def test_export_to_s3dir_numbers_are_strict(
    server: RunningServer, fields: dict[str, object], field: str
) -> None:
    storage = [{"storage_purpose": "ts", "storage_type": "S3", "storage_name": "archive"}]
    body = {
        "SessionId": CALLER,
        "LivePath": "cam/index.m3u8",
        "StartPos": 1_772_359_200_500,
        "Duration": 1500,
        "storage_info": base64.b64encode(json.dumps(storage).encode()).decode(),
        "export_type": 0,
        "ExportS3Bucket": "dest",
        "ExportS3Key": "AK:SECRET",
        **fields,
    }
    answer = httpx.post(f"{server.http_url}/export-to-s3dir", json=body)
    assert answer.status_code == 200
    assert answer.json()["ErrorCode"] == -1
    assert answer.json()["ErrorMessage"].startswith(f"{field}: ")


def test_a_failed_export_names_the_segment_not_where_the_archive_lives(
    server: RunningServer,
) -> None:
    stub = server.stub()
    options = archive_clip(BROKEN, ARCHIVE_START, ARCHIVE_START + timedelta(seconds=1))
    state = wait_completed(stub, start_session(stub, options))
    assert not state.result.succeeded
    assert "seg00000.ts" in state.error, state.error
    assert "file:" not in state.error and "/tmp" not in state.error, state.error
