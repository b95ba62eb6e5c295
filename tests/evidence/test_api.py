"""Signed manifests through the API: result files with their hashes, keys, verification."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from tests.api.conftest import ARCHIVE_SECONDS, ARCHIVE_START, CAMERA, LIVE, STORAGE
from tests.api.harness import (
    RunningServer,
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip, archive_snapshot, live_clip
from tests.media_fixtures import make_hls_archive
from vexport.cli import app
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb


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
            {
                "origin": CAMERA,
                "archives": [{"storage": STORAGE, "url": archive_playlist.as_uri()}],
            },
            {"origin": LIVE, "live": "lavfi:testsrc2=size=320x180:rate=25"},
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
        assert next(k["key_id"] for k in keys["keys"]) == keys["current"]
        verification = client.get(f"/api/v1/sessions/{session}/verification")
        assert verification.status_code == 200
        report = verification.json()
        assert report["ok"] is True
        assert {f["status"] for f in report["files"]} == {"verified"}
        checked = client.get(f"/api/v1/sessions/{session}/verification?archive=true").json()
        assert checked["ok"] is True, checked
        (clip_verdict,) = [f for f in checked["files"] if f["name"] == clip["name"]]
        assert clip_verdict["archive"]["ok"] is True
        assert (
            "copied video packets identical to the recording" in (clip_verdict["archive"]["detail"])
        )
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


def _clip_options(**settings: bool) -> pb.Options:
    start = ARCHIVE_START + timedelta(seconds=3.3)
    options = archive_clip(CAMERA, start, start + timedelta(seconds=2), pb.StreamType.MP4)
    for name, value in settings.items():
        options.settings.add(**{name: value})
    return options


def test_an_evidence_package_holds_the_files_and_verifies(
    signing_server: RunningServer, tmp_path: Path
) -> None:
    stub = signing_server.stub()
    session = start_session(stub, _clip_options(evidence_package=True))
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    names = [f.path for f in state.result.files]
    assert names[-1] == "export.evidence.zip"
    package = tmp_path / "export.evidence.zip"
    package.write_bytes(download(stub, session, names[-1])[0])
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == sorted([*names[:-1], "public-key.pem", "README.txt"])
        readme = archive.read("README.txt").decode()
    assert "vexport verify export.evidence.zip" in readme
    result = CliRunner().invoke(app, ["verify", str(package)])
    assert result.exit_code == 0, result.output


def test_a_password_encrypts_the_package_with_aes_256(
    signing_server: RunningServer, tmp_path: Path
) -> None:
    password = "correct horse battery staple"
    options = _clip_options(evidence_package=True)
    options.stream.settings.add(password=password)
    stub = signing_server.stub()
    session = start_session(stub, options)
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    (file,) = state.result.files  # the files are not downloadable in the clear
    assert file.path == "export.evidence.zip"
    package = tmp_path / file.path
    package.write_bytes(download(stub, session, file.path)[0])
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            assert info.flag_bits & 0x1, f"{info.filename} is not encrypted"
            assert info.compress_type == 99  # WinZip AES
            assert b"\x01\x99" in info.extra  # the AES extra field: 0x9901
            assert info.extra[info.extra.index(b"\x01\x99") + 8] == 3  # strength 3: AES-256
    if shutil.which("7z"):  # 7-Zip opens it with the password, and not without
        out = tmp_path / "7z"
        opened = subprocess.run(
            ["7z", "x", f"-p{password}", f"-o{out}", str(package)], capture_output=True
        )
        assert opened.returncode == 0, opened.stderr
        assert (out / "export.manifest.json").exists()
        wrong = subprocess.run(["7z", "t", "-pwrong", str(package)], capture_output=True, text=True)
        assert wrong.returncode != 0
    denied = CliRunner().invoke(app, ["verify", str(package)])
    assert denied.exit_code != 0
    result = CliRunner().invoke(app, ["verify", str(package), "--password", password])
    assert result.exit_code == 0, result.output
    # The password is in no row and no listing.
    listed = list(stub.ListSessions(spb.ListSessionsRequest()))
    assert password.encode() not in b"".join(p.SerializeToString() for p in listed)
    rows = list(signing_server.settings.server.data_dir.glob("vexport.db*"))
    assert rows
    for path in rows:
        assert password.encode() not in path.read_bytes()


def test_a_password_without_a_package_is_refused(signing_server: RunningServer) -> None:
    options = _clip_options()
    options.stream.settings.add(password="secret")
    with pytest.raises(grpc.RpcError) as refused:
        start_session(signing_server.stub(), options)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "session_options.stream.settings[0].password" in (refused.value.details() or "")
    assert "evidence_package" in (refused.value.details() or "")


def test_an_evidence_lock_keeps_the_session_past_retention_until_unlocked(
    signing_server: RunningServer,
) -> None:
    stub = signing_server.stub()
    session = start_session(stub, _clip_options(evidence_lock=True))
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    assert state.evidence_locked
    assert signing_server.app is not None
    store = signing_server.app.service.store
    later = datetime.now(UTC) + timedelta(days=365)
    assert session not in [d.id for d in store.retention_due(before=later)]
    with pytest.raises(grpc.RpcError) as refused:
        stub.DestroySession(spb.DestroySessionRequest(session_id=session))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "locked as evidence" in (refused.value.details() or "")
    with httpx.Client(base_url=signing_server.http_url) as client:
        unlocked = client.delete(f"/api/v1/sessions/{session}/evidence-lock")
        assert unlocked.json() == {"session_id": session, "evidence_locked": False}
        assert session in [d.id for d in store.retention_due(before=later)]
        locked = client.put(f"/api/v1/sessions/{session}/evidence-lock")
        assert locked.json()["evidence_locked"] is True
        client.delete(f"/api/v1/sessions/{session}/evidence-lock")
        assert client.put("/api/v1/sessions/nope/evidence-lock").status_code == 404
    stub.DestroySession(spb.DestroySessionRequest(session_id=session))


def test_a_live_clip_is_signed_without_archive_segments(
    signing_server: RunningServer, tmp_path: Path
) -> None:
    stub = signing_server.stub()
    session = start_session(stub, live_clip(LIVE, 1))
    state = wait_completed(stub, session)
    assert state.result.succeeded, state.error
    for file in state.result.files:
        (tmp_path / file.path).write_bytes(download(stub, session, file.path)[0])
    manifest = json.loads((tmp_path / "export.manifest.json").read_text())
    assert manifest["sources"] == [{"origin": LIVE, "storage": None, "kind": "live"}]
    (clip,) = manifest["files"]
    assert {r["kind"] for r in clip["packets"]} == {"unsourced"}
    assert "lavfi" not in json.dumps(manifest["request"])
    result = CliRunner().invoke(app, ["verify", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_a_session_downloaded_by_the_client_command_verifies(
    signing_server: RunningServer, tmp_path: Path
) -> None:
    """`vexport client start --out` saves a session in a folder of its own, with the names
    the manifest lists: the folder verifies as downloaded, and a changed byte does not."""
    args = ["client", "start", "--origin", CAMERA, "--from", "20260101T120001",
            "--to", "20260101T120003", "--out", str(tmp_path),
            "--server", signing_server.address]  # fmt: skip
    started = CliRunner().invoke(app, args)
    assert started.exit_code == 0, started.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (folder / "export.manifest.json").exists()
    result = CliRunner().invoke(app, ["verify", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("VERIFIED")
    (clip,) = folder.glob("*.mp4")
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0xFF
    clip.write_bytes(bytes(data))
    tampered = CliRunner().invoke(app, ["verify", str(folder)])
    assert tampered.exit_code != 0
    assert "modified" in tampered.output
