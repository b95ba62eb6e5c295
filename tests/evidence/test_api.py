"""Signed manifests through the API: result files with their hashes, keys, verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.api.conftest import ARCHIVE_SECONDS, ARCHIVE_START, CAMERA, STORAGE
from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, archive_snapshot
from tests.media_fixtures import make_hls_archive
from vexport.cli import app
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb


@pytest.fixture(scope="module")
def archive_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hls_archive(tmp_path_factory.mktemp("archive"), ARCHIVE_START, ARCHIVE_SECONDS)


@pytest.fixture(scope="module")
def signing_server(
    tmp_path_factory: pytest.TempPathFactory, archive_playlist: Path
) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("data")
    settings = make_settings(
        data,
        sources=[
            {"origin": CAMERA, "archives": [{"storage": STORAGE, "url": archive_playlist.as_uri()}]}
        ],
        evidence={"manifest": True},
    )
    with running_server(settings) as running:
        yield running


def test_every_session_has_a_signed_manifest_among_its_files(
    signing_server: RunningServer, tmp_path: Path
) -> None:
    stub = signing_server.stub()
    start = ARCHIVE_START + timedelta(seconds=3.3)
    session = start_session(
        stub, archive_clip(CAMERA, start, start + timedelta(seconds=2), pb.StreamType.MP4)
    )
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    names = [f.path for f in state.result.files]
    assert names[-2:] == ["export.manifest.json", "export.manifest.sig"]
    for file in state.result.files:
        data, _ = download(stub, session, file.path)
        assert hashlib.sha256(data).hexdigest() == file.sha256  # the manifest's hash is on the wire
        (tmp_path / file.path).write_bytes(data)
    manifest = json.loads((tmp_path / "export.manifest.json").read_text())
    assert manifest["session"]["id"] == session
    assert manifest["requested_by"] is None
    assert manifest["exporter"]["name"] == "vexport"
    (clip,) = manifest["files"]
    assert clip["sha256"] == state.result.files[0].sha256
    assert manifest["sources"][0]["storage"] == STORAGE
    assert manifest["sources"][0]["archive"]["manifest"]["name"] == "index.m3u8"
    assert "file://" not in json.dumps(manifest)  # segments named relative to the archive

    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("VERIFIED")

    with httpx.Client(base_url=signing_server.http_url) as client:
        keys = client.get("/api/v1/evidence/keys").json()
        signature = json.loads((tmp_path / "export.manifest.sig").read_text())
        assert signature["key_id"] == keys["current"]
        assert [k["key_id"] for k in keys["keys"]][0] == keys["current"]
        verification = client.get(f"/api/v1/sessions/{session}/verification")
        assert verification.status_code == 200
        report = verification.json()
        assert report["ok"] is True
        assert {f["status"] for f in report["files"]} == {"verified"}
        unknown = client.get("/api/v1/sessions/nope/verification")
        assert unknown.status_code == 404
        assert "nope" in unknown.json()["error"]["message"]


def test_a_snapshot_session_is_signed_too(signing_server: RunningServer) -> None:
    stub = signing_server.stub()
    session = start_session(stub, archive_snapshot(CAMERA, ARCHIVE_START + timedelta(seconds=5)))
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    assert [f.mime_type for f in state.result.files] == [
        "image/jpeg",
        "application/vnd.vexport.manifest+json",
        "application/vnd.vexport.signature+json",
    ]
